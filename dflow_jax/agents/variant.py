"""What a training variant adds to the agent (agents/agent.py), and the defaults most share.

The agent owns the state, the networks, the IQL critic, the behaviour flow and acting; a variant
says how the policy starts, warms up and improves in the second phase, and how it acts. Each
variant lives in a file of its own (bc, dir, div, bptt, fql); `agents/registry.py` names them.
Every method is pure and written for one seed.
"""
import jax.numpy as jnp

from dflow_jax.agents.common import new_net


class Variant:
  # The critic's policy-aware terms (`policy_bootstrap`, `critic_pessimism`) apply: the policy
  # is a flow improved against the IQL critic.
  improves_against_critic = False
  # It trains a flow value (V^f or V^chi), so `flow_reversal` applies.
  has_flow_value = False
  # Its acting policy is a flow apart from u_nu, whose path divergence from u_nu is reported.
  reports_divergence = False

  def start(self, agent, state):
    """u_theta starts as a copy of the (now frozen) u_nu, with a fresh optimiser."""
    return state.replace(policy=new_net(state.behavior_ema, agent.optimizer),
                         policy_ema=state.behavior_ema,
                         policy_updates=jnp.zeros((), jnp.int32))

  def warm_up(self, agent, state, batch):
    """`flow_value_warmup`'s updates; with no flow value to warm up, the critic alone trains."""
    return agent.update_critic_only(state, batch)

  def update(self, agent, state, batch):
    raise NotImplementedError

  def acting_params(self, state):
    return state.policy_ema

  def sample(self, agent, params, observations, key):
    """Actions of the acting policy `params` at normalised observations [n, B, obs]."""
    return agent.flow_sample(params, observations, key)
