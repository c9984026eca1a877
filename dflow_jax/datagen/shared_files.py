"""Files from shared/data (expert policies, demos, D4RL reference scores), read in place.

They are never copied into the project; `$DFLOW_SHARED_DATA` points elsewhere when needed.
"""
import functools
import json
import os
from pathlib import Path

import numpy as np


def shared_data_dir() -> Path:
  """shared/data beside the project root, or `$DFLOW_SHARED_DATA` when set."""
  override = os.environ.get('DFLOW_SHARED_DATA')
  if override:
    return Path(override)
  return Path(__file__).resolve().parents[2].parent / 'shared' / 'data'


def load_npz(relative: str) -> dict[str, np.ndarray]:
  """All arrays of a shared/data `.npz`, loaded eagerly (the file is closed on return)."""
  path = shared_data_dir() / relative
  if not path.exists():
    raise FileNotFoundError(f'{path} not found; set DFLOW_SHARED_DATA to the shared/data folder')
  with np.load(path) as z:
    return {key: z[key] for key in z.files}


@functools.cache
def reference_table() -> dict[str, dict]:
  """D4RL's published {task: {min, max, horizon}} (reference_scores.json)."""
  with open(shared_data_dir() / 'reference_scores.json') as f:
    return json.load(f)
