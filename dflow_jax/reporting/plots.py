"""PNG figures of a run: learning curves, and for 2-D actions what the flows sample.

matplotlib is imported inside the functions, and figures are drawn on an Agg canvas without
pyplot, so importing dflow_jax stays light and no global backend state is touched.
"""
import json
import os
import re

import numpy as np

from dflow_jax.reporting import evaluator, scores
from dflow_jax.reporting.report import read_metrics

LEARNING_CURVES = 'learning_curves.png'
ACTION_SAMPLES = 'action_samples.png'
# Losses worth a panel, in this order; a run shows those its metrics.csv has.
LOSSES = ('behavior/fm_loss', 'critic/q_loss', 'policy/fm_loss', 'df/flow_value_loss')
# Training's records only: the evaluate CLI writes step_<N>_episodes_<E>.npz beside them.
_TRAINING_RECORD = re.compile(r'step_(\d+)\.npz')
_CURVE_PANEL = (4.5, 3.4)  # inches
_SCATTER_PANEL = (3.8, 3.8)
_MARKED_POINTS = 50  # curves with fewer points mark them, so a lone point still shows


def _figure(num_panels: int, columns: int, panel_size=_CURVE_PANEL):
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  rows = -(-num_panels // columns)
  columns = min(columns, num_panels)
  figure = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows),
                  layout='constrained')
  FigureCanvasAgg(figure)
  axes = figure.subplots(rows, columns, squeeze=False).ravel()
  for unused in axes[num_panels:]:
    unused.set_visible(False)
  return figure, axes[:num_panels]


def read_eval_curve(workdir: str) -> dict | None:
  """Training's evaluation records as arrays over steps, or None without any.

  {'steps': [T], 'per_seed': [T, S] mean episode score, 'behavior': [T], 'score': name}.
  """
  directory = os.path.join(workdir, evaluator.EVAL_DIR)
  if not os.path.isdir(directory):
    return None
  found = sorted((int(m.group(1)), name) for name in os.listdir(directory)
                 if (m := _TRAINING_RECORD.fullmatch(name)))
  if not found:
    return None
  records = []
  for _, name in found:
    with np.load(os.path.join(directory, name)) as record:
      records.append(dict(record))
  key = 'normalized' if all('normalized' in r for r in records) else 'returns'
  return {'steps': np.array([step for step, _ in found]),
          'per_seed': np.stack([r[key].mean(axis=1) for r in records]),
          'behavior': np.array([bool(r['behavior']) for r in records]),
          'score': 'normalised score' if key == 'normalized' else 'return'}


def read_toy_curves(workdir: str) -> dict:
  """{title: (steps [N], values [N])} of a toy task's followed metrics (`toy/<name>` columns of
  metrics.csv, one row per (step, seed)), in the task's order; {} for other runs."""
  from dflow_jax import data
  path = os.path.join(workdir, 'metrics.csv')
  config_path = os.path.join(workdir, 'config.json')
  if not (os.path.isfile(path) and os.path.isfile(config_path)):
    return {}
  with open(config_path) as f:
    task = data.IN_MEMORY.get(json.load(f).get('dataset'))
  if task is None:
    return {}
  rows = read_metrics(path)
  curves = {}
  for name, title in task.curves:
    kept = [r for r in rows if r.get(f'toy/{name}')]
    if kept:
      curves[title] = (np.array([int(r['step']) for r in kept]),
                       np.array([float(r[f'toy/{name}']) for r in kept]))
  return curves


def read_losses(workdir: str) -> dict:
  """{name: (steps [N], values [N])} of the LOSSES that metrics.csv holds: one row per
  (step, seed), so a step's values are those of its seeds."""
  path = os.path.join(workdir, 'metrics.csv')
  if not os.path.isfile(path):
    return {}
  rows = read_metrics(path)
  losses = {}
  for name in LOSSES:
    # A phase leaves the other phase's columns empty.
    kept = [r for r in rows if r.get(name)]
    if kept:
      losses[name] = (np.array([int(r['step']) for r in kept]),
                      np.array([float(r[name]) for r in kept]))
  return losses


def _decision_flow_start(workdir: str, curve: dict | None) -> int | None:
  """The step Decision Flow starts at: critic_steps + bc_steps of config.json, else from the
  records' flags."""
  path = os.path.join(workdir, 'config.json')
  if os.path.isfile(path):
    with open(path) as f:
      config = json.load(f)
    start = config.get('critic_steps', 0) + config.get('bc_steps', 0)
    return start if start > 0 and config.get('df_steps', 0) > 0 else None
  if curve is not None and curve['behavior'].any() and not curve['behavior'].all():
    return int(curve['steps'][np.argmin(curve['behavior'])])
  return None


