"""Runs side by side: a markdown table of their final scores and one learning-curve figure.

  python -m dflow_jax.compare --workdirs=runs/bc,runs/div,runs/dir [--out=runs/hopper]
  python -m dflow_jax.compare --workdirs=runs/bc,runs/rho-sweep:0,runs/rho-sweep:2   # settings
  python -m dflow_jax.compare --workdirs=runs/bc,runs/rho-sweep:*   # every setting of a sweep
  python -m dflow_jax.compare --workdirs=runs/bc,runs/rho-sweep:best   # its setting chosen on
                                                                      # the validation episodes

The first workdir is the baseline: every row also gives the probability that a seed of that run
beats a seed of the baseline. Scores are each run's `final_eval.json` (the per-seed means of its
last evaluation's test episodes), beside the mean of its validation episodes; `RUN:best` is the
setting the sweep chose on its validation episodes, never on the test ones. The figure draws
each run's evaluations over training (mean over seeds, 95% bootstrap band) on one axis. Bad
input exits with status 2 and one line.
"""
import json
import os

import numpy as np
from absl import app, flags

from dflow_jax import sweep
from dflow_jax.cli import parse_flags, refuse
from dflow_jax.reporting import plots, scores, sweep_report

FLAGS = flags.FLAGS
flags.DEFINE_list('workdirs', None, 'Runs to compare; the first is the baseline.')
flags.DEFINE_string('out', None, 'Where comparison.md and comparison.png go (default: the '
                    'first workdir\'s parent).')


def _run_and_setting(spec: str) -> tuple[str, int | None]:
  """'runs/sweep:2' -> ('runs/sweep', 2): setting 2 of a sweep; 'runs/sweep:best' -> the setting
  that sweep chose on its validation episodes; a plain path -> (path, None)."""
  path, _, setting = spec.rpartition(':')
  if path and setting.isdigit():
    return path, int(setting)
  if path and setting == 'best':
    return path, chosen_setting(path)
  return spec, None


def _final_eval(workdir: str) -> dict:
  path = os.path.join(workdir, 'final_eval.json')
  if not os.path.isfile(path):
    raise ValueError(f'{workdir} holds no final_eval.json: not a finished run')
  with open(path) as f:
    return json.load(f)


def chosen_setting(workdir: str) -> int:
  """The setting of a finished sweep with the best mean on its validation episodes (on the test
  episodes only for a run that played none, which sweep_summary.md says)."""
  saved = _final_eval(workdir)
  if 'sweep' not in saved:
    raise ValueError(f'{workdir} is not a sweep: name it without :best')
  return sweep_report.best(saved['sweep']['settings'])['setting']


def _sweep_row(workdir: str, saved: dict, setting: int | None) -> dict:
  rows = saved['sweep']['settings']
  if setting is None or not 0 <= setting < len(rows):
    raise ValueError(f'{workdir} is a sweep of {len(rows)} settings: name one as '
                     f'{workdir}:K, K in 0-{len(rows) - 1} (the rows of its sweep_summary.md), '
                     f'or {workdir}:best')
  return rows[setting]


def final_scores(spec: str) -> np.ndarray:
  """Per-seed final test scores of a finished run (its final_eval.json); `WORKDIR:K` names
  setting K of a sweep, `WORKDIR:best` the one chosen on validation."""
  workdir, setting = _run_and_setting(spec)
  saved = _final_eval(workdir)
  if 'sweep' in saved:
    return np.asarray(_sweep_row(workdir, saved, setting)['per_seed'], np.float64)
  if setting is not None:
    raise ValueError(f'{workdir} is not a sweep: name it without :{setting}')
  key = 'normalized' if 'normalized' in saved else 'returns'
  if key not in saved:
    raise ValueError(f'{workdir}/final_eval.json holds no environment scores (a toy task?)')
  return np.asarray(saved[key], np.float64)


def validation_scores(spec: str) -> np.ndarray | None:
  """Per-seed final validation scores of a finished run (None where it played none)."""
  workdir, setting = _run_and_setting(spec)
  saved = _final_eval(workdir)
  if 'sweep' in saved:
    validation = _sweep_row(workdir, saved, setting).get('validation')
    return None if validation is None else np.asarray(validation['per_seed'], np.float64)
  validation = saved.get('validation')
  key = 'normalized' if 'normalized' in saved else 'return'
  if not validation or key not in validation:
    return None
  return np.asarray(validation[key], np.float64)


