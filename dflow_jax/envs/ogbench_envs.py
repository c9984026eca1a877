"""OGBench's manipulation envs: registered with gymnasium when first asked for, and their
single-task goals, by which `relabel` scores recorded states.

A single-task reward is (subtasks met) - (subtasks), and the episode ends where all are met,
both of the state s_t a step starts from, as ogbench 1.2's single-task envs count them
(success_timing 'pre').
"""
import numpy as np

from dflow_jax.data.registry import OGBENCH_ENVS as ENVS  # noqa: F401
from dflow_jax.errors import DatasetError

# OGBench's default task of each env (its `*-singletask-v0` id), the one FQL's tables report.
DEFAULT_TASKS = {'cube-single': 2, 'cube-double': 2, 'scene': 2, 'puzzle-3x3': 4}
OBJECT_QPOS, CUBE_QPOS = 14, 7  # qpos: arm and gripper first, then 7 numbers (xyz, quat) a cube
SUCCESS_DISTANCE = 0.04  # a cube, drawer or window within this of its target


def register() -> None:
  """Imports ogbench's manipulation envs (their import registers them); DatasetError in one line
  where the package is not installed."""
  try:
    import ogbench.manipspace  # noqa: F401
  except ImportError:
    raise DatasetError('the OGBench tasks need the ogbench package: pip install -e .[ogbench] '
                       '(make install does)') from None


def singletask_env_id(env_name: str, task: int) -> str:
  return f'{env_name}-singletask-task{task}-v0'


def singletask_env(env_name: str, task: int, **kwargs):
  import gymnasium as gym
  register()
  return gym.make(singletask_env_id(env_name, task), **kwargs)


def task_targets(env_name: str, task: int) -> dict:
  """The goal of `task` as the single-task env sets it on reset: cube target positions, button
  states, drawer and window positions (those the env has)."""
  env = singletask_env(env_name, task)
  env.reset(seed=0)
  inner = env.unwrapped
  targets = {}
  if hasattr(inner, '_cube_target_mocap_ids'):
    targets['cubes'] = np.array([inner._data.mocap_pos[i] for i in inner._cube_target_mocap_ids])
  if hasattr(inner, '_target_button_states'):
    targets['buttons'] = np.asarray(inner._target_button_states).copy()
  if env_name == 'scene':
    targets['drawer'] = float(inner._target_drawer_pos)
    targets['window'] = float(inner._target_window_pos)
    targets['drawer_qpos'] = OBJECT_QPOS + CUBE_QPOS * inner._num_cubes + inner._num_buttons
  env.close()
  return targets


def subtask_successes(targets: dict, qpos: np.ndarray, button_states=None) -> np.ndarray:
  """[N, subtasks] bool: which parts of the goal each state meets (cubes, buttons, drawer,
  window, in that order)."""
  parts = []
  if 'cubes' in targets:
    cubes = np.stack([qpos[:, OBJECT_QPOS + CUBE_QPOS * i:OBJECT_QPOS + CUBE_QPOS * i + 3]
                      for i in range(len(targets['cubes']))], axis=1)
    parts.append(np.linalg.norm(cubes - targets['cubes'], axis=-1) <= SUCCESS_DISTANCE)
  if 'buttons' in targets:
    parts.append(np.asarray(button_states) == targets['buttons'])
  if 'drawer' in targets:
    drawer = targets['drawer_qpos']
    parts.append((np.abs(qpos[:, drawer] - targets['drawer']) <= SUCCESS_DISTANCE)[:, None])
    parts.append((np.abs(qpos[:, drawer + 1] - targets['window']) <= SUCCESS_DISTANCE)[:, None])
  return np.concatenate(parts, axis=-1)


def relabel(targets: dict, infos: dict) -> tuple[np.ndarray, np.ndarray]:
  """(rewards, terminals) of an episode's L steps from its L + 1 state infos: each step's of the
  state it starts from (s_t), as ogbench's single-task envs score a step."""
  successes = subtask_successes(targets, infos['qpos'][:-1],
                                None if 'button_states' not in infos else
                                infos['button_states'][:-1])
  rewards = successes.sum(axis=-1) - successes.shape[-1]
  return rewards.astype(np.float64), successes.all(axis=-1)
