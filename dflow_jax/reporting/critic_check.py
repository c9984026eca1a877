"""How well the critic knows the data: Q(s, a) against the dataset's Monte Carlo returns.

Per seed, Q(s, a) is compared with the discounted return that followed (s, a) in the dataset,
and the critic's advantage Q(s, a) - V(s) with the advantage that followed, G - V(s): the second
asks whether the critic ranks the data's actions at a state, which is all a policy improved
against it reads. A critic that does not track these returns cannot guide a policy, whatever
the policy loss."""
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
  how many transitions were used; None where no return is uncut. Transitions are drawn where the
  return is not cut short: the episode ended in a terminal, or at least log(0.01) /
  log(discount) steps remain."""
  returns, steps_left = monte_carlo_returns(dataset.rewards, dataset.terminals, dataset.timeouts,
                                            discount)
  terminal_end = _ends_in_terminal(np.asarray(dataset.terminals), np.asarray(dataset.timeouts))
  horizon = int(np.ceil(np.log(0.01) / np.log(discount))) if discount < 1 else len(returns)
  usable = np.flatnonzero(terminal_end | (steps_left >= horizon))
  if usable.size == 0:
    return None
  picked = np.random.default_rng(seed).choice(usable, size=min(num, usable.size), replace=False)
  q = np.asarray(q_values(agent, states, *_per_seed(states, dataset, picked)))  # [S, n]
  mc = returns[picked]
  correlation = [float(np.corrcoef(q_seed, mc)[0, 1]) for q_seed in q]
  return {'correlation': np.array(correlation), 'q_mean': q.mean(axis=1),
          'return_mean': float(mc.mean()), 'transitions': int(picked.size)}


def advantage_against_returns(agent, states, dataset, discount: float, num: int = 4096,
                              seed: int = 0):
  """Per seed: the Pearson correlation of the critic's advantage Q(s, a) - V(s) with the one that
  followed, G - V(s), over `num` transitions drawn from the whole dataset. G is the Monte Carlo
  return, completed at a timeout by discount ** steps_left times V at the state where the data
  stops (so every transition counts, also where every episode is cut). Near 0 or below, the
  critic cannot tell the data's better actions from its worse ones."""
  terminals, timeouts = np.asarray(dataset.terminals), np.asarray(dataset.timeouts)
  returns, steps_left = monte_carlo_returns(dataset.rewards, terminals, timeouts, discount)
  last = episode_last_index(terminals, timeouts)
  picked = np.random.default_rng(seed).choice(len(returns), size=min(num, len(returns)),
                                              replace=False)
  observations, actions = _per_seed(states, dataset, picked)
  cut = (terminals[last[picked]] == 0).astype(np.float64)  # the data stops; the episode does not
  last_states = np.broadcast_to(np.asarray(dataset.next_observations)[last[picked]],
                                observations.shape)
  q = np.asarray(q_values(agent, states, observations, actions), np.float64)
  v = np.asarray(state_values(agent, states, observations), np.float64)
  v_last = np.asarray(state_values(agent, states, last_states), np.float64)
  followed = returns[picked] + discount ** steps_left[picked] * cut * v_last - v  # [S, n]
  correlation = [float(np.corrcoef(a_q, a_g)[0, 1]) for a_q, a_g in zip(q - v, followed,
                                                                        strict=True)]
  return {'correlation': np.array(correlation), 'advantage_mean': np.abs(q - v).mean(axis=1),
          'transitions': int(picked.size)}


def _per_seed(states, dataset, picked):
  """The picked transitions' observations and actions, one copy per seed: [S, n, .]."""
  count = int(np.shape(states.step)[0])
  observations = np.asarray(dataset.observations)[picked]
  actions = np.asarray(dataset.actions)[picked]
  return (np.broadcast_to(observations, (count,) + observations.shape),
          np.broadcast_to(actions, (count,) + actions.shape))


def state_values(agent, states, observations):
  """Each seed's V(s) of its own raw observations: [S, n, obs_dim] -> [S, n]."""
  def per_seed(state, obs):
    s = state.observation_stats.normalize(obs)
    return agent.value_net.apply(state.value.params, s).reshape(obs.shape[0])
  return jax.jit(train.over_seeds(per_seed, agent.seeds_per_vmap))(states, jnp.asarray(observations))


def q_values(agent, states, observations, actions):
  """Each seed's Q(s, a) of its own raw observations and actions: [S, n, .] -> [S, n]."""
  def per_seed(state, obs, act):
    s = state.observation_stats.normalize(obs)
    return aggregate(agent.critic_net.apply(state.critic.params, s, act), agent.cfg.q_agg)
  return jax.jit(train.over_seeds(per_seed, agent.seeds_per_vmap))(
      states, jnp.asarray(observations), jnp.asarray(actions))


def episode_last_index(terminals, timeouts):
  """For each transition, the index of its episode's last transition (a terminal, a timeout or
  the end of the data)."""
  out = np.zeros(len(terminals), np.int64)
  last = len(terminals) - 1
  for i in range(len(terminals) - 1, -1, -1):
    if terminals[i] > 0 or timeouts[i] > 0:
      last = i
    out[i] = last
  return out


def _ends_in_terminal(terminals, timeouts):
  """For each transition, whether its episode ends with a terminal (not a timeout)."""
  out = np.zeros(len(terminals), bool)
  ending_terminal = True
  for i in range(len(terminals) - 1, -1, -1):
    if terminals[i] > 0 or timeouts[i] > 0 or i == len(terminals) - 1:
      ending_terminal = bool(terminals[i] > 0)
    out[i] = ending_terminal
  return out
