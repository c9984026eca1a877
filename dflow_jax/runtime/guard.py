"""Stopping a run whose metrics or parameters stopped being finite, and resuming it after a fix.

Each training chunk returns, per seed, whether its metrics and its updated state stayed finite
(train.finite_per_seed, computed on the device with the metrics). On the first chunk that did
not, the run stops before saving a checkpoint of it: the last good checkpoint stays the latest,
and `nonfinite_stop.json` in the workdir records the stop. The next run in that workdir may then
lower the learning rate (RECOVERY_CHANGES) and resumes from the last good checkpoint.
"""
import json
import os

import numpy as np

STOP_RECORD = 'nonfinite_stop.json'
# Keys that a run resuming after a non-finite stop may change besides the resumable ones.
RECOVERY_CHANGES = frozenset({'agent.learning_rate'})


class NonFinite(Exception):
  """A chunk's metrics or parameters held nan or inf; nothing of that chunk was saved."""

  def __init__(self, seeds, first, start: int, end: int, last_good, checkpoint_dir: str):
    seeds_text = ', '.join(map(str, seeds))
    kept = (f'the last good checkpoint, step {last_good} in {checkpoint_dir}, is kept'
            if last_good is not None else 'no checkpoint had been saved yet')
    super().__init__(
        f'non-finite values in seed{"s" if len(seeds) > 1 else ""} {seeds_text} during updates '
        f'{start + 1}-{end} (first: {first}); stopped without saving them: {kept}; fix the cause '
        '(a lower --config.agent.learning_rate is accepted on resumption, or fix the data) and '
        'run again to resume')
    self.seeds, self.first, self.start, self.end, self.last_good = (
        list(seeds), first, start, end, last_good)


def check_chunk(metrics: dict, finite: dict, start: int, end: int, last_good,
                checkpoint_dir: str) -> None:
  """Raises NonFinite when a seed's flags (host copies of the chunk's `finite`) are False.

  The flags decide; the metrics (already on the host) only name the first non-finite one.
  """
  ok = np.asarray(finite['metrics']) & np.asarray(finite['parameters'])
  if ok.all():
    return
  seeds = [int(s) for s in np.flatnonzero(~ok)]
  first = next((name for name in sorted(metrics)
                if not np.isfinite(np.asarray(metrics[name])[seeds]).all()), 'parameters')
  raise NonFinite(seeds, first, start, end, last_good, checkpoint_dir)


def write_stop_record(workdir: str, stop: NonFinite) -> None:
  with open(os.path.join(workdir, STOP_RECORD), 'w') as f:
    json.dump({'seeds': stop.seeds, 'first': stop.first, 'updates': [stop.start + 1, stop.end],
               'last_good_checkpoint': stop.last_good}, f, indent=2)


def read_stop_record(workdir: str) -> dict | None:
  """The record of the non-finite stop that ended the workdir's last run (None if it did not)."""
  try:
    with open(os.path.join(workdir, STOP_RECORD)) as f:
      record = json.load(f)
  except (OSError, ValueError):
    return None
  # A record that is not ours allows nothing.
  if not isinstance(record, dict) or not {'updates', 'first'} <= set(record):
    return None
  return record


def clear_stop_record(workdir: str) -> None:
  """Called once a run has resumed past the checks: the stop is behind it."""
  path = os.path.join(workdir, STOP_RECORD)
  if os.path.exists(path):
    os.remove(path)
