"""OGBench's published single-task datasets, read with ogbench's own loader where they are here.

`--config.dataset=ogbench:<env>-play-singletask-task<N>-v0` (or `...-singletask-v0`, the env's
default task) trains on the `.npz` play file OGBench publishes, `<env>-play-v0.npz` in
$OGBENCH_DATASETS (default ~/.ogbench/data, where `ogbench.download_datasets` puts it), scored
for the task's goal as our regenerated data is (envs/ogbench_envs.relabel). Nothing here
downloads: where the file is missing, one line names the download and the offline regeneration.
"""
import os
import re
from pathlib import Path

import numpy as np

from dflow_jax.data import registry
from dflow_jax.errors import DatasetError

PREFIX = 'ogbench:'
_NAME = re.compile(r'^(?P<env>[a-z0-9-]+?)-play-singletask(?:-task(?P<task>\d))?-v0$')


def is_ogbench(name: str) -> bool:
  return name.startswith(PREFIX)


def parse(name: str) -> tuple[str, int]:
  """'ogbench:cube-single-play-singletask-task1-v0' -> ('cube-single', 1); DatasetError for a
  name that is not one of the manipulation single-task datasets."""
  match = _NAME.match(name[len(PREFIX):])
  from dflow_jax.envs.ogbench_envs import DEFAULT_TASKS
  if not match or match['env'] not in DEFAULT_TASKS or (
      match['task'] and int(match['task']) not in registry.OGBENCH_TASKS):
    raise DatasetError(f'{name!r} is not an OGBench manipulation single-task dataset: use '
                       f'ogbench:<env>-play-singletask[-task<1..5>]-v0 with <env> one of '
                       f'{", ".join(DEFAULT_TASKS)}')
  env = match['env']
  return env, int(match['task']) if match['task'] else DEFAULT_TASKS[env]


def file_path(name: str) -> Path:
  env, _ = parse(name)
  root = Path(os.environ.get('OGBENCH_DATASETS', Path.home() / '.ogbench' / 'data'))
  return root.expanduser() / f'{env}-play-v0.npz'


def is_local(name: str) -> bool:
  return file_path(name).is_file()


def missing_message(name: str) -> str:
  env, task = parse(name)
  return (f'{name}: OGBench\'s file {file_path(name)} is not here (OGBENCH_DATASETS); where a '
          f'network exists get it with `python -c "import ogbench; '
          f'ogbench.download_datasets([\'{env}-play-v0\'])"`, or regenerate the data offline: '
          f'python -m dflow_jax.datagen generate {registry.ogbench_singletask_id(env, task)}')


def eval_env(name: str) -> dict:
  from dflow_jax.envs.ogbench_envs import singletask_env_id
  return {'family': 'ogbench', 'env': singletask_env_id(*parse(name)), 'score': 'success'}


def read_transitions(name: str) -> dict:
  """The file's transitions as the loader's numpy arrays, with the task's rewards; an episode's
  last state, which has no action after it, is dropped as ogbench's loader drops it."""
  if not is_local(name):
    raise DatasetError(missing_message(name))
  from ogbench.utils import load_dataset

  from dflow_jax.envs.ogbench_envs import relabel, task_targets
  played = load_dataset(str(file_path(name)), add_info=True)
  ends = played['terminals'] > 0  # the last transition of each episode
  infos = {key: played[key] for key in ('qpos', 'button_states') if key in played}
  # relabel scores the states a step starts from: all but the last of its L + 1 inputs
  padded = {key: np.concatenate([value, value[-1:]]) for key, value in infos.items()}
  rewards, terminals = relabel(task_targets(*parse(name)), padded)
  return {'observations': played['observations'], 'actions': played['actions'],
          'rewards': rewards.astype(np.float32),
          'next_observations': played['next_observations'],
          'terminals': terminals.astype(np.float32), 'timeouts': ends.astype(np.float32)}
