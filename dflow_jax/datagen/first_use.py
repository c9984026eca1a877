"""A regenerable dataset that is not local yet, made on first use.

The run asks for `dflow/...`; if it is not under MINARI_DATASETS_PATH, a local copy of the
published dataset it stands in for is used, else it is regenerated from shared/data (minutes,
once), else the run is refused in one line that names the command that gets it. Nothing is
downloaded. An exclusive file lock per dataset means two runs that start together generate it
once: the second waits, then finds it complete (minari_io.is_local checks our metadata, which
minari_write writes last).
"""
import contextlib
import fcntl
import time

from dflow_jax.data import IN_MEMORY, DatasetError, minari_io, registry

# Rough generation time per million steps on a 2-core CPU (measured: pointmaze umaze 28 s, hopper
# mixed 99 s, door expert 231 s; OGBench cube-single play 3,785 s in one process, made by one
# worker per core), to say how long the first use takes.
SECONDS_PER_MILLION = {'pointmaze': 30, 'mujoco': 100, 'adroit': 250, 'ogbench': 1900}
LOCKS_DIR = '.locks'


@contextlib.contextmanager
def dataset_lock(dataset_id: str):
  """Holds an exclusive lock on `dataset_id` (a file under MINARI_DATASETS_PATH/.locks)."""
  locks = minari_io.datasets_root() / LOCKS_DIR
  locks.mkdir(parents=True, exist_ok=True)
  with open(locks / (dataset_id.replace('/', '__') + '.lock'), 'w') as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(handle, fcntl.LOCK_UN)


def expected_time(dataset_id: str) -> str:
  """'about 4 min' (or 'under a minute'): the first use's generation time on a 2-core CPU."""
  from dflow_jax.datagen import recipes
  recipe = recipes.recipe(dataset_id)
  rate = SECONDS_PER_MILLION.get(recipe.eval_env.get('family'), max(SECONDS_PER_MILLION.values()))
  minutes = recipe.default_steps / 1e6 * rate / 60
  return 'under a minute' if minutes < 1 else f'about {minutes:.0f} min'


def obtain(dataset_id: str, log=print, quiet: bool = True) -> str:
  """The id of a local dataset to train on for `dataset_id`: itself when local, a local copy of
  the published one it stands in for, or itself once regenerated. Raises DatasetError (one line)
  when none can be had."""
  if dataset_id in IN_MEMORY or '/' not in dataset_id or minari_io.is_local(dataset_id):
    return dataset_id
  published = registry.published_equivalent(dataset_id)
  if dataset_id in registry.REGENERABLE and published and minari_io.is_local(published):
    log(f'dataset: {dataset_id} is not local; using the local copy of the published {published}')
    return published
  if dataset_id not in registry.REGENERABLE:
    raise DatasetError(registry.missing_message(dataset_id, minari_io.datasets_root()))
  from dflow_jax.datagen import cli
  missing = cli.missing_shared_files_message(dataset_id)
  if missing:
    raise DatasetError(missing)
  with dataset_lock(dataset_id):
    if minari_io.is_local(dataset_id):  # another run made it while this one waited
      log(f'dataset: {dataset_id} was made by another run meanwhile')
      return dataset_id
    log(f'dataset: {dataset_id} is not local; regenerating it once ({expected_time(dataset_id)} '
        f'on a 2-core CPU), as `python -m dflow_jax.datagen generate {dataset_id}` does')
    started = time.perf_counter()
    try:
      summary = cli.generate(dataset_id, None, 0, quiet=quiet)
    except OSError as e:  # an unwritable MINARI_DATASETS_PATH, a full disk
      raise DatasetError(f'cannot write {dataset_id} under {minari_io.datasets_root()}: '
                         f'{e.strerror or e} ({e.filename or "MINARI_DATASETS_PATH"})') from None
    log(f'dataset: wrote {summary["steps"]} steps to {summary["path"]} in '
        f'{time.perf_counter() - started:.0f} s')
  return dataset_id