def _mark_decision_flow(ax, start: int | None):
  if start is not None:
    ax.axvline(start, color='grey', linestyle='--', linewidth=1, label='Decision Flow starts')


def _plot_eval(ax, curve: dict):
  steps, per_seed = curve['steps'], curve['per_seed']
  num_seeds = per_seed.shape[1]
  ax.plot(steps, per_seed, color='tab:blue', alpha=0.25, linewidth=0.8)
  bands = np.array([scores.bootstrap_ci(values) for values in per_seed])
  ax.fill_between(steps, bands[:, 0], bands[:, 1], color='tab:blue', alpha=0.25,
                  label='95% bootstrap CI')
  ax.plot(steps, per_seed.mean(axis=1), color='tab:blue', markersize=3,
          marker='o' if len(steps) < _MARKED_POINTS else None,
          label=f'mean over {num_seeds} seed' + ('s' if num_seeds > 1 else ''))
  ax.set(title='evaluation (faint: each seed)', xlabel='training step', ylabel=curve['score'])


def _sweep_labels(workdir: str) -> list | None:
  """A sweep's setting labels, from its config.json (None for a plain run)."""
  from dflow_jax import sweep
  from dflow_jax.config import base_config
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    saved = json.load(f)
  if not any(v for v in saved.get('sweep', {}).get('agent', {}).values()):
    return None
  config = base_config()
  config.sweep.update(saved['sweep'])
  config.num_seeds = saved['num_seeds']
  return [f'{k}: {sweep.label(setting)}' for k, setting in enumerate(sweep.settings(config))]


def _toy_task(workdir: str):
  from dflow_jax import data
  with open(os.path.join(workdir, 'config.json')) as f:
    return data.IN_MEMORY.get(json.load(f).get('dataset'))


def _plot_eval_per_setting(ax, curve: dict, labels: list):
  """A sweep's evaluations: per setting, the mean over its seeds with a 95% bootstrap band, and
  each seed as a thin line (a seed that falls away, as a collapse does, shows where the mean
  hides it)."""
  steps = curve['steps']
  for k, (label, seeds) in enumerate(zip(labels, np.split(curve['per_seed'], len(labels),
                                                              axis=1), strict=True)):
    bands = np.array([scores.bootstrap_ci(values) for values in seeds])
    line, = ax.plot(steps, seeds.mean(axis=1), markersize=3, label=label,
                    marker='o' if len(steps) < _MARKED_POINTS else None, color=f'C{k % 10}')
    ax.fill_between(steps, bands[:, 0], bands[:, 1], color=line.get_color(), alpha=0.15)
    ax.plot(steps, seeds, color=line.get_color(), alpha=0.35, linewidth=0.6)
  ax.set(title='evaluation per setting (mean over seeds, 95% CI; thin: seeds)', xlabel='training step',
         ylabel=curve['score'])


def _plot_per_setting(ax, title: str, rows: list, column: str, labels: list,
                      log_scale: bool = True):
  """A sweep's metric: per setting, the mean over its seeds at each step."""
  positive = True
  for k, label in enumerate(labels):
    kept = [r for r in rows if r.get(column) and int(r.get('setting') or 0) == k]
    if not kept:
      continue
    at, index = np.unique([int(r['step']) for r in kept], return_inverse=True)
    values = np.array([float(r[column]) for r in kept])
    positive &= bool(np.all(values > 0))
    ax.plot(at, np.bincount(index, values) / np.bincount(index), color=f'C{k % 10}',
            label=label, marker='o' if len(at) < _MARKED_POINTS else None, markersize=3)
  if log_scale and positive:
    ax.set_yscale('log')
  ax.set(title=f'{title} (per setting)', xlabel='training step')


def _plot_loss(ax, name: str, steps, values, log_scale: bool = True):
  at, index = np.unique(steps, return_inverse=True)
  mean = np.bincount(index, values) / np.bincount(index)
  low, high = np.full(at.shape, np.inf), np.full(at.shape, -np.inf)
  np.minimum.at(low, index, values)
  np.maximum.at(high, index, values)
  ax.fill_between(at, low, high, color='tab:orange', alpha=0.25, label='min–max over seeds')
  ax.plot(at, mean, color='tab:orange', markersize=3,
          marker='o' if len(at) < _MARKED_POINTS else None, label='mean over seeds')
  if log_scale and np.all(values > 0):  # losses often fall by orders of magnitude
    ax.set_yscale('log')
  ax.set(title=name, xlabel='training step')


