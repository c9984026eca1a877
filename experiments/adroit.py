"""Adroit hand tasks (D4RL): the experiment configs of door, hammer, pen and relocate.

Expert, cloned and mixed data of all four tasks, and door's human data, are regenerated offline
(made on first use); pen/hammer/relocate human data need `,minari` (a download). Cloned data of
pen, hammer and relocate imitate DAPG expert episodes, having no human demos offline.

  python -m dflow_jax.main --config=experiments/adroit.py               # pen-cloned, the default
  python -m dflow_jax.main --config=experiments/adroit.py:door-human
  python -m dflow_jax.main --config=experiments/adroit.py:door-expert,quick   # a smoke run
  python -m dflow_jax.main --config=experiments/adroit.py:pen-human,minari
"""
from dflow_jax.config import ConfigError
from dflow_jax.presets import apply_size, family_config, parse_config_string

KINDS = ('human', 'cloned', 'expert', 'mixed')
MINARI_KINDS = ('human', 'cloned', 'expert')  # D4RL's <task>/<kind>-v2
TASKS = tuple(f'{task}-{kind}' for task in ('door', 'hammer', 'pen', 'relocate') for kind in KINDS)


def get_config(config_string=None):
  task, options = parse_config_string(config_string, TASKS, 'adroit')
  name, kind = task.split('-')
  if 'minari' in options and kind not in MINARI_KINDS:
    raise ConfigError(f'{task} has no Minari dataset (option minari): drop minari to use the '
                      f'local dflow/{name}/{kind}-v2')
  namespace = 'D4RL' if 'minari' in options else 'dflow'
  config = family_config(f'{namespace}/{name}/{kind}-v2', expectile=0.8)  # IQL's Adroit setting
  return apply_size(config, options)
