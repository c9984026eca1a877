"""Experiment presets: the families' shared config, its sizes, and task strings.

The full-budget config the benchmark families share, the `quick` and `cpu` sizes, and the
parsing of `--config=experiments/<family>.py:TASK[,OPTION...]`."""
import importlib.util
import os

import ml_collections

from dflow_jax.config import ConfigError, base_config

CONFIG_OPTIONS = {
    'quick': 'a smoke run of seconds to minutes on a CPU (tiny networks, few steps, 2 seeds)',
    'cpu': 'the budget our CPU results were measured with (5 seeds, smaller networks)',
    'minari': 'the published Minari dataset id instead of the local regenerated one',
}


# The task a family trains when its config string names none: regenerable here (made on first
# use), and one where offline RL shows. Adroit pen-cloned: bc scores 70 at the cpu budget, where
# DF-div gains 8 and FQL 20 (docs/results/adroit-cpu.md); door-human and door-cloned learn nothing, and
# door-expert is at the expert already. umaze is the smallest maze.
DEFAULT_TASKS = {'adroit': 'pen-cloned', 'pointmaze': 'umaze', 'gym_mujoco': 'hopper-mixed',
                 'ogbench': 'cube-single-task2'}


def parse_config_string(config_string: str | None, tasks, family: str) -> tuple[str, set]:
  """'task[,option...]' (from `--config=experiments/<family>.py:task,quick`) -> (task, options).
  No task (`experiments/adroit.py` or `experiments/adroit.py:,quick`) means the family's
  DEFAULT_TASKS entry.

  Raises ConfigError naming the tasks and options there are.
  """
  usage = (f'use --config=experiments/{family}.py:TASK[,OPTION...] with TASK one of '
           f'{", ".join(tasks)} and OPTION among {", ".join(CONFIG_OPTIONS)}')
  task, *options = [part.strip() for part in (config_string or '').split(',')]
  task = task or DEFAULT_TASKS[family]
  if task not in tasks:
    raise ConfigError(f'unknown {family} task {task!r}: {usage}')
  unknown = [o for o in options if o not in CONFIG_OPTIONS]
  if unknown:
    raise ConfigError(f'unknown option {unknown[0]!r} in {config_string!r}: {usage}')
  return task, set(options)


def task_line(config_argument: str, dataset: str) -> str:
  """The first line of a run: the task it trains and how to choose another.
  `config_argument` is the --config value, e.g. 'experiments/adroit.py:door-human,quick'."""
  path, _, config_string = config_argument.partition(':')
  family = os.path.splitext(os.path.basename(path))[0]
  if family not in DEFAULT_TASKS:
    return f'task: {dataset} (from {path})'
  task = config_string.split(',')[0].strip()
  module = _family_module(path)
  if module.get_config(config_string or None).dataset != dataset:  # --config.dataset=...
    return (f'task: {dataset} (--config.dataset), with the settings of {family} '
            f'{task or DEFAULT_TASKS[family]}')
  if task:
    return f'task: {family} {task} ({dataset})'
  tasks = module.TASKS
  return (f'task: {family} {DEFAULT_TASKS[family]} ({dataset}), the default of {path}; choose '
          f'another with --config={path}:TASK, TASK one of {", ".join(tasks)}')


def _family_module(path: str):
  spec = importlib.util.spec_from_file_location('family_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


# What `quick` and `cpu` change in a family's full config (dotted keys).
SIZES = {
    'quick': {'num_seeds': 2, 'batch_size': 64, 'bc_steps': 200, 'df_steps': 200,
              'chunk_size': 100, 'save_interval': 200, 'eval_episodes': 2,
              'final_eval_episodes': 3, 'eval_interval': 200, 'validation_episodes': 2,
              'agent.velocity_hidden': (64, 64), 'agent.critic_hidden': (64, 64),
              'agent.steps_per_state': 1},
    # On our 2-core CPU: about 4 minutes for `bc`, 6 for DF-div (5 seeds, Gym-MuJoCo).
    'cpu': {'num_seeds': 5, 'bc_steps': 10_000, 'df_steps': 5_000, 'chunk_size': 1000,
            'save_interval': 5000, 'eval_episodes': 10, 'final_eval_episodes': 50,
            'eval_interval': 5000, 'agent.velocity_hidden': (128, 128, 128),
            'agent.critic_hidden': (128, 128), 'agent.steps_per_state': 1},
}


def override(config: ml_collections.ConfigDict, values: dict) -> ml_collections.ConfigDict:
  """Sets `values` ({'dotted.key': value}) in `config`, in place; returns it."""
  for dotted, value in values.items():
    *parents, leaf = dotted.split('.')
    node = config
    for part in parents:
      node = node[part]
    node[leaf] = value
  return config


def apply_size(config: ml_collections.ConfigDict, options: set) -> ml_collections.ConfigDict:
  """Scales a family's full config down for `quick` (which wins) or `cpu` (see SIZES)."""
  size = 'quick' if 'quick' in options else 'cpu' if 'cpu' in options else None
  return override(config, SIZES.get(size, {}))


def family_config(dataset: str, expectile: float, reward_convention: str = 'none'
                  ) -> ml_collections.ConfigDict:
  """The full-budget config the benchmark families share; each family sets its dataset, IQL
  expectile and reward convention (experiments/<family>.py), and `apply_size` scales it down."""
  # Everything not set here (steps, flow steps, alpha, lambda_dir, rho, ...) is base_config's default.
  config = base_config()
  config.dataset = dataset
  config.reward_convention = reward_convention
  config.eval_interval = 50_000
  config.agent.expectile = expectile
  return config
