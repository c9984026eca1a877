"""The critic on the policy's own episodes: Q(s_t, a_t) where the policy goes, against the
discounted return that followed there.

`critic_check` asks whether the critic knows the data. A policy improved against a critic can
leave the data for actions the critic overrates; on the data that does not show, here it does:
Q above the return it led to. A critic that drifts shows on both.
"""
import dataclasses

import gymnasium as gym
import numpy as np

from dflow_jax.envs.evaluation import agent_policy
from dflow_jax.envs.make import make_eval_env
from dflow_jax.reporting import critic_check


@dataclasses.dataclass
class Episodes:
  """The first episode of each of N envs, padded to the longest: [N, L, ...] arrays."""
  observations: np.ndarray
  actions: np.ndarray
  rewards: np.ndarray
  alive: np.ndarray  # [N, L] the step belongs to the env's first episode
  terminated: np.ndarray  # [N] it ended in a terminal state (nothing follows), not a time limit


def play_recorded(envs: gym.vector.VectorEnv, policy, env_seed: int) -> Episodes:
  """Steps `envs` (env i reset with `env_seed + i`) until each has finished one episode, keeping
  every observation, action and reward of it. policy(observations [N, o], step) -> [N, a]."""
  observations, _ = envs.reset(seed=[env_seed + i for i in range(envs.num_envs)])
  done = np.zeros(envs.num_envs, bool)
  terminated_end = np.zeros(envs.num_envs, bool)
  seen, acted, rewarded, alive = [], [], [], []
  step = 0
  while not done.all():
    actions = policy(observations, step)
    seen.append(np.asarray(observations, np.float32))
    acted.append(np.asarray(actions, np.float32))
    alive.append(~done)
    observations, rewards, terminated, truncated, _ = envs.step(actions)
    rewarded.append(np.where(done, 0.0, rewards))
    terminated_end |= ~done & np.asarray(terminated)
    done |= np.asarray(terminated) | np.asarray(truncated)
    step += 1
  stack = lambda xs: np.stack(xs, axis=1)  # noqa: E731
  return Episodes(stack(seen), stack(acted), stack(rewarded), stack(alive), terminated_end)


def returns_to_go(rewards, alive, discount: float):
  """[N, L] discounted return from each step to its episode's end, and the steps left to it."""
  returns = np.zeros_like(rewards, dtype=np.float64)
  steps_left = np.zeros(rewards.shape, np.int64)
  following = np.zeros(rewards.shape[0])
  left = np.zeros(rewards.shape[0], np.int64)
  for t in range(rewards.shape[1] - 1, -1, -1):
    following = np.where(alive[:, t], rewards[:, t] + discount * following, 0.0)
    left = np.where(alive[:, t], left + 1, 0)
    returns[:, t], steps_left[:, t] = following, left
  return returns, steps_left


def q_on_own_episodes(agent, states, recipe: dict, episodes: int, env_seed: int, action_seed: int,
                      discount: float, reward_transform=None,
                      behavior: bool = False) -> dict:
  """Per seed, over the steps of `episodes` of its own episodes whose return is not cut short by
  a time limit (the episode ended in a terminal, or log(0.01) / log(discount) steps remain):
  mean Q(s_t, a_t), mean return-to-go, their correlation, the steps used, and the episodes'
  undiscounted env returns ([S, E]). `reward_transform` maps the env's rewards into the units
  the critic learnt (the dataset's reward convention; default: as they are). `behavior`: act
  with the behaviour flow (an evaluation before Decision Flow starts)."""
  num_seeds = int(np.shape(states.step)[0])
  envs = gym.vector.SyncVectorEnv([lambda: make_eval_env(recipe)] * (num_seeds * episodes))
  try:
    policy = agent_policy(agent, states, num_seeds, envs.single_action_space, action_seed,
                          behavior=behavior)
    played = play_recorded(envs, policy, env_seed)
  finally:
    envs.close()
  rewards = played.rewards if reward_transform is None else reward_transform(played.rewards)
  returns, steps_left = returns_to_go(np.where(played.alive, rewards, 0.0), played.alive, discount)
  horizon = int(np.ceil(np.log(0.01) / np.log(discount))) if discount < 1 else played.alive.shape[1]
  usable = played.alive & (played.terminated[:, None] | (steps_left >= horizon))
  length = played.alive.shape[1]
  per_seed = lambda x: x.reshape(num_seeds, episodes * length, *x.shape[2:])  # noqa: E731
  q = np.asarray(critic_check.q_values(agent, states, per_seed(played.observations),
                                       per_seed(played.actions)))
  mc, use = per_seed(returns), per_seed(usable)
  out = {'q_mean': [], 'return_mean': [], 'correlation': [], 'steps': []}
  for seed in range(num_seeds):
    q_seed, mc_seed = q[seed][use[seed]], mc[seed][use[seed]]
    out['steps'].append(int(use[seed].sum()))
    out['q_mean'].append(float(q_seed.mean()) if q_seed.size else np.nan)
    out['return_mean'].append(float(mc_seed.mean()) if q_seed.size else np.nan)
    out['correlation'].append(float(np.corrcoef(q_seed, mc_seed)[0, 1])
                              if q_seed.size > 1 and mc_seed.std() > 0 else np.nan)
  out = {key: np.array(value) for key, value in out.items()}
  out['episode_returns'] = played.rewards.sum(axis=1).reshape(num_seeds, episodes)
  return out
