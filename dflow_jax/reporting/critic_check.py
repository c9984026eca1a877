"""How well the critic knows the data: Q(s, a) against the dataset's Monte Carlo returns.

Per seed, Q(s, a) is compared with the discounted return that followed (s, a) in the dataset.
A critic that does not track these returns cannot guide a policy, whatever the policy loss."""
import jax
import jax.numpy as jnp
import numpy as np

from dflow_jax import train
from dflow_jax.agents.iql import aggregate


def monte_carlo_returns(rewards, terminals, timeouts, discount: float):
  """Discounted return from each transition to its episode's end, and the steps left to it.

  Episodes end at a terminal (nothing follows) or a timeout (the data stops; the return is cut
  there, so it is biased low by about discount ** steps_left). Host-side numpy, one pass.
  """
  rewards = np.asarray(rewards, np.float64)
  ends = (np.asarray(terminals) > 0) | (np.asarray(timeouts) > 0)
  ends[-1] = True
  returns, steps_left = np.zeros_like(rewards), np.zeros(len(rewards), np.int64)
  following, left = 0.0, 0
  for i in range(len(rewards) - 1, -1, -1):
    if ends[i]:
      following, left = 0.0, 0
    following = rewards[i] + discount * following
    left += 1
    returns[i], steps_left[i] = following, left
  return returns, steps_left


def q_against_returns(agent, states, dataset, discount: float, num: int = 4096, seed: int = 0):
  """Per seed: the Pearson correlation of Q(s, a) with the Monte Carlo return, their means, and
  how many transitions were used. Transitions are drawn where the return is not cut short: the
  episode ended in a terminal, or at least log(0.01) / log(discount) steps remain."""
  returns, steps_left = monte_carlo_returns(dataset.rewards, dataset.terminals, dataset.timeouts,
                                            discount)
  terminal_end = _ends_in_terminal(np.asarray(dataset.terminals), np.asarray(dataset.timeouts))
  horizon = int(np.ceil(np.log(0.01) / np.log(discount))) if discount < 1 else len(returns)
  usable = np.flatnonzero(terminal_end | (steps_left >= horizon))
  if usable.size == 0:
    return None
  picked = np.random.default_rng(seed).choice(usable, size=min(num, usable.size), replace=False)
  count = int(np.shape(states.step)[0])
  observations = np.broadcast_to(np.asarray(dataset.observations)[picked],
                                 (count, picked.size, dataset.observations.shape[-1]))
  actions = np.broadcast_to(np.asarray(dataset.actions)[picked],
                            (count, picked.size, dataset.actions.shape[-1]))
  q = np.asarray(q_values(agent, states, observations, actions))  # [S, n]
  mc = returns[picked]
  correlation = [float(np.corrcoef(q_seed, mc)[0, 1]) for q_seed in q]
  return {'correlation': np.array(correlation), 'q_mean': q.mean(axis=1),
          'return_mean': float(mc.mean()), 'transitions': int(picked.size)}


def q_values(agent, states, observations, actions):
  """Each seed's Q(s, a) of its own raw observations and actions: [S, n, .] -> [S, n]."""
  def per_seed(state, obs, act):
    s = state.observation_stats.normalize(obs)
    return aggregate(agent.critic_net.apply(state.critic.params, s, act), agent.cfg.q_agg)
  return jax.jit(train.over_seeds(per_seed, agent.seeds_per_vmap))(
      states, jnp.asarray(observations), jnp.asarray(actions))


def _ends_in_terminal(terminals, timeouts):
  """For each transition, whether its episode ends with a terminal (not a timeout)."""
  out = np.zeros(len(terminals), bool)
  ending_terminal = True
  for i in range(len(terminals) - 1, -1, -1):
    if terminals[i] > 0 or timeouts[i] > 0 or i == len(terminals) - 1:
      ending_terminal = bool(terminals[i] > 0)
    out[i] = ending_terminal
  return out
