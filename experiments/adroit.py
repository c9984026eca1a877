"""Adroit hand tasks (D4RL): door human, cloned and expert, and the other experts, regenerated
offline by default; pen/hammer/relocate human and cloned need `,minari` (a download).

  python -m dflow_jax.main --config=experiments/adroit.py:door-human
  python -m dflow_jax.main --config=experiments/adroit.py:door-expert,quick   # a smoke run
  python -m dflow_jax.main --config=experiments/adroit.py:pen-human,minari
"""
from dflow_jax.config import apply_size, base_config, parse_config_string

TASKS = tuple(f'{task}-{kind}' for task in ('door', 'hammer', 'pen', 'relocate')
              for kind in ('human', 'cloned', 'expert'))


def get_config(config_string=None):
  task, options = parse_config_string(config_string, TASKS, 'adroit')
  name, kind = task.split('-')
  config = base_config()
  namespace = 'D4RL' if 'minari' in options else 'dflow'
  config.dataset = f'{namespace}/{name}/{kind}-v2'
  config.reward_convention = 'none'
  config.bc_steps = 100_000
  config.df_steps = 1_000_000
  config.eval_interval = 50_000
  agent = config.agent
  agent.expectile = 0.8  # IQL's Adroit setting
  agent.discount = 0.99
  agent.flow_steps = 10
  agent.alpha = 1.0
  agent.lam = 1.0
  agent.rho = 1.0
  agent.lambda_div = 0.1
  return apply_size(config, options)
