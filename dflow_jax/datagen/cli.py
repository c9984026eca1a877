"""Regenerates a benchmark dataset offline as a local Minari dataset.

  python -m dflow_jax.datagen generate NAME [--steps N] [--seed S]
  python -m dflow_jax.datagen list

(`python -m dflow_jax.data ...` is the same command.)

The dataset is written under MINARI_DATASETS_PATH (default ~/.minari/datasets) with its
provenance (generator, seed, env id and version, package versions) and reference scores in the
metadata, and is then read by the same loader as a downloaded one. A histogram of its episode
returns is written beside it (<dataset>/return_histogram.png).
"""
import argparse
import sys
import time

from dflow_jax.config import MAX_SEED
from dflow_jax.data import minari_io, registry
from dflow_jax.datagen import minari_write, recipes, return_histogram
from dflow_jax.runtime.workdir import workdir_problem


class _OneLineParser(argparse.ArgumentParser):
  """argparse that reports bad arguments in one line (no usage block), status 2."""

  def error(self, message):
    _refuse(f'{message} (see python -m dflow_jax.datagen --help)')


def _refuse(message: str):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def missing_shared_files_message(name: str) -> str | None:
  """One line naming the shared/data files `name` is regenerated from that are not here, where
  they come from, and the published dataset to download instead (None when all are here)."""
  from dflow_jax.datagen.shared_files import shared_data_dir
  root = shared_data_dir()
  missing = [f for f in recipes.shared_files_needed(name) if not (root / f).is_file()]
  if not missing:
    return None
  sources = sorted({source for prefix, source in recipes.SHARED_SOURCES.items()
                    for f in missing if f.startswith(prefix)})
  published = registry.published_equivalent(name)
  download = (f'or download the published data with `minari download {published}`'
              if published else 'no published Minari dataset has this mix')
  return (f'{name} is regenerated from {", ".join(missing)}, not found in {root} (set '
          f'DFLOW_SHARED_DATA to the folder holding them): {"; ".join(sources)}; {download}')


def _parser():
  parser = _OneLineParser(prog='python -m dflow_jax.datagen', description=__doc__.split(
      '\n')[0])
  commands = parser.add_subparsers(dest='command', required=True)
  generate = commands.add_parser('generate', help='regenerate one dataset')
  generate.add_argument('name', help='e.g. dflow/pointmaze/umaze-v2 (see `list`)')
  generate.add_argument('--steps', type=int, default=None, help='environment steps to record')
  generate.add_argument('--seed', type=int, default=0)
  generate.add_argument('--quiet', action='store_true', help='no progress bar')
  commands.add_parser('list', help='the datasets that can be regenerated here')
  return parser


def generate(name: str, steps: int | None, seed: int, quiet: bool = False) -> dict:
  """Builds and writes the dataset; returns its summary (also printed by the CLI)."""
  from tqdm import tqdm
  recipe = recipes.recipe(name)
  steps = recipe.default_steps if steps is None or recipe.fixed_size else steps
  started = time.perf_counter()
  with tqdm(total=steps, desc=f'generate {name}', unit='step', disable=quiet,
            dynamic_ncols=True) as bar:
    episodes = list(recipe.episodes(steps, seed, bar.update))  # generators report steps added
  generation_s = time.perf_counter() - started
  refs = recipe.reference_scores()
  env = recipe.make_env()
  dflow = {
      'generator': f'dflow_jax.datagen.recipes:{name}', 'seed': seed, 'steps': steps,
      'env_id': env.spec.id, 'env_kwargs': dict(env.spec.kwargs),
      'eval_env': recipe.eval_env, 'reference_scores': refs,
      'generation_seconds': round(generation_s, 1),
  }
  returns = [episode.episode_return for episode in episodes]
  noise_levels = None
  if any(episode.noise_level is not None for episode in episodes):  # varied per episode
    noise_levels = [episode.noise_level for episode in episodes]
    dflow['episode_noise_levels'] = [round(level, 4) for level in noise_levels]
    dflow['episode_returns'] = [round(r, 4) for r in returns]
  path = minari_write.write_dataset(
      name, episodes, env=env, dflow=dflow, ref_min_score=refs.get('ref_min_score'),
      ref_max_score=refs.get('ref_max_score'), description=recipe.description)
  env.close()
  histogram = return_histogram.write(path / return_histogram.FILENAME, returns, noise_levels,
                                     title=name)
  summary = {
      'path': str(path), 'episodes': len(episodes), 'steps': sum(map(len, episodes)),
      'mean_return': sum(returns) / len(returns), 'generation_seconds': generation_s,
      'reference_scores': refs, 'return_histogram': str(histogram),
  }
  return summary


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  if args.command == 'list':
    for name in sorted(recipes.BUILDERS):
      print(name)
    for name, download in sorted(registry.NOT_REPRODUCIBLE.items()):
      print(f'{name}  (not reproducible offline: download {download})')
    return 0
  if args.name not in recipes.BUILDERS:
    _refuse(registry.missing_message(args.name, minari_io.datasets_root())
            if args.name in registry.NOT_REPRODUCIBLE else
            f'{args.name!r} cannot be generated here; see `python -m dflow_jax.datagen list`')
  if args.steps is not None and args.steps < 1:
    _refuse(f'--steps = {args.steps} is invalid: must be an integer >= 1')
  if not 0 <= args.seed <= MAX_SEED:
    _refuse(f'--seed = {args.seed} is invalid: must be an integer in [0, {MAX_SEED}]')
  missing = missing_shared_files_message(args.name)
  if missing:
    _refuse(missing)
  unwritable = workdir_problem(str(minari_io.datasets_root()), 'MINARI_DATASETS_PATH')
  if unwritable:
    _refuse(unwritable)
  try:
    summary = generate(args.name, args.steps, args.seed, args.quiet)
  except OSError as e:  # an unwritable MINARI_DATASETS_PATH, a full disk
    _refuse(f'cannot write {args.name} under {minari_io.datasets_root()}: '
            f'{e.strerror or e} ({e.filename or "MINARI_DATASETS_PATH"})')
  print(f'wrote {summary["episodes"]} episodes, {summary["steps"]} steps to {summary["path"]} '
        f'in {summary["generation_seconds"]:.0f} s; mean return {summary["mean_return"]:.1f}')
  for key, value in summary['reference_scores'].items():
    print(f'  {key}: {value}')
  print(f'return histogram: {summary["return_histogram"]}')
  return 0
