"""Restoring a checkpoint, with one line saying whether it is damaged or does not fit the run."""
import json
import os

from dflow_jax.cli import restore_stderr, silence_stderr, stderr_after_failure
from dflow_jax.config import ConfigError


def _reason(error: Exception) -> str:
  return ' '.join(str(error).split()).split('. ')[0][:200] or type(error).__name__


def restore_checked(checkpointer, abstract, step: int):
  """The seed-stacked states saved at `step`, restored against `abstract`.

  Raises ConfigError naming the step and what to do: a damaged checkpoint (unreadable metadata or
  array data) is told apart from one whose shapes differ from the config's. The caller must not
  close `checkpointer` after a failure: Orbax's event-loop thread then prints tracebacks.
  """
  step_dir = os.path.join(checkpointer.directory, str(step))
  damaged = (f'the checkpoint at step {step} in {checkpointer.directory} is damaged'
             '{reason}; delete ' + step_dir + ' to use an earlier one, or retrain')
  metadata = os.path.join(step_dir, 'default', '_METADATA')
  if os.path.exists(metadata):
    try:
      with open(metadata) as f:
        json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
      raise ConfigError(damaged.format(reason=f' (its _METADATA cannot be read: {_reason(e)})')
                        ) from None
  stored = checkpointer.stored_shapes(step)
  # Checked before restoring: a failed Orbax restore leaves threads that print at exit.
  if stored is not None and stored != checkpointer.shapes_of(abstract):
    raise ConfigError(f'the checkpoint at step {step} does not match config.json (num_seeds, '
                      'network sizes or dataset changed?): its array shapes differ')
  # A failed restore leaves Orbax threads that print tracebacks until the process exits: for the
  # command line, stderr stays silenced then, and the refusal's one line goes to the real one.
  silence_stderr()
  try:
    states = checkpointer.restore(abstract, step)
    restore_stderr()
    return states
  except Exception as e:  # Orbax raises many types for unreadable or cut array data
    stderr_after_failure()
    if stored is None:  # shapes unknown: either cause is possible
      raise ConfigError(f'the checkpoint at step {step} cannot be restored against config.json '
                        f'(damaged, or num_seeds, network sizes or dataset changed?): '
                        f'{_reason(e)}') from None
    raise ConfigError(damaged.format(reason=f' (its array data cannot be read: {_reason(e)})')
                      ) from None
