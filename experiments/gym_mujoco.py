"""Gym-MuJoCo locomotion (Minari `mujoco/*` datasets): the experiment configs.

Expert and mixed-quality data are regenerated offline from the TQC actors; medium and simple
exist only as Minari datasets (a download), and mixed only here (no Minari dataset).

  python -m dflow_jax.main --config=experiments/gym_mujoco.py           # hopper-mixed, the default
  python -m dflow_jax.main --config=experiments/gym_mujoco.py:hopper-expert
  python -m dflow_jax.main --config=experiments/gym_mujoco.py:hopper-mixed,quick
  python -m dflow_jax.main --config=experiments/gym_mujoco.py:halfcheetah-medium,minari
"""
from dflow_jax.config import ConfigError
from dflow_jax.presets import apply_size, family_config, parse_config_string

ENVS = ('halfcheetah', 'hopper', 'walker2d')
KINDS = ('expert', 'medium', 'simple', 'mixed')
LOCAL_KINDS = ('expert', 'mixed')  # the kinds we regenerate
MINARI_KINDS = ('expert', 'medium', 'simple')  # Minari's mujoco/<env>/<kind>-v0
TASKS = tuple(f'{env}-{kind}' for env in ENVS for kind in KINDS)


def get_config(config_string=None):
  task, options = parse_config_string(config_string, TASKS, 'gym_mujoco')
  env, kind = task.split('-', 1)
  if 'minari' in options and kind not in MINARI_KINDS:
    raise ConfigError(f'{task} has no Minari dataset (option minari): drop minari to use the '
                      f'local dflow/mujoco/{env}/{kind}-v0')
  local = kind in LOCAL_KINDS and 'minari' not in options
  dataset = f'dflow/mujoco/{env}/{kind}-v0' if local else f'mujoco/{env}/{kind}-v0'
  # IQL's locomotion setting: rewards * 1000 / (max - min episode return)
  config = family_config(dataset, expectile=0.7, reward_convention='locomotion')
  return apply_size(config, options)
