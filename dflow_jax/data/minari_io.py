"""Local Minari datasets: where they live and reading any one as transitions.

Downloaded (`D4RL/...`, `mujoco/...`) and regenerated (`dflow/...`) datasets live side by side
under `MINARI_DATASETS_PATH` (Minari's default: `~/.minari/datasets`) and are read by the same
code (datagen/minari_write.py writes ours). Nothing here touches the network.
"""
import json
import os
from pathlib import Path

import numpy as np

# Our own metadata lives under this key of the dataset's metadata.json.
DFLOW_KEY = 'dflow'


def datasets_root() -> Path:
  return Path(os.environ.get('MINARI_DATASETS_PATH', Path.home() / '.minari' / 'datasets'))


def dataset_path(dataset_id: str) -> Path:
  """Where Minari keeps `dataset_id` (its data/ folder holds metadata.json and the HDF5)."""
  return datasets_root() / dataset_id


def is_local(dataset_id: str) -> bool:
  """Whether `dataset_id` is under MINARI_DATASETS_PATH. One we regenerate counts only when
  complete: datagen/minari_write.py writes our metadata after everything else."""
  metadata = dataset_path(dataset_id) / 'data' / 'metadata.json'
  if not metadata.is_file():
    return False
  from dflow_jax.data.registry import REGENERABLE
  if dataset_id not in REGENERABLE:
    return True
  try:
    return DFLOW_KEY in json.loads(metadata.read_text())
  except (OSError, ValueError):  # unreadable: the loader says how it is damaged
    return True


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
  return {
      'observations': obs[:-1], 'actions': actions,
      'rewards': np.asarray(rewards, np.float32),
      'next_observations': obs[1:],
      'terminals': np.asarray(terminations, np.float32),
      'timeouts': np.asarray(truncations, np.float32),
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
