"""The 4-mode bandit, sized for a 2-core CPU: `make run` trains this."""
from dflow_jax.config import ConfigError, base_config


def get_config(config_string=None):
  if config_string:  # the one task: nothing to choose
    raise ConfigError(f'experiments/toy.py has one task (toy/bandit) and takes no task string; '
                      f'got {config_string!r}: use --config=experiments/toy.py')
  config = base_config()
  config.dataset = 'toy/bandit'
  config.num_seeds = 8
  config.batch_size = 256
  config.bc_steps = 2500
  config.df_steps = 1500
  config.chunk_size = 500
  config.save_interval = 1000
  config.eval_samples = 1000

  agent = config.agent
  agent.variant = 'div'
  agent.learning_rate = 1e-3  # the behaviour flow converges in the CPU budget (see README)
  agent.velocity_hidden = (64, 64, 64)
  agent.critic_hidden = (64, 64, 64)
  agent.flow_steps = 10
  agent.rho = 0.1
  agent.lambda_div = 0.1
  agent.alpha = 1.0  # in advantage units; 3 and 10 push more samples off the data
  agent.lambda_dir = 1.0
  agent.steps_per_state = 1
  return config
