"""Local Minari datasets: writing the ones we regenerate, reading any one as transitions.

Downloaded (`D4RL/...`, `mujoco/...`) and regenerated (`dflow/...`) datasets live side by side
under `MINARI_DATASETS_PATH` (Minari's default: `~/.minari/datasets`) and are read by the same
code. Nothing here touches the network.
"""
import dataclasses
import importlib.metadata
import os
import platform
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dflow_jax.data.episodes import Episode

# Our own metadata lives under this key of the dataset's metadata.json.
DFLOW_KEY = 'dflow'
PACKAGES = ('dflow_jax', 'minari', 'gymnasium', 'gymnasium_robotics', 'mujoco', 'numpy', 'jax')


def datasets_root() -> Path:
  return Path(os.environ.get('MINARI_DATASETS_PATH', Path.home() / '.minari' / 'datasets'))


def dataset_path(dataset_id: str) -> Path:
  """Where Minari keeps `dataset_id` (its data/ folder holds metadata.json and the HDF5)."""
  return datasets_root() / dataset_id


def is_local(dataset_id: str) -> bool:
  return (dataset_path(dataset_id) / 'data' / 'metadata.json').is_file()


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
      truncations=np.asarray(episode.truncations, bool), infos={})


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
  dataset = minari.create_dataset_from_buffers(
      dataset_id, buffers, env=spec, action_space=env.action_space,
      observation_space=env.observation_space, algorithm_name=algorithm_name or 'dflow_jax',
      author={'dflow_jax'}, description=description or dataset_id, **refs)
  dataset.storage.update_metadata({DFLOW_KEY: {**dflow, 'package_versions': package_versions()}})
  return dataset_path(dataset_id)


def read_metadata(dataset_id: str) -> dict:
  from minari.dataset.minari_storage import MinariStorage
  return MinariStorage.read_raw_metadata(dataset_path(dataset_id) / 'data')


def flatten_observation(observation) -> np.ndarray:
  """A dict observation as one array: keys in sorted order (gymnasium's Dict order), each
  flattened over its trailing axes and concatenated; nested dicts likewise. PointMaze thus gives
  [achieved_goal (2), desired_goal (2), observation (4)]."""
  if not isinstance(observation, dict):
    observation = np.asarray(observation, np.float32)
    return observation.reshape(observation.shape[0], -1)
  parts = [flatten_observation(observation[key]) for key in sorted(observation)]
  return np.concatenate(parts, axis=-1)


def episode_transitions(observations, actions, rewards, terminations, truncations) -> dict:
  """One episode's arrays as transitions (numpy): the step t pairs obs[t] with obs[t + 1]."""
  obs = flatten_observation(observations)
  actions = np.asarray(actions, np.float32).reshape(len(actions), -1)
  prev_actions = np.concatenate([np.zeros_like(actions[:1]), actions[:-1]], axis=0)
  return {
      'observations': obs[:-1], 'actions': actions,
      'rewards': np.asarray(rewards, np.float32),
      'next_observations': obs[1:],
      'terminals': np.asarray(terminations, np.float32),
      'timeouts': np.asarray(truncations, np.float32),
      'prev_actions': prev_actions,
  }


def read_transitions(dataset_id: str) -> tuple[dict, dict, list]:
  """(transitions as numpy arrays, metadata, per-episode returns) of a local dataset."""
  import minari
  dataset = minari.load_dataset(dataset_id)
  parts, returns = [], []
  for episode in dataset.iterate_episodes():
    parts.append(episode_transitions(episode.observations, episode.actions, episode.rewards,
                                     episode.terminations, episode.truncations))
    returns.append(float(np.sum(episode.rewards)))
  transitions = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
  return transitions, read_metadata(dataset_id), returns
