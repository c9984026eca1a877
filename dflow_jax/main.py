"""Train Decision Flow for many seeds at once.

  python -m dflow_jax.main --config=experiments/toy.py --workdir=runs/toy \
      --config.num_seeds=16 --config.agent.variant=div --config.agent.rho=0.3

The first lines name the task (and, for a family's default, how to choose another) and the JAX
backend and devices. Running the same command again resumes from the workdir's latest checkpoint. Ctrl-C saves a
checkpoint and exits (status 130). Bad configuration exits with status 2 and a one-line message.
Metrics or parameters that stop being finite stop the run before that chunk is saved, with one
line and status 3; the workdir keeps its last good checkpoint, to resume from after a fix.
Variants and Decision Flow settings can share one pre-training:

  python -m dflow_jax.main --config=experiments/toy.py --workdir=runs/toy-dir \
      --config.agent.variant=dir --init_from=runs/toy-div
"""
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from dflow_jax.cli import EXIT_NONFINITE, exit_on_refusal, parse_flags, refuse

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', 'experiments/toy.py', 'Experiment config file.',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Where config, metrics and checkpoints go '
                    '(default: runs/<dataset>-<variant>).')
flags.DEFINE_string('init_from', None, 'A run whose pre-training (critic and behaviour phases) '
                    'this one shares: a new workdir starts at its Decision Flow start. Only '
                    'Decision Flow settings (variant, alpha, lambda_dir, rho, lambda_div, ...) may '
                    'differ.')

flags.DEFINE_bool('multihost', False, 'One process of a run over several hosts: starts JAX\'s '
                  'distributed runtime (jax.distributed.initialize) before anything else. The '
                  'coordinator, process count and id come from the flags below or from what '
                  'JAX reads itself (its environment variables or the cluster: Slurm, ...).')
flags.DEFINE_string('coordinator_address', None, '--multihost: host:port of process 0.')
flags.DEFINE_integer('num_processes', None, '--multihost: how many processes the run has.')
flags.DEFINE_integer('process_id', None, '--multihost: this process\'s index (0 writes the '
                     'files).')

EXIT_INTERRUPTED = 130


def default_workdir(config) -> str:
  return os.path.join('runs', f'{config.dataset.replace("/", "-")}-{config.agent.variant}')


def header_lines(config) -> list[str]:
  """What the run trains and on which devices: its first lines of output."""
  import jax

  from dflow_jax.presets import task_line
  from dflow_jax.runtime.budget import budget_line
  devices = jax.devices()
  lines = [task_line(FLAGS['config'].config_filename, config.dataset), budget_line(config),
           f'devices: {jax.default_backend()}, {len(devices)} x {devices[0].device_kind} '
           f'({", ".join(str(d) for d in devices)})']
  if jax.process_count() > 1:
    lines.append(f'processes: {jax.process_count()} ({jax.local_device_count()} devices in '
                 'each host\'s share; process 0 writes the files)')
  return lines


def main(argv):
  if len(argv) > 1:
    refuse(f'unexpected arguments: {" ".join(argv[1:])}')
  exit_on_refusal()
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
  if FLAGS.multihost:
    start_distributed()
  # Imported here so that flag errors come back before JAX loads.
  from dflow_jax.config import ConfigError
  from dflow_jax.data import DatasetError
  from dflow_jax.runtime import guard, run

  try:
    config = FLAGS.config
    config.keys()  # a file that failed to load is a stand-in that raises on first use
  except OSError as e:  # config_flags loads the file lazily, on first access
    reason = str(e).strip().splitlines()[-1].strip()
    refuse(f'could not load the --config file: {reason}')
  workdir = FLAGS.workdir or default_workdir(config)
  from dflow_jax.runtime.workdir import workdir_problem
  problem = workdir_problem(workdir)
  if problem:
    refuse(problem)
  import jax
  log = print if jax.process_index() == 0 else (lambda line: None)  # process 0 speaks for all
  stop = run.StopRequest()
  stop.install()
  try:
    from dflow_jax.config import validate
    from dflow_jax.datagen.first_use import obtain
    validate(config)  # a bad config is refused before minutes of dataset generation
    config.dataset = obtain(config.dataset, log, quiet=not config.progress_bar)
    run.train_and_evaluate(config, workdir, stop, init_from=FLAGS.init_from,
                           header=header_lines(config), log=log)
  except (ConfigError, DatasetError) as e:
    refuse(str(e))
  except run.Interrupted as e:
    print(str(e), file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)
  except guard.NonFinite as e:
    sys.stdout.flush()
    print(f'error: {e}', file=sys.stderr)
    sys.exit(EXIT_NONFINITE)


def start_distributed():
  """jax.distributed.initialize with the flags given (None: JAX's own discovery); one line and
  status 2 when it cannot start."""
  import jax
  try:
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
  except Exception as e:  # a missing coordinator, a bad address, a timeout: many types
    from dflow_jax.cli import one_line
    refuse(f'--multihost: the distributed runtime did not start ({type(e).__name__}: '
           f'{one_line(e)}); give --coordinator_address, --num_processes and --process_id, '
           'or run where JAX finds them itself')


def entry_point():
  app.run(main, flags_parser=parse_flags)


if __name__ == '__main__':
  entry_point()
