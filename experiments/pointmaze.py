"""PointMaze (D4RL/pointmaze procedure), sparse or dense, regenerated offline by default.

  python -m dflow_jax.main --config=experiments/pointmaze.py:umaze
  python -m dflow_jax.main --config=experiments/pointmaze.py:umaze,quick   # a smoke run
  python -m dflow_jax.main --config=experiments/pointmaze.py:large-dense,minari
"""
from dflow_jax.config import apply_size, base_config, parse_config_string

TASKS = ('umaze', 'medium', 'large', 'umaze-dense', 'medium-dense', 'large-dense')


def get_config(config_string=None):
  task, options = parse_config_string(config_string, TASKS, 'pointmaze')
  config = base_config()
  namespace = 'D4RL' if 'minari' in options else 'dflow'
  config.dataset = f'{namespace}/pointmaze/{task}-v2'
  config.reward_convention = 'none'  # 1 within 0.45 of the goal (dense: exp(-distance))
  config.bc_steps = 100_000
  config.df_steps = 1_000_000
  config.eval_interval = 50_000
  agent = config.agent
  agent.expectile = 0.9  # goal reaching: the upper expectile (IQL's maze setting)
  agent.discount = 0.99
  agent.flow_steps = 10
  agent.alpha = 1.0
  agent.lam = 1.0
  agent.rho = 1.0
  agent.lambda_div = 0.1
  return apply_size(config, options)