def learning_curves(workdir: str, out_dir: str | None = None) -> list[str]:
  """Writes `learning_curves.png` (evaluation scores, a toy task's followed metrics, then
  losses) from workdir's records into out_dir (default: workdir); the paths written.

  Nothing to plot (no evaluation records, no losses in metrics.csv) writes nothing: [].
  """
  curve, losses = read_eval_curve(workdir), read_losses(workdir)
  toy_curves = read_toy_curves(workdir)
  num_panels = (curve is not None) + len(toy_curves) + len(losses)
  if num_panels == 0:
    return []
  start = _decision_flow_start(workdir, curve)
  labels = _sweep_labels(workdir)
  figure, axes = _figure(num_panels, columns=3)
  panels = iter(axes)
  if curve is not None:
    ax = next(panels)
    if labels:
      _plot_eval_per_setting(ax, curve, labels)
    else:
      _plot_eval(ax, curve)
    _mark_decision_flow(ax, start)
    ax.legend(fontsize='small')
  rows = read_metrics(os.path.join(workdir, 'metrics.csv')) if labels else []
  for title, (steps, values) in toy_curves.items():
    ax = next(panels)
    if labels:
      column = 'toy/' + next(name for name, t in _toy_task(workdir).curves if t == title)
      _plot_per_setting(ax, title, rows, column, labels, log_scale=False)
    else:
      _plot_loss(ax, title, steps, values, log_scale=False)
    _mark_decision_flow(ax, start)
  for name, (steps, values) in losses.items():
    ax = next(panels)
    if labels:
      _plot_per_setting(ax, name, rows, name, labels)
    else:
      _plot_loss(ax, name, steps, values)
    _mark_decision_flow(ax, start)
  axes[-1].legend(fontsize='small')
  path = os.path.join(out_dir or workdir, LEARNING_CURVES)
  figure.savefig(path, dpi=100)
  return [path]


def action_samples(agent, states, dataset, path: str, num_states: int = 512, seed: int = 0,
                   dataset_name: str | None = None) -> str | None:
  """For a 2-D action: the dataset's actions at `num_states` of its transitions, beside the
  behaviour flow's and the trained policy's samples at the same states (all seeds pooled).

  Writes the PNG at `path` and returns it; None (nothing written) for other action sizes.
  """
  if dataset.action_dim != 2:
    return None
  import jax
  import jax.numpy as jnp

  from dflow_jax import train
  rng = np.random.default_rng(seed)
  chosen = np.sort(rng.choice(dataset.size, min(num_states, dataset.size), replace=False))
  observations = jnp.take(dataset.observations, chosen, axis=0)
  num_seeds = states.step.shape[0]
  tiled = jnp.broadcast_to(observations, (num_seeds,) + observations.shape)  # [S, N, d]
  key = jax.random.PRNGKey(seed)
  sampled = {
      'behaviour flow': train.act(agent, states, tiled, jax.random.fold_in(key, 0), True),
      f'policy ({agent.cfg.variant})': train.act(agent, states, tiled,
                                                 jax.random.fold_in(key, 1), False),
  }
  panels = {'dataset': np.asarray(jnp.take(dataset.actions, chosen, axis=0)),
            **{name: np.asarray(a).reshape(-1, 2) for name, a in sampled.items()}}
  # One box for all panels: [-1, 1]^2 (the dataset's range) widened to hold 99% of the samples,
  # so a few stray samples do not shrink the rest.
  pooled = np.concatenate(list(panels.values()))
  low = min(-1.0, float(np.percentile(pooled, 0.5)))
  high = max(1.0, float(np.percentile(pooled, 99.5)))
  pad = 0.05 * (high - low)

  figure, axes = _figure(len(panels), columns=len(panels), panel_size=_SCATTER_PANEL)
  for ax, (name, actions) in zip(axes, panels.items(), strict=True):
    ax.scatter(actions[:, 0], actions[:, 1], s=3, alpha=0.3, linewidths=0)
    count = f'{len(chosen)} states' + (f' x {num_seeds} seeds' if name != 'dataset' else '')
    ax.set(title=f'{name} ({count})', xlim=(low - pad, high + pad),
           ylim=(low - pad, high + pad), xlabel='action[0]', ylabel='action[1]', aspect='equal')
  if dataset_name:
    figure.suptitle(dataset_name)
  figure.savefig(path, dpi=100)
  return path


def run_figures(workdir: str, agent, states, dataset, dataset_name: str) -> list[str]:
  """The figures written at the end of training: learning curves, and action samples when
  the action is 2-D."""
  paths = learning_curves(workdir)
  samples = action_samples(agent, states, dataset, os.path.join(workdir, ACTION_SAMPLES),
                           dataset_name=dataset_name)
  return paths + ([samples] if samples else [])
