"""Whether a run can write its workdir (or datagen its datasets folder), asked before any data is
loaded or anything compiled."""
import os
import tempfile


def workdir_problem(workdir: str, name: str = '--workdir') -> str | None:
  """One line saying why `workdir` (given as `name`) cannot be written (None when it can).
  Creates nothing: a probe file is made and removed in the nearest existing directory."""
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    return f'{name} {workdir} is a file, not a directory: choose another'
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    return f'{name} {workdir} lies under {existing}, which is a file: choose another'
  try:  # os.access says yes to root where a real write fails
    handle, probe = tempfile.mkstemp(dir=existing, prefix='.dflow_write_probe_')
    os.close(handle)
    os.remove(probe)
  except OSError as e:
    return f'{name} {workdir} cannot be written ({existing}: {e.strerror}): choose another'
  return None
