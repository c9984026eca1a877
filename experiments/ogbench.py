"""OGBench manipulation, single-task (cube-single, cube-double, scene, puzzle-3x3; tasks 1 to 5).

The play data is regenerated offline with the oracles the ogbench package ships (made on first
use, about 32 minutes per env on a 2-core CPU) and scored for the task's goal; evaluation plays
the env's `*-singletask-taskN-v0` and reports the success rate (normalized = 100 per success).
With `quick` the data is the 50-episode `-subset`, labelled so in its dataset id.

  python -m dflow_jax.main --config=experiments/ogbench.py                       # cube-single-task2
  python -m dflow_jax.main --config=experiments/ogbench.py:puzzle-3x3-task4,cpu
  python -m dflow_jax.main --config=experiments/ogbench.py:cube-single-task1,quick   # a smoke run
  python -m dflow_jax.main --config=experiments/ogbench.py:scene-task2 --config.agent.variant=fql \
      --config.agent.alpha=300                                                     # FQL_ALPHA

A results row (bc, DF-div, DF-dir, FQL and IFQL from one pre-training; FQL's four settings around
its published alpha, so that its all-settings table also holds the published one):

  PRE=10000 DF=5000 FQL_SWEEP=--config.sweep.agent.alpha=100,300,1000,3000 \
      bash experiments/results_row.sh ogbench.py:cube-single-task2 \
      dflow/ogbench/cube-single-play-singletask-task2-v0 runs/ogbench/cube-single
"""
from dflow_jax.config import ConfigError
from dflow_jax.data import registry
from dflow_jax.presets import apply_size, family_config, parse_config_string

TASKS = tuple(f'{env}-task{task}' for env in registry.OGBENCH_ENVS
              for task in registry.OGBENCH_TASKS)
# FQL's published alpha per env (its repository's main-results commands). Our `fql` averages
# its distillation over action dimensions and normalises its Q term as FQL does, so the values
# carry over; `agent.alpha` is also DF-dir's weight, so pass it for `fql` runs only.
FQL_ALPHA = {'cube-single': 300.0, 'cube-double': 300.0, 'scene': 300.0, 'puzzle-3x3': 1000.0}


def get_config(config_string=None):
  task, options = parse_config_string(config_string, TASKS, 'ogbench')
  if 'minari' in options:
    raise ConfigError('OGBench publishes its datasets as .npz files, not on Minari: drop '
                      'minari to use the regenerated dflow/ogbench data')
  env, _, number = task.rpartition('-task')
  dataset = registry.ogbench_singletask_id(env, int(number), subset='quick' in options)
  # IQL's expectile for OGBench manipulation; the reward is (subtasks done) - (subtasks), 0 at
  # the goal, so no convention rescales it.
  config = family_config(dataset, expectile=0.9)
  # Each OGBench env compiles a MuJoCo model of its own: about 190 MB once reset (cube-single,
  # measured 2026-12-07), so 256 at once would need 48 GB and 64 ran out of 24 GB beside a run's
  # data. Scores do not depend on this.
  config.eval_batch_envs = 32
  return apply_size(config, options)
