"""Transitions with nan or inf: found per field, then refused in one line or dropped with a count."""
import numpy as np

from dflow_jax.errors import DatasetError

# The fields a transition's learning signal is read from; a non-finite value in any of them
# makes every loss that samples the transition nan.
CHECKED_FIELDS = ('observations', 'actions', 'rewards', 'next_observations')


def nonfinite_rows(arrays: dict) -> dict:
  """{field: boolean mask [N] of the rows with a nan or inf in that field} for CHECKED_FIELDS."""
  masks = {}
  for field in CHECKED_FIELDS:
    values = np.asarray(arrays[field])
    masks[field] = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
  return masks


def check_or_drop(name: str, arrays: dict, drop: bool, log=print) -> dict:
  """`arrays` when every checked field is finite. Otherwise, with `drop`, the arrays without the
  transitions that have a non-finite value (saying how many went, in one line); without it,
  DatasetError naming each bad field and its count of bad rows."""
  masks = nonfinite_rows(arrays)
  bad = np.any(np.stack(list(masks.values())), axis=0)
  if not bad.any():
    return arrays
  counts = ', '.join(f'{field} ({int(mask.sum())} rows)' for field, mask in masks.items()
                     if mask.any())
  size = bad.shape[0]
  if not drop:
    raise DatasetError(f'dataset {name} has nan or inf values in {counts} of {size} '
                       'transitions; fix the data, or pass --config.drop_nonfinite=True to drop '
                       'those transitions')
  kept = int(size - bad.sum())
  if kept == 0:
    raise DatasetError(f'dataset {name}: every one of its {size} transitions has a nan or inf '
                       f'value ({counts}); there is nothing left to train on')
  log(f'dropped {int(bad.sum())} of {size} transitions of {name} with nan or inf values in '
      f'{counts}')
  return {key: np.asarray(value)[~bad] for key, value in arrays.items()}
