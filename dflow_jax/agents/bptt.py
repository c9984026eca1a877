"""Back-propagation through the whole ODE: the policy-improvement baseline Decision Flow avoids.

The flow policy u_theta is improved by maximising the critic's value of the action it finishes,
with the gradient carried back through every solver step of the `lax.scan`, plus the same
flow-matching regulariser as DF-dir. Decision Flow instead stops the gradient at every flow state
and learns a flow value; this loss is what that buys against (time and memory per update grow
with T here, and the gradient is a product of T Jacobians).

It uses the same units as Decision Flow: R~ = (Q(s, clip(x_T)) - b(s)) / sigma, so alpha and
lambda_dir mean the same as in DF-dir.
"""
import jax
import jax.numpy as jnp

from dflow_jax import flow
from dflow_jax.agents import decision_flow
from dflow_jax.agents.common import Appliers, minimize
from dflow_jax.agents.variant import Variant
from dflow_jax.config import AgentConfig


def finished_action(cfg: AgentConfig, apply: Appliers, policy_params, observations, key):
  """x_T of u_theta from fresh noise, differentiable in policy_params through the whole scan."""
  velocity = lambda x, t: apply.velocity(policy_params, observations, x, t)
  return flow.from_noise(velocity, key, observations.shape[:-1], apply.action_dim, cfg.flow_steps,
                         cfg.solver, cfg.scan_unroll, cfg.bptt_remat).xs[-1]


def policy_loss(cfg: AgentConfig, apply: Appliers, policy_params, critic_params, value_params,
                batch, noise_key, fm_key):
  """L(theta) = lambda_dir * L_FM(u_theta) - alpha * E[R~(s, x_T(theta))].

  The critic, the baseline and the scale are stop-gradient (`finished_value`, `normalizer`); the
  gradient reaches theta only through x_T. The clip to [-1, 1] passes no gradient for an action
  coordinate outside the box, as for every Decision Flow value of a finished action.
  """
  s = batch.observations
  x_final = finished_action(cfg, apply, policy_params, s, noise_key)
  R = decision_flow.finished_value(cfg, apply, critic_params, s, x_final)
  baseline, scale = decision_flow.normalizer(cfg, apply, value_params, s,
                                             jax.lax.stop_gradient(R))
  value_term = jnp.mean((R - baseline) / scale)
  fm = decision_flow.regularizer(apply, policy_params, batch, fm_key)
  loss = cfg.lambda_dir * fm - cfg.alpha * value_term
  return loss, {'policy/fm_loss': fm, 'policy/value_term': value_term,
                'df/R_mean': jnp.mean(R), 'df/value_scale': scale}


class ThroughTheODE(Variant):
  improves_against_critic = True
  reports_divergence = True

  def update(self, agent, state, batch):
    """The critic's step, then u_theta's step through the whole ODE."""
    batch = agent.normalized(state, batch)
    rng, noise_key, fm_key = jax.random.split(state.rng, 3)
    state, critic_info = agent.update_critic(state.replace(rng=rng), batch, noise_key)
    policy, policy_info = minimize(
        lambda p: policy_loss(agent.cfg, agent.apply, p, state.critic.params, state.value.params,
                              batch, noise_key, fm_key),
        state.policy, agent.optimizer)
    return agent.with_policy(state.replace(step=state.step + 1), policy), \
        {**critic_info, **policy_info}


VARIANT = ThroughTheODE()
