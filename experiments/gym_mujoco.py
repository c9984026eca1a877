"""Gym-MuJoCo locomotion (Minari `mujoco/*` datasets). Expert data is regenerated offline from
the TQC actors; medium and simple exist only as Minari datasets (a download).

  python -m dflow_jax.main --config=experiments/gym_mujoco.py:hopper-expert
  python -m dflow_jax.main --config=experiments/gym_mujoco.py:hopper-expert,quick
  python -m dflow_jax.main --config=experiments/gym_mujoco.py:halfcheetah-medium,minari
"""
from dflow_jax.config import apply_size, family_config, parse_config_string

ENVS = ('halfcheetah', 'hopper', 'walker2d')
KINDS = ('expert', 'medium', 'simple')  # Minari's mujoco/<env>/<kind>-v0
TASKS = tuple(f'{env}-{kind}' for env in ENVS for kind in KINDS)


def get_config(config_string=None):
  task, options = parse_config_string(config_string, TASKS, 'gym_mujoco')
  env, kind = task.split('-', 1)
  local = kind == 'expert' and 'minari' not in options  # the only kind we regenerate
  dataset = f'dflow/mujoco/{env}/{kind}-v0' if local else f'mujoco/{env}/{kind}-v0'
  # IQL's locomotion setting: rewards * 1000 / (max - min episode return)
  config = family_config(dataset, expectile=0.7, reward_convention='locomotion')
  return apply_size(config, options)
