"""The ordinary critic, trained with IQL (expectile value, TD critic).

By default it never reads the policy. `policy_bootstrap` > 0 mixes the policy's own next action
into the TD target (`critic_loss`), turning the critic towards the values of the policy it steers.
"""
import jax
import jax.numpy as jnp


def expectile_loss(diff, expectile):
  weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
  return weight * diff ** 2


def aggregate(q_heads, how: str):
  return jnp.min(q_heads, axis=0) if how == 'min' else jnp.mean(q_heads, axis=0)


def value_loss(value_apply, critic_apply, value_params, critic_target_params, batch,
               expectile, q_agg):
  """L_V = E[ L2_expectile( Q_target(s, a) - V(s) ) ]."""
  q = aggregate(critic_apply(jax.lax.stop_gradient(critic_target_params),
                             batch.observations, batch.actions), q_agg)
  v = value_apply(value_params, batch.observations)
  loss = jnp.mean(expectile_loss(q - v, expectile))
  return loss, {'critic/value_loss': loss, 'critic/v_mean': jnp.mean(v)}


def critic_loss(critic_apply, value_apply, critic_params, value_params, batch, discount,
                policy_next_q=None, policy_bootstrap=0.0, policy_actions=None, pessimism=0.0):
  """L_Q = E[ (r + gamma (1 - terminal) y(s') - Q_i(s, a))^2 ], summed over heads, with
  y(s') = (1 - beta) V(s') + beta Q_target(s', a'_pi) and beta = `policy_bootstrap`.

  beta = 0 is IQL's in-sample target V(s') (`policy_next_q` may then be None). beta = 1
  bootstraps from the critic's target value of the policy's own next action a'_pi, as
  actor-critic methods such as TD3+BC and FQL do: Q then evaluates the policy being improved
  rather than the expectile of the data's actions. Every input of the target is stop-gradient.

  With `policy_actions` (the policy's actions at s, stop-gradient) the loss adds `pessimism`
  times sigma E[Q_i(s, a_pi) - Q_i(s, a)], summed over heads: it pushes Q down on the policy's
  actions and up on the data's by the same amount, so it cancels where the policy acts like the
  data and lowers Q only where the policy's actions leave it (CQL's gap, with the policy's own
  samples in place of a log-sum-exp). sigma = E|Q(s, a) - V(s)| (stop-gradient), the data's mean
  absolute advantage, puts the weight in the value term's units: relative to their TD targets,
  an action only the policy takes ends `pessimism` sigmas below one only the data takes.
  """
  next_v = value_apply(jax.lax.stop_gradient(value_params), batch.next_observations)
  if policy_next_q is not None:
    next_v = (1.0 - policy_bootstrap) * next_v + policy_bootstrap * policy_next_q
  target = jax.lax.stop_gradient(batch.rewards + discount * (1.0 - batch.terminals) * next_v)
  q = critic_apply(critic_params, batch.observations, batch.actions)
  loss = jnp.mean(jnp.sum((q - target) ** 2, axis=0))
  info = {'critic/q_loss': loss, 'critic/q_mean': jnp.mean(q)}
  if policy_actions is None:
    return loss, info
  q_policy = critic_apply(critic_params, batch.observations,
                          jax.lax.stop_gradient(policy_actions))
  gap = jnp.mean(jnp.sum(q_policy - q, axis=0))
  v = value_apply(jax.lax.stop_gradient(value_params), batch.observations)
  sigma = jax.lax.stop_gradient(jnp.mean(jnp.abs(jnp.mean(q, axis=0) - v)))
  return loss + pessimism * sigma * gap, {**info, 'critic/policy_gap': gap / q.shape[0],
                                          'critic/advantage_scale': sigma}
