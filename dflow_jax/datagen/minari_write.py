"""Writing the datasets we regenerate as local Minari datasets, with their provenance."""
import contextlib
import dataclasses
import importlib.metadata
import platform
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dflow_jax.data.minari_io import DFLOW_KEY, dataset_path
from dflow_jax.datagen.episodes import Episode

PACKAGES = ('dflow_jax', 'minari', 'gymnasium', 'gymnasium_robotics', 'mujoco', 'numpy', 'jax',
            'ogbench')


def package_versions() -> dict:
  versions = {'python': platform.python_version()}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name.replace('_', '-'))
    except importlib.metadata.PackageNotFoundError:
      versions[name] = None
  return versions


def _buffer(index: int, episode: Episode):
  from minari.data_collector import EpisodeBuffer
  as_list = lambda x: ({k: as_list(v) for k, v in x.items()} if isinstance(x, dict)
                       else np.asarray(x))
  return EpisodeBuffer(
      id=index, seed=episode.seed, observations=as_list(episode.observations),
      actions=np.asarray(episode.actions, np.float32),
      rewards=np.asarray(episode.rewards, np.float64),
      terminations=np.asarray(episode.terminations, bool),
      truncations=np.asarray(episode.truncations, bool), infos=dict(episode.infos or {}))


@contextlib.contextmanager
def _maze_files_removed():
  """Minari rebuilds the env from its spec while writing (twice); for a PointMaze each build leaves
  a maze file in the temp directory, so for these calls gym.make removes it (envs/make.py)."""
  import gymnasium as gym

  from dflow_jax.envs.maze_file import remove_maze_file
  make = gym.make
  gym.make = lambda *args, **kwargs: remove_maze_file(make(*args, **kwargs))
  try:
    yield
  finally:
    gym.make = make


def write_dataset(dataset_id: str, episodes: Iterable[Episode], *, env, dflow: dict,
                  ref_min_score: float | None = None, ref_max_score: float | None = None,
                  description: str = '', algorithm_name: str = '') -> Path:
  """Writes `episodes` as the local Minari dataset `dataset_id` (replacing an older copy).

  env: the gymnasium env the data was collected in (its spec and spaces are recorded).
  dflow: our metadata (generator, seed, eval env recipe, published refs); package versions
    are added here so that every regenerated dataset says what produced it.
  """
  import minari
  if dataset_path(dataset_id).exists():  # an older copy, or the remains of a failed write
    shutil.rmtree(dataset_path(dataset_id))
  buffers = [_buffer(i, episode) for i, episode in enumerate(episodes)]
  if not buffers:
    raise ValueError(f'no episodes to write for {dataset_id}')
  refs = {}
  if ref_max_score is not None:  # Minari stores the refs only when both are given
    refs = {'ref_min_score': ref_min_score, 'ref_max_score': ref_max_score}
  # Minari recreates the env from its spec; our wrappers (the D4RL fixes) are described by the
  # eval-env recipe in `dflow` instead, so the recorded spec is the bare registered env.
  spec = dataclasses.replace(env.spec, additional_wrappers=())
  # Minari asks for a code permalink, an author e-mail and an eval env. A regenerated dataset has
  # no permalink or e-mail, and its eval env is the recipe in `dflow` (package versions
  # included), so those three reminders would only bury the generator's own summary.
  with warnings.catch_warnings(), _maze_files_removed():
    for field in ('code_permalink', 'author_email', 'eval_env'):
      warnings.filterwarnings('ignore', message=f'`{field}` is set to None', category=UserWarning)
    dataset = minari.create_dataset_from_buffers(
        dataset_id, buffers, env=spec, action_space=env.action_space,
        observation_space=env.observation_space, algorithm_name=algorithm_name or 'dflow_jax',
        author={'dflow_jax'}, description=description or dataset_id, **refs)
  dataset.storage.update_metadata({DFLOW_KEY: {**dflow, 'package_versions': package_versions()}})
  return dataset_path(dataset_id)
