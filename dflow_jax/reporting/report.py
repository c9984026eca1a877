"""What people read: metrics.csv rows, and the per-seed summary tables."""
import csv
import os

import numpy as np


class MetricsLog:
  """Appends one row per (step, seed) to `metrics.csv`; readable while training runs.

  On resume, rows past the restored step (written after the last checkpoint by a run that was
  then killed) are dropped, so the file never holds two rows for one (step, seed).
  """

  def __init__(self, path: str, metric_names, resume_step: int = 0,
               seeds_per_setting: int | None = None):
    """`seeds_per_setting`: a sweep's num_seeds; its rows then name the setting beside the seed
    (agent a is seed a % num_seeds of setting a // num_seeds)."""
    self.path, self.seeds_per_setting = path, seeds_per_setting
    self.columns = (['step'] + (['setting'] if seeds_per_setting else []) + ['seed', 'phase']
                    + sorted(metric_names))
    rows = []
    if resume_step > 0 and os.path.exists(path):
      with open(path, newline='') as f:
        rows = [r for r in csv.DictReader(f) if int(r['step']) <= resume_step]
    with open(path, 'w', newline='') as f:
      writer = csv.DictWriter(f, self.columns, extrasaction='ignore')
      writer.writeheader()
      writer.writerows(rows)

  def write(self, step: int, phase: str, metrics: dict) -> None:
    """`metrics` maps names to per-agent arrays [A] (per-seed [S] in a plain run)."""
    num_seeds = len(next(iter(metrics.values())))
    with open(self.path, 'a', newline='') as f:
      writer = csv.DictWriter(f, self.columns, extrasaction='ignore')
      for agent in range(num_seeds):
        row = {'step': step, 'seed': agent, 'phase': phase}
        if self.seeds_per_setting:
          row.update(setting=agent // self.seeds_per_setting, seed=agent % self.seeds_per_setting)
        row.update({k: f'{float(v[agent]):.6g}' for k, v in metrics.items()})
        writer.writerow(row)


def read_metrics(path: str) -> list:
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def format_table(rows: dict, columns, row_label='seed') -> str:
  """A plain-text table: `rows` maps a label to {column: number}."""
  header = [row_label] + list(columns)
  body = [[str(label)] + [f'{values[c]:.3f}' for c in columns] for label, values in rows.items()]
  widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
  line = lambda r: '  '.join(x.rjust(w) for x, w in zip(r, widths, strict=True))
  return '\n'.join([line(header)] + [line(r) for r in body])


def per_seed_table(metrics: dict, columns) -> str:
  """`metrics` maps names to per-seed arrays; adds a mean row."""
  num_seeds = len(next(iter(metrics.values())))
  rows = {s: {c: float(metrics[c][s]) for c in columns} for s in range(num_seeds)}
  rows['mean'] = {c: float(np.mean(metrics[c])) for c in columns}
  return format_table(rows, columns)
