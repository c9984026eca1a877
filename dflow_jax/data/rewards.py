"""Reward conventions of offline RL, a config choice (`config.reward_convention`).

- 'none': the dataset's rewards as they are.
- 'locomotion': IQL's scaling for Gym-MuJoCo, rewards * 1000 / (max return - min return) over
  the dataset's episodes, so that one set of hyper-parameters fits every locomotion task.
- 'sparse_shift': rewards - 1, IQL's convention for sparse goal tasks (AntMaze, PointMaze
  sparse): every step before success costs 1, success itself 0.
"""
import numpy as np

REWARD_CONVENTIONS = ('none', 'locomotion', 'sparse_shift')


def apply_convention(rewards: np.ndarray, episode_returns, convention: str) -> np.ndarray:
  return convention_transform(episode_returns, convention)(rewards)


def convention_transform(episode_returns, convention: str):
  """The map from raw rewards to the convention's, fixed by the dataset's episode returns; the
  same map turns an env's rewards into the units the critic learnt."""
  if convention == 'none':
    return lambda rewards: rewards
  if convention == 'locomotion':
    spread = float(np.max(episode_returns) - np.min(episode_returns))
    if spread <= 0.0:
      raise ValueError('locomotion reward scaling needs episodes with different returns')
    return lambda rewards: rewards * (1000.0 / spread)
  if convention == 'sparse_shift':
    return lambda rewards: rewards - 1.0
  raise ValueError(f'unknown reward convention {convention!r}; one of {REWARD_CONVENTIONS}')
