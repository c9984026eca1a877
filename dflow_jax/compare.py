"""Runs side by side: a markdown table of their final scores and one learning-curve figure.

  python -m dflow_jax.compare --workdirs=runs/bc,runs/div,runs/dir [--out=runs/hopper]

The first workdir is the baseline: every row also gives the probability that a seed of that run
beats a seed of the baseline. Scores are each run's `final_eval.json` (the per-seed means of its
last evaluation); the figure draws each run's evaluations over training (mean over seeds, 95%
bootstrap band) on one axis. Bad input exits with status 2 and one line.
"""
import json
import os

import numpy as np
from absl import app, flags

from dflow_jax import plots, scores
from dflow_jax.cli import parse_flags, refuse

FLAGS = flags.FLAGS
flags.DEFINE_list('workdirs', None, 'Runs to compare; the first is the baseline.')
flags.DEFINE_string('out', None, 'Where comparison.md and comparison.png go (default: the '
                    'first workdir\'s parent).')


def final_scores(workdir: str) -> np.ndarray:
  """Per-seed final scores of a finished run (its final_eval.json)."""
  path = os.path.join(workdir, 'final_eval.json')
  if not os.path.isfile(path):
    raise ValueError(f'{workdir} holds no final_eval.json: not a finished run')
  with open(path) as f:
    saved = json.load(f)
  key = 'normalized' if 'normalized' in saved else 'returns'
  if key not in saved:
    raise ValueError(f'{path} holds no environment scores (a toy task?)')
  return np.asarray(saved[key], np.float64)


def table(workdirs: list[str]) -> str:
  """Markdown: per run, mean [95% CI], IQM, seeds, and P(run > baseline)."""
  baseline = final_scores(workdirs[0])
  lines = ['| run | mean [95% CI] | IQM | P(> first) | per seed |',
           '| --- | --- | --- | --- | --- |']
  for workdir in workdirs:
    per_seed = final_scores(workdir)
    summary = scores.aggregate(per_seed)
    improvement = scores.probability_of_improvement(per_seed, baseline)
    lines.append(f'| {os.path.basename(os.path.normpath(workdir))} | {summary["mean"]:.1f} '
                 f'[{summary["ci_low"]:.1f}, {summary["ci_high"]:.1f}] | {summary["iqm"]:.1f} | '
                 f'{improvement:.2f} | {" ".join(f"{v:.1f}" for v in per_seed)} |')
  return '\n'.join(lines)


def figure(workdirs: list[str], path: str) -> str | None:
  """Every run's evaluation curve on one axis; None when no run has evaluation records."""
  curves = [(os.path.basename(os.path.normpath(w)), plots.read_eval_curve(w)) for w in workdirs]
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
    text = table(FLAGS.workdirs)
  except ValueError as e:
    refuse(str(e))
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'comparison.md'), 'w') as f:
    f.write(text + '\n')
  print(text)
  drawn = figure(FLAGS.workdirs, os.path.join(out, 'comparison.png'))
  if drawn:
    print(f'learning curves: {drawn}')


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
