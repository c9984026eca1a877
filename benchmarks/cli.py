"""The benchmark command line: Settings from options, then the run.

  python -m benchmarks [--smoke] [--only update,baseline,...] [--seeds 1,4,16,64] ...

Every Settings field is an option (underscores as dashes); lists are comma-separated.
`--smoke` starts from tiny sizes (benchmarks/settings.py: smoke_settings) instead of the full
defaults; options given explicitly override either.
"""
import argparse
import os

from benchmarks.eval_throughput import RECIPES
from benchmarks.run import Runner
from benchmarks.settings import LEVERS, SECTIONS, SMOKE_XLA_FLAGS, Settings, smoke_settings
from dflow_jax.config import VARIANTS


def _strings(text):
  return tuple(part.strip() for part in text.split(',') if part.strip())


def _ints(text):
  return tuple(int(part) for part in _strings(text))


def _optional_int(text):
  return None if text.lower() == 'none' else int(text)


def _optional_ints(text):
  return None if text.lower() == 'none' else _ints(text)


def _seeds_per_size(text):
  """'toy=8,door=1'"""
  return {name: int(value) for name, value in (part.split('=') for part in _strings(text))}


PARSERS = {
    'sections': _strings, 'sizes': _strings, 'variants': _strings, 'sweep_sizes': _strings,
    'sweep_variants': _strings, 'seeds': _ints, 'flow_steps': _ints,
    'steps_per_state': _strings, 'chunks': _ints, 'default_seeds': _seeds_per_size,
    'default_flow_steps': int, 'default_steps_per_state': str, 'default_chunk': int,
    'levers': _strings, 'lever_sizes': _strings, 'lever_variants': _strings,
    'baseline_sizes': _strings, 'baseline_variants': _strings,
    'pair_rounds': int, 'seed_group_seeds': int, 'eval_env': str, 'eval_seeds': _ints, 'eval_episodes': _ints,
    'eval_horizon': _optional_int, 'ceiling_square': int, 'ceiling_layer': _ints,
    'hidden': _optional_ints, 'batch_size': _optional_int, 'door_dataset_size': int,
    'budget_s': float, 'out_dir': str,
}


def parse_settings(argv=None) -> Settings:
  parser = argparse.ArgumentParser(prog='python -m benchmarks', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--smoke', action='store_true', help='tiny sizes, one call each')
  parser.add_argument('--only', type=_strings, help=f'sections among {",".join(SECTIONS)}')
  defaults = Settings()
  for name, parse in PARSERS.items():
    parser.add_argument('--' + name.replace('_', '-'), type=parse, default=None,
                        help=f'default {getattr(defaults, name)!r}')
  args = parser.parse_args(argv)
  overrides = {name: getattr(args, name) for name in PARSERS if getattr(args, name) is not None}
  if args.only is not None:
    overrides['sections'] = args.only
  settings = smoke_settings(**overrides) if args.smoke else Settings(**overrides)
  _check(parser, settings)
  return settings


def _check(parser, settings: Settings):
  for name, allowed in [('sections', SECTIONS), ('levers', LEVERS),
                        ('sizes', ('toy', 'door')), ('variants', VARIANTS)]:
    unknown = set(getattr(settings, name)) - set(allowed)
    if unknown:
      parser.error(f'unknown {name} {sorted(unknown)}; expected among {", ".join(allowed)}')
  for name in ('sweep_sizes', 'lever_sizes', 'baseline_sizes'):
    if set(getattr(settings, name)) - {'toy', 'door'}:
      parser.error(f'--{name.replace("_", "-")} takes toy and/or door')
  missing = set(settings.sizes) - set(settings.default_seeds)
  if missing:
    parser.error(f'--default-seeds lacks {sorted(missing)}')
  if settings.eval_env not in RECIPES:
    parser.error(f'--eval-env takes one of {", ".join(RECIPES)}')
  if len(settings.ceiling_layer) != 3:
    parser.error('--ceiling-layer takes batch,width,depth')


def main(argv=None) -> dict:
  settings = parse_settings(argv)
  if settings.smoke:
    os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {SMOKE_XLA_FLAGS}".strip()
  return Runner(settings).run()