def expand_settings(specs: list[str]) -> list[str]:
  """Each 'WORKDIR:*' replaced by WORKDIR:0 .. WORKDIR:K-1, every setting of that finished
  sweep; other specs as they are."""
  expanded = []
  for spec in specs:
    if not spec.endswith(':*'):
      expanded.append(spec)
      continue
    workdir = spec[:-2]
    try:
      with open(os.path.join(workdir, 'final_eval.json')) as f:
        count = len(json.load(f)['sweep']['settings'])
    except OSError:
      raise ValueError(f'{workdir} holds no final_eval.json: not a finished run') from None
    except (ValueError, KeyError, TypeError):
      raise ValueError(f'{spec}: {workdir} is not a sweep; name it without :*') from None
    expanded += [f'{workdir}:{k}' for k in range(count)]
  return expanded


def table(workdirs: list[str]) -> str:
  """Markdown: per run, the test mean [95% CI], IQM, P(run > baseline) and seeds, and the mean
  of its validation episodes (what `:best` chose on)."""
  baseline = final_scores(workdirs[0])
  lines = ['| run | test mean [95% CI] | IQM | P(> first) | validation mean | per seed (test) |',
           '| --- | --- | --- | --- | --- | --- |']
  for workdir in workdirs:
    per_seed = final_scores(workdir)
    summary = scores.aggregate(per_seed)
    improvement = scores.probability_of_improvement(per_seed, baseline)
    validation = validation_scores(workdir)
    chosen_on = '' if validation is None else f'{np.mean(validation):.1f}'
    lines.append(f'| {_name(workdir)} | {summary["mean"]:.1f} '
                 f'[{summary["ci_low"]:.1f}, {summary["ci_high"]:.1f}] | {summary["iqm"]:.1f} | '
                 f'{improvement:.2f} | {chosen_on} | {" ".join(f"{v:.1f}" for v in per_seed)} |')
  return '\n'.join(lines)


def _name(spec: str) -> str:
  """The run's folder name; for a sweep's setting, also its swept values ('fql alpha=0.3'), and
  for `:best` how it was chosen."""
  workdir, setting = _run_and_setting(spec)
  name = os.path.basename(os.path.normpath(workdir))
  if setting is None:
    return name
  how = ''
  if spec.endswith(':best'):
    rows = _final_eval(workdir)['sweep']['settings']
    how = f' (best of {len(rows)} on {sweep_report.selected_on(rows)})'
  try:  # the grid its config lists (an unfinished sweep has no final_eval.json yet)
    with open(os.path.join(workdir, 'config.json')) as f:
      listed = sweep.listed_values(json.load(f)['sweep']['agent'])
    return f'{name} {sweep.label(sweep.grid(listed)[setting])}{how}'
  except (OSError, ValueError, KeyError, IndexError, TypeError):
    return f'{name} setting {setting}{how}'


def _eval_curve(spec: str) -> dict | None:
  """The run's evaluation curve; for a sweep's setting, its seeds' columns."""
  workdir, setting = _run_and_setting(spec)
  curve = plots.read_eval_curve(workdir)
  if curve is None or setting is None:
    return curve
  with open(os.path.join(workdir, 'config.json')) as f:
    num_seeds = json.load(f)['num_seeds']
  return {**curve, 'per_seed': curve['per_seed'][:, setting * num_seeds:(setting + 1) * num_seeds]}


def figure(workdirs: list[str], path: str) -> str | None:
  """Every run's evaluation curve on one axis; None when no run has evaluation records."""
  curves = [(_name(w), _eval_curve(w)) for w in workdirs]
  curves = [(name, curve) for name, curve in curves if curve is not None]
  if not curves:
    return None
  fig, (ax,) = plots._figure(1, 1, (6.5, 4.2))
  for name, curve in curves:
    mean = curve['per_seed'].mean(axis=1)
    band = np.array([scores.bootstrap_ci(values) for values in curve['per_seed']])
    line, = ax.plot(curve['steps'], mean, marker='o', markersize=3, label=name)
    ax.fill_between(curve['steps'], band[:, 0], band[:, 1], color=line.get_color(), alpha=0.2)
  ax.set(xlabel='training step', ylabel=curves[0][1]['score'],
         title='evaluation over training (mean over seeds, 95% bootstrap CI)')
  ax.legend(fontsize='small')
  fig.savefig(path, dpi=100)
  return path


def main(argv):
  if len(argv) > 1:
    refuse(f'unexpected arguments: {" ".join(argv[1:])}')
  if not FLAGS.workdirs:
    refuse('--workdirs is required: a comma-separated list of finished runs, baseline first')
  out = FLAGS.out or os.path.dirname(os.path.normpath(FLAGS.workdirs[0])) or '.'
  try:
    workdirs = expand_settings(FLAGS.workdirs)
    text = table(workdirs)
  except ValueError as e:
    refuse(str(e))
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'comparison.md'), 'w') as f:
    f.write(text + '\n')
  print(text)
  drawn = figure(workdirs, os.path.join(out, 'comparison.png'))
  if drawn:
    print(f'learning curves: {drawn}')


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
