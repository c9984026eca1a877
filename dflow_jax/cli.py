"""What the command-line entry points share: one-line refusals of bad input, with status 2."""
import os
import re
import sys

from absl import flags

EXIT_BAD_INPUT = 2
# Training stopped on a chunk whose metrics or parameters were not finite (guard.py).
EXIT_NONFINITE = 3


def refuse(message: str):
  """Prints the one line and exits at once. os._exit skips interpreter shutdown, where Orbax's
  background event loop can print tracebacks after a failed restore; nothing needs saving here."""
  sys.stdout.flush()
  sys.stderr.write(f'error: {message}\n')
  sys.stderr.flush()
  # Background threads (Orbax) must not add lines after ours: silence stderr, then leave.
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, sys.stderr.fileno())
  os._exit(EXIT_BAD_INPUT)


def parse_flags(argv):
  """absl parsing, with a one-line message and status 2 for an unknown or malformed flag."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, KeyError, ValueError, AttributeError, TypeError) as e:
    line = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    # absl prefixes an error raised inside a config file's get_config with its class path.
    refuse(re.sub(r'^(\w+\.)+\w*Error: ', '', line))
  except FileNotFoundError as e:
    refuse(f'config file not found: {e.filename}')
