"""Adroit hand tasks (D4RL): the experiment configs of door, hammer, pen and relocate.

Door human, cloned and expert, and the other experts, are regenerated offline by default;
pen/hammer/relocate human and cloned need `,minari` (a download).

  python -m dflow_jax.main --config=experiments/adroit.py               # door-human, the default
  python -m dflow_jax.main --config=experiments/adroit.py:door-cloned
  python -m dflow_jax.main --config=experiments/adroit.py:door-expert,quick   # a smoke run
  python -m dflow_jax.main --config=experiments/adroit.py:pen-human,minari
"""
from dflow_jax.presets import apply_size, family_config, parse_config_string

TASKS = tuple(f'{task}-{kind}' for task in ('door', 'hammer', 'pen', 'relocate')
              for kind in ('human', 'cloned', 'expert'))


def get_config(config_string=None):
  task, options = parse_config_string(config_string, TASKS, 'adroit')
  name, kind = task.split('-')
  namespace = 'D4RL' if 'minari' in options else 'dflow'
  config = family_config(f'{namespace}/{name}/{kind}-v2', expectile=0.8)  # IQL's Adroit setting
  return apply_size(config, options)
