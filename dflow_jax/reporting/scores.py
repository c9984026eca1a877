"""Score arithmetic: D4RL-normalised returns and their aggregates over seeds.

Seeds are the unit of the aggregates: each seed's episodes are first averaged, then the mean,
the interquartile mean and a percentile-bootstrap confidence interval are taken over those
per-seed means (Agarwal et al., 2021, recommend IQM and bootstrap CIs over runs).
"""
import numpy as np


def normalized(returns, ref_min: float, ref_max: float):
  """100 * (R - min) / (max - min): 0 is the reference-min policy, 100 the reference-max one."""
  return 100.0 * (np.asarray(returns, np.float64) - ref_min) / (ref_max - ref_min)


def iqm(values, axis: int = -1):
  """Interquartile mean: the mean after dropping floor(n/4) values at each end (n < 4: mean)."""
  values = np.sort(np.asarray(values, np.float64), axis=axis)
  n = values.shape[axis]
  cut = n // 4
  return np.mean(np.take(values, np.arange(cut, n - cut), axis=axis), axis=axis)


def bootstrap_ci(values, statistic=np.mean, confidence: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
  """Percentile bootstrap of `statistic(values, axis=-1)`: resample the values with
  replacement, with a fixed rng so that the same values always give the same interval."""
  values = np.asarray(values, np.float64)
  rng = np.random.default_rng(seed)
  samples = values[rng.integers(0, len(values), size=(resamples, len(values)))]
  stats = statistic(samples, axis=-1)
  tail = 100.0 * (1.0 - confidence) / 2.0
  low, high = np.percentile(stats, [tail, 100.0 - tail])
  return float(low), float(high)


def aggregate(per_seed) -> dict:
  """Mean, IQM and 95% bootstrap CI of the mean, over per-seed values [S]."""
  per_seed = np.asarray(per_seed, np.float64)
  low, high = bootstrap_ci(per_seed)
  return {'mean': float(np.mean(per_seed)), 'iqm': float(iqm(per_seed)),
          'ci_low': low, 'ci_high': high}


def probability_of_improvement(x, y) -> float:
  """P(X > Y) + P(X = Y) / 2 over every pair of a run of X and a run of Y (per-seed scores):
  the chance that a random seed of X beats a random seed of Y (Agarwal et al., 2021)."""
  x, y = np.asarray(x, np.float64)[:, None], np.asarray(y, np.float64)[None, :]
  return float(np.mean((x > y) + 0.5 * (x == y)))
