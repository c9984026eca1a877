"""Flow Q-learning (Park, Li and Levine, 2025) as a baseline: a one-step policy distilled from
the behaviour flow and pushed up a TD critic of its own actions.

The one-step policy mu(s, z) maps a noise z ~ N(0, I) straight to an action. It is the velocity
network read at t = 0 (an MLP of (s, z) and a constant time code), so it lives in the agent's
`policy` slot and its EMA, with no new checkpoint fields. Its loss is

  alpha * mean |mu(s, z) - clip(x_T^nu(s, z))|^2  -  mean Q(s, clip(mu(s, z))) / mean |Q|,

with the distillation averaged over action dimensions as FQL does, so FQL's published alpha values
carry over, and the Q term always normalised by mean |Q| (FQL's `normalize_q_loss`). The critic
learns by TD on the one-step policy's own next actions, not by IQL; the behaviour flow keeps
training by flow matching beside them, as in FQL, where all three train together.
"""
import jax
import jax.numpy as jnp

from dflow_jax import flow
from dflow_jax.agents.common import Appliers, minimize, polyak
from dflow_jax.agents.iql import aggregate
from dflow_jax.agents.variant import Variant
from dflow_jax.config import AgentConfig

_EPS = 1e-6


def one_step_action(apply: Appliers, policy_params, observations, noise):
  """mu(s, z), unclipped: the velocity network at t = 0 read as a map from noise to action."""
  return apply.velocity(policy_params, observations, noise, jnp.zeros(noise.shape[:-1]))


def sample_one_step(apply: Appliers, policy_params, observations, key):
  noise = jax.random.normal(key, observations.shape[:-1] + (apply.action_dim,))
  return jnp.clip(one_step_action(apply, policy_params, observations, noise), -1.0, 1.0)


def critic_loss(cfg: AgentConfig, apply: Appliers, critic_params, critic_target_params,
                policy_params, batch, key):
  """L_Q = E[(r + gamma (1 - terminal) Q_target(s', clip(mu(s', z'))) - Q_i(s, a))^2], summed
  over heads as the IQL critic's is; the target network and the policy are stop-gradient."""
  next_actions = sample_one_step(apply, jax.lax.stop_gradient(policy_params),
                                 batch.next_observations, key)
  next_q = aggregate(apply.critic(jax.lax.stop_gradient(critic_target_params),
                                  batch.next_observations, next_actions), cfg.q_agg)
  target = jax.lax.stop_gradient(
      batch.rewards + cfg.discount * (1.0 - batch.terminals) * next_q)
  q = apply.critic(critic_params, batch.observations, batch.actions)
  loss = jnp.mean(jnp.sum((q - target) ** 2, axis=0))
  return loss, {'critic/q_loss': loss, 'critic/q_mean': jnp.mean(q)}


def policy_loss(cfg: AgentConfig, apply: Appliers, policy_params, behavior_params, critic_params,
                batch, key):
  """The one-step policy's loss (module docstring); behaviour flow and critic stop-gradient."""
  s = batch.observations
  noise = jax.random.normal(key, s.shape[:-1] + (apply.action_dim,))
  behavior = jax.lax.stop_gradient(behavior_params)
  flow_actions = flow.integrate(lambda x, t: apply.velocity(behavior, s, x, t), noise,
                                cfg.flow_steps, cfg.solver, cfg.scan_unroll).xs[-1]
  target = jax.lax.stop_gradient(jnp.clip(flow_actions, -1.0, 1.0))
  actions = one_step_action(apply, policy_params, s, noise)
  distill = jnp.mean((actions - target) ** 2)
  # FQL's actor reads the mean of the critic heads, whatever q_agg the TD target uses.
  q = jnp.mean(apply.critic(jax.lax.stop_gradient(critic_params), s,
                            jnp.clip(actions, -1.0, 1.0)), axis=0)
  scale = jax.lax.stop_gradient(jnp.mean(jnp.abs(q))) + _EPS
  value_term = jnp.mean(q) / scale
  loss = cfg.alpha * distill - value_term
  return loss, {'policy/distill_loss': distill, 'policy/value_term': value_term,
                'df/value_scale': scale}


class FlowQLearning(Variant):

  def start(self, agent, state):
    """The one-step policy is another kind of map (noise to action) than u_nu, so it keeps its
    own initialisation."""
    return state.replace(policy_ema=state.policy.params, policy_updates=jnp.zeros((), jnp.int32))

  def update(self, agent, state, batch):
    """FQL's three losses, each read at the parameters before this update, as FQL's one joint
    step reads them: behaviour flow, TD critic, one-step policy."""
    cfg = agent.cfg
    batch = agent.normalized(state, batch)
    rng, flow_key, critic_key, policy_key = jax.random.split(state.rng, 4)
    policy, policy_info = minimize(
        lambda p: policy_loss(cfg, agent.apply, p, state.behavior_ema, state.critic.params,
                              batch, policy_key),
        state.policy, agent.optimizer)
    critic, critic_info = minimize(
        lambda p: critic_loss(cfg, agent.apply, p, state.critic_target, state.policy.params,
                              batch, critic_key),
        state.critic, agent.optimizer)
    state, flow_info = agent.update_behavior_flow(state.replace(rng=rng), batch, flow_key)
    state = state.replace(critic=critic, step=state.step + 1,
                          critic_target=polyak(state.critic_target, critic.params, cfg.tau))
    return agent.with_policy(state, policy), {**flow_info, **critic_info, **policy_info}

  def sample(self, agent, params, observations, key):
    return sample_one_step(agent.apply, params, observations, key)


VARIANT = FlowQLearning()
