"""A PNG histogram of a dataset's episode returns, stacked by noise level where one is recorded.

Drawn on an Agg canvas without pyplot (as in dflow_jax.reporting.plots), so no global backend is touched.
"""
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FILENAME = 'return_histogram.png'
RETURN_BINS = 40
NOISE_GROUPS = 4  # equal-width noise-level ranges, one colour each


def write(path: Path, returns: Sequence[float], noise_levels: Sequence[float] | None = None,
          title: str = '') -> Path:
  """Writes the histogram of `returns` to `path`; with `noise_levels` (one per episode) the bars
  are stacked by noise-level range, low noise darkest."""
  from matplotlib import colormaps
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  figure = Figure(figsize=(6.4, 4.0), layout='constrained')
  FigureCanvasAgg(figure)
  axes = figure.subplots()
  returns = np.asarray(returns, np.float64)
  bins = np.histogram_bin_edges(returns, bins=RETURN_BINS)
  if noise_levels is None:
    axes.hist(returns, bins=bins, color='tab:blue')
  else:
    levels = np.asarray(noise_levels, np.float64)
    edges = np.linspace(levels.min(), levels.max(), NOISE_GROUPS + 1)
    group = np.clip(np.searchsorted(edges, levels, side='right') - 1, 0, NOISE_GROUPS - 1)
    colours = colormaps['viridis'](np.linspace(0.0, 0.9, NOISE_GROUPS))
    labels = [f'{edges[g]:.2f} to {edges[g + 1]:.2f}' for g in range(NOISE_GROUPS)]
    axes.hist([returns[group == g] for g in range(NOISE_GROUPS)], bins=bins, stacked=True,
              color=colours, label=labels)
    axes.legend(title='noise level', fontsize='small')
  axes.set_xlabel('episode return')
  axes.set_ylabel('episodes')
  axes.set_title(f'{title} ({len(returns)} episodes)' if title else f'{len(returns)} episodes')
  figure.savefig(path, dpi=100)
  return Path(path)
