"""The evaluation env of a dataset, rebuilt from the recipe in the dataset's metadata.

Observations come out flattened exactly as the loader flattens the dataset's, and the D4RL
fixes (Adroit reward sign, pen's horizon and drop termination) are applied.
"""

import gymnasium as gym
import numpy as np

from dflow_jax.data.minari_io import flatten_observation
from dflow_jax.envs.maze_file import remove_maze_file


class FlattenDictObservation(gym.ObservationWrapper):
  """Dict observations as one float32 vector, in the loader's order (sorted keys)."""

  def __init__(self, env):
    super().__init__(env)
    size = flatten_observation(_batched(env.observation_space.sample())).shape[-1]
    self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)

  def observation(self, observation):
    return flatten_observation(_batched(observation))[0]


def _batched(observation):
  if isinstance(observation, dict):
    return {key: _batched(value) for key, value in observation.items()}
  return np.asarray(observation)[None]


def make_eval_env(recipe: dict, **kwargs) -> gym.Env:
  """recipe: the `eval_env` entry of a dataset's metadata (see datagen/recipes.py) or one
  inferred from a Minari id (data/registry.py)."""
  family = recipe.get('family')
  if family == 'pointmaze':
    from dflow_jax.envs import pointmaze
    return FlattenDictObservation(pointmaze.make_eval_env(recipe['maze'], recipe['dense'],
                                                          **kwargs))
  if family == 'adroit':
    from dflow_jax.envs import adroit_fixes
    return adroit_fixes.make_adroit_env(recipe['task'], **kwargs)
  if family == 'mujoco':
    return gym.make(recipe['env'], **kwargs)
  if family == 'ogbench':  # a single-task manipulation env; its episode ends at success
    from dflow_jax.envs.ogbench_envs import register
    register()
    return gym.make(recipe['env'], **kwargs)
  if family == 'env_spec':  # a dataset Minari recorded: its env as the spec it stored
    env = remove_maze_file(gym.make(gym.envs.registration.EnvSpec.from_json(recipe['spec']),
                                    **kwargs))
    if isinstance(env.observation_space, gym.spaces.Dict):
      env = FlattenDictObservation(env)
    return env
  raise ValueError(f'unknown eval env recipe {recipe!r}')
