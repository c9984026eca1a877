"""PointMaze (D4RL/pointmaze procedure), sparse or dense, regenerated offline by default.

  python -m dflow_jax.main --config=experiments/pointmaze.py            # umaze, the default
  python -m dflow_jax.main --config=experiments/pointmaze.py:medium
  python -m dflow_jax.main --config=experiments/pointmaze.py:umaze,quick   # a smoke run
  python -m dflow_jax.main --config=experiments/pointmaze.py:large-dense,minari
"""
from dflow_jax.presets import apply_size, family_config, parse_config_string

TASKS = ('umaze', 'medium', 'large', 'umaze-dense', 'medium-dense', 'large-dense')


def get_config(config_string=None):
  task, options = parse_config_string(config_string, TASKS, 'pointmaze')
  namespace = 'D4RL' if 'minari' in options else 'dflow'
  # reward: 1 within 0.45 of the goal (dense: exp(-distance)); IQL's maze expectile
  config = family_config(f'{namespace}/pointmaze/{task}-v2', expectile=0.9)
  return apply_size(config, options)
