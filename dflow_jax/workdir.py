"""Whether a run can write its workdir, asked before any data is loaded or anything compiled."""
import os
import tempfile


def workdir_problem(workdir: str) -> str | None:
  """One line saying why `workdir` cannot hold a run (None when it can). Creates nothing: a
  probe file is made and removed in the nearest existing directory."""
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    return f'--workdir {workdir} is a file, not a directory: choose another --workdir'
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    return f'--workdir {workdir} lies under {existing}, which is a file: choose another --workdir'
  try:  # os.access says yes to root on read-only mounts; a real write does not
    handle, probe = tempfile.mkstemp(dir=existing, prefix='.dflow_write_probe_')
    os.close(handle)
    os.remove(probe)
  except OSError as e:
    return (f'--workdir {workdir} cannot be written ({existing}: {e.strerror}): choose a '
            'writable --workdir')
  return None
