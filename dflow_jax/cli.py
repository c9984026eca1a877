"""What the command-line entry points share: one-line refusals of bad input, with status 2."""
import difflib
import errno
import json
import os
import re
import sys

from absl import flags

from dflow_jax.config import AgentConfig, base_config, flat_config, not_sweepable_message

EXIT_BAD_INPUT = 2


# Training stopped on a chunk whose metrics or parameters were not finite (guard.py).
EXIT_NONFINITE = 3


def refuse(message: str):
  """Prints the one line and exits at once. os._exit skips interpreter shutdown, where Orbax's
  background event loop can print tracebacks after a failed restore; nothing needs saving here."""
  sys.stdout.flush()
  sys.stderr.flush()
  # Background threads (Orbax) must not add lines after ours: stderr is silenced first, and the
  # line goes to a copy of it kept for this one write.
  terminal = silence_stderr()
  os.write(terminal, f'error: {message}\n'.encode())
  os._exit(EXIT_BAD_INPUT)


_terminal_fd = None  # the real stderr while file descriptor 2 is silenced
# Set by the command-line entry points, which exit at once after a refusal: stderr then stays
# silenced after a failed restore. A library caller (a notebook, a test) gets it back.
_exits_on_refusal = False


def exit_on_refusal():
  global _exits_on_refusal
  _exits_on_refusal = True


def stderr_after_failure():
  """After a failed restore: stderr stays silenced for a process about to exit (`refuse`
  writes its line to the real one), and comes back for anything else."""
  if not _exits_on_refusal:
    restore_stderr()


def silence_stderr() -> int:
  """Points file descriptor 2 at /dev/null (Python's and C's writes alike) and returns a copy of
  the real stderr, which `refuse` writes its line to. Used around an Orbax restore that may fail:
  its event-loop thread then prints tracebacks at any moment until the process exits."""
  global _terminal_fd
  if _terminal_fd is None:
    sys.stderr.flush()
    _terminal_fd = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
  return _terminal_fd


def restore_stderr():
  """Undoes `silence_stderr`."""
  global _terminal_fd
  if _terminal_fd is not None:
    sys.stderr.flush()
    os.dup2(_terminal_fd, 2)
    os.close(_terminal_fd)
    _terminal_fd = None


def one_line(error: BaseException) -> str:
  """The last line of an exception's message, whitespace collapsed (its type if it has none)."""
  lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
  return lines[-1] if lines else type(error).__name__


def unknown_key_message(argv) -> str | None:
  """For the first `--config.a.b=...` naming no key of the schema: the key and the closest
  known keys (None when every override names a known key)."""
  known = sorted(flat_config(json.loads(base_config().to_json())))
  sections = sorted({key.rsplit('.', 1)[0] for key in known if '.' in key})
  for arg in argv[1:]:
    match = re.match(r'--config\.([\w.]+)(=|$)', arg)
    if not match or match.group(1) in known or match.group(1) in sections:
      continue
    key = match.group(1)
    if key.startswith('sweep.agent.') and key.count('.') == 2:
      if key.split('.')[-1] in AgentConfig.__dataclass_fields__:
        return not_sweepable_message(key.split('.')[-1])
    closest = difflib.get_close_matches(key, known + sections, n=3, cutoff=0.5)
    hint = (f'closest: {", ".join(closest)}' if closest else
            f'top-level keys: {", ".join(k for k in known if "." not in k)}')
    return f'config.{key} is not a known key ({arg}); {hint}'
  return None


def _config_file(argv) -> str:
  for arg in argv[1:]:
    if arg.startswith('--config='):
      return arg[len('--config='):].split(':')[0]
  return 'the --config file'


def parse_flags(argv):
  """absl parsing, with a one-line message and status 2 for an unknown or malformed flag, or a
  --config file that cannot be loaded (missing, a syntax error, a failing import or get_config)."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:
    refuse(unknown_key_message(argv) or _load_failure(_config_file(argv), e))


def _load_failure(path: str, e: Exception) -> str:
  if isinstance(e, FileNotFoundError) or (isinstance(e, OSError) and e.errno == errno.ENOENT):
    return f'config file not found: {path}'
  if isinstance(e, SyntaxError):
    return f'{path} line {e.lineno}: SyntaxError: {e.msg}'
  if isinstance(e, ImportError):
    return f'{path} fails to import: {type(e).__name__}: {one_line(e)}'
  if isinstance(e, AttributeError) and 'get_config' in str(e):
    return f'{path} defines no get_config() (it must return an ml_collections.ConfigDict)'
  if isinstance(e, (flags.Error, ValueError, KeyError, TypeError, AttributeError)):
    # absl prefixes an error raised inside a config file's get_config with its class path.
    return re.sub(r'^(\w+\.)+\w*Error: ', '', one_line(e))
  return f'{path}: get_config() failed: {type(e).__name__}: {one_line(e)}'
