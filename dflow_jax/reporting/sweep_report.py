"""What a sweep ends with: sweep_summary.md (one row per setting) and sweep.png (the final score
against each swept value, seeds as points, mean and 95% CI as a line).

The best setting is chosen on the validation episodes where the run played them, and its test
score is what is reported; a run without them (validation_episodes = 0, a toy task) can only be
chosen on what it was scored on, and the summary says so."""
import os

import numpy as np

from dflow_jax import data, sweep
from dflow_jax.reporting import evaluator, scores

SUMMARY = 'sweep_summary.md'
FIGURE = 'sweep.png'


def setting_rows(grid: list, num_seeds: int, per_agent: dict, headline: str,
                 validation=None) -> list:
  """Per setting: its values, the headline's per-seed values with mean, IQM and CI over seeds,
  and the mean of every other metric. `per_agent` maps names to [A] arrays (setting-major);
  `validation`, the headline's [A] values on the validation episodes, adds a row's
  'validation' aggregate and per-seed values."""
  rows = []
  for index, setting in enumerate(grid):
    cut = slice(index * num_seeds, (index + 1) * num_seeds)
    seeds = {name: np.asarray(values, np.float64)[cut] for name, values in per_agent.items()}
    row = {'setting': index, 'values': setting, 'per_seed': seeds[headline].tolist(),
           **scores.aggregate(seeds[headline]),
           'others': {name: float(np.mean(v)) for name, v in seeds.items() if name != headline}}
    if validation is not None:
      chosen_on = np.asarray(validation, np.float64)[cut]
      row['validation'] = {'per_seed': chosen_on.tolist(), **scores.aggregate(chosen_on)}
    rows.append(row)
  return rows


def selected_on(rows: list) -> str:
  """What `best` reads: 'validation' episodes, or the 'test' ones where none were played."""
  return 'validation' if all('validation' in row for row in rows) else 'test'


def best(rows: list) -> dict:
  """The setting with the highest mean on the validation episodes (on the test episodes where
  there are none); the first of equals."""
  if selected_on(rows) == 'validation':
    return max(rows, key=lambda row: row['validation']['mean'])
  return max(rows, key=lambda row: row['mean'])


def markdown(dataset: str, headline: str, rows: list, num_seeds: int, what: str) -> str:
  keys = list(rows[0]['values'])
  others = list(rows[0]['others'])
  validated = selected_on(rows) == 'validation'
  header = ['setting', *keys, f'{headline} mean', '95% CI', 'IQM',
            *(['validation mean'] if validated else []), *others]
  lines = [f'# Sweep on {dataset}', '',
           f'{len(rows)} settings x {num_seeds} seeds; {what}. Mean, IQM and 95% percentile '
           f'bootstrap CI over the seeds of each setting ({", ".join(others) or "no other"} '
           'column(s): means over seeds).', '',
           '| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
  for row in rows:
    cells = [str(row['setting']), *(f'{row["values"][k]:g}' for k in keys),
             f'{row["mean"]:.3f}', f'[{row["ci_low"]:.3f}, {row["ci_high"]:.3f}]',
             f'{row["iqm"]:.3f}',
             *([f'{row["validation"]["mean"]:.3f}'] if validated else []),
             *(f'{row["others"][o]:.3f}' for o in others)]
    lines.append('| ' + ' | '.join(cells) + ' |')
  top = best(rows)
  how = ('chosen on the validation episodes; its test score' if validated else
         'chosen on the scored episodes themselves (no validation episodes), which flatters it')
  lines += ['', f'best: setting {top["setting"]} ({sweep.label(top["values"])}), {how}: '
                f'{headline} {top["mean"]:.3f} [{top["ci_low"]:.3f}, {top["ci_high"]:.3f}]']
  return '\n'.join(lines) + '\n'


def figure(path: str, rows: list, headline: str) -> str:
  """One panel per swept key: the headline against that key's value. Settings that share the
  other keys' values are joined by a line (mean, with the CI as a band); seeds are points."""
  from dflow_jax.reporting.plots import _figure
  keys = list(rows[0]['values'])
  fig, axes = _figure(len(keys), columns=3)
  for ax, key in zip(axes, keys, strict=True):
    others = [k for k in keys if k != key]
    groups = {}
    for row in rows:
      groups.setdefault(tuple(row['values'][k] for k in others), []).append(row)
    for rest, members in groups.items():
      members.sort(key=lambda row: row['values'][key])
      x = np.array([row['values'][key] for row in members])
      mean = np.array([row['mean'] for row in members])
      name = ' '.join(f'{k}={v:g}' for k, v in zip(others, rest, strict=True)) or 'mean over seeds'
      line, = ax.plot(x, mean, marker='o', label=name)
      ax.fill_between(x, [row['ci_low'] for row in members],
                      [row['ci_high'] for row in members], color=line.get_color(), alpha=0.2)
      for row in members:
        ax.scatter(np.full(len(row['per_seed']), row['values'][key]), row['per_seed'],
                   color=line.get_color(), s=12, alpha=0.5)
    values = [row['values'][key] for row in rows]
    if min(values) > 0 and max(values) / min(values) >= 10:
      ax.set_xscale('log')
    ax.set(xlabel=f'agent.{key}', ylabel=headline, title=f'{headline} against {key}')
    ax.legend(fontsize='small')
  fig.savefig(path, dpi=100)
  return path


def write(workdir: str, config, per_agent: dict, headline: str, what: str,
          validation=None) -> tuple[str, dict]:
  """Writes sweep_summary.md and sweep.png; returns (the summary's text, a JSON-able record)."""
  grid = sweep.settings(config)
  rows = setting_rows(grid, config.num_seeds, per_agent, headline, validation)
  text = markdown(config.dataset, headline, rows, config.num_seeds, what)
  with open(os.path.join(workdir, SUMMARY), 'w') as f:
    f.write(text)
  figure(os.path.join(workdir, FIGURE), rows, headline)
  return text, {'headline': headline, 'settings': rows, 'best_setting': best(rows)['setting'],
                'selected_on': selected_on(rows)}


def sweep_summary(config, workdir: str, result: dict, toy: bool) -> tuple[str, dict]:
  """A sweep's end: sweep_summary.md and sweep.png from the final evaluation of every agent;
  (the summary's text, final_eval.json's content)."""
  per_agent, headline, what, validation = sweep_scores(config, result, toy)
  text, record = write(workdir, config, per_agent, headline, what, validation)
  figure = os.path.join(workdir, FIGURE)
  return f'{text}sweep figure: {figure}\n', {'sweep': record, 'step': int(
      result.get('step', config.df_steps + config.bc_steps + config.critic_steps))}


def sweep_scores(config, result: dict, toy: bool) -> tuple[dict, str, str, np.ndarray | None]:
  """(per-agent values {name: [A]}, the headline's name, what they were measured on, the
  headline's per-agent values on the validation episodes or None) of an evaluation of every
  agent of a sweep: the normalised score (or return) of env episodes, or a toy task's true
  reward beside its followed metrics."""
  if toy:
    headline = 'true_reward' if 'true_reward' in result else sorted(result)[0]
    task = data.IN_MEMORY.get(config.dataset)
    followed = [name for name, _ in task.curves] if task else []
    per_agent = {k: result[k] for k in [headline, *followed] if k in result}
    what = f'toy metrics of {config.eval_samples} sampled actions per seed'
    return per_agent, headline, what, None
  means = evaluator.per_seed_means(result)
  headline = 'normalized' if 'normalized' in means else 'return'
  per_agent = {headline: means[headline], 'length': means['length']}
  what = f'{result["episodes"]} test episodes per seed at step {result["step"]}'
  validation = result.get('validation')
  if not validation:
    return per_agent, headline, what, None
  what += f', {validation["episodes"]} validation episodes per seed'
  return per_agent, headline, what, evaluator.per_seed_means(validation)[headline]
