"""The FLOP/s ceiling of this machine (dense matmuls) and the FLOPs XLA counts in an update."""
import dataclasses

import jax
import jax.numpy as jnp

from benchmarks.measure import time_calls


def flops_from_cost_analysis(analysis) -> float | None:
  """'flops' of a cost analysis: a dict, a list of dicts (one per computation), or nothing."""
  if analysis is None:
    return None
  if isinstance(analysis, dict):
    analysis = [analysis]
  counts = [entry.get('flops') for entry in analysis if isinstance(entry, dict)]
  counts = [float(c) for c in counts if c is not None and c >= 0]
  return sum(counts) if counts else None


def _cost_flops(lowered) -> float | None:
  """FLOPs of a lowered computation; compiling only when the backend needs an executable."""
  try:
    flops = flops_from_cost_analysis(lowered.cost_analysis())
  except Exception:  # not every backend analyses before compiling
    flops = None
  if flops is None:
    try:
      flops = flops_from_cost_analysis(lowered.compile().cost_analysis())
    except Exception:
      flops = None
  return flops


def update_flops(make_agent, cfg, batch_size: int, dataset, phase_update) -> float | None:
  """FLOPs of one single-seed update on one sampled batch.

  XLA counts a loop's body once, whatever its trip count, so the flow scan is fully unrolled for
  the count (`scan_unroll = T`: the same arithmetic, without the loop).
  make_agent(cfg) -> Agent; phase_update(agent) -> its update(state, batch).
  """
  agent = make_agent(dataclasses.replace(cfg, scan_unroll=cfg.flow_steps))
  update = phase_update(agent)
  key = jax.random.PRNGKey(0)
  state = jax.eval_shape(agent.init, key)

  def one_update(state, dataset, key):
    return update(state, dataset.sample(key, batch_size))

  return _cost_flops(jax.jit(one_update).lower(state, dataset, key))


def _rate(flops_per_call: float, fn, args, budget_s: float) -> dict:
  timing = time_calls(lambda: jax.block_until_ready(fn(*args)), budget_s)
  return {**timing, 'flops_per_call': flops_per_call,
          'flops_per_s': flops_per_call / timing['steady_call_s']}


def square_matmul(n: int, dtype: str, budget_s: float) -> dict:
  """One n x n @ n x n product: the dense-matmul rate the hardware reaches at its best."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), dtype)
  return {'shape': f'{n}x{n} @ {n}x{n}', 'dtype': dtype,
          **_rate(2.0 * n ** 3, jax.jit(jnp.matmul), (a, b), budget_s)}


def layer_matmuls(batch: int, width: int, depth: int, dtype: str, budget_s: float) -> dict:
  """`depth` chained [batch, width] @ [width, width] products in one call: our layers' shape,
  without the per-call dispatch that a single small product would mostly measure."""
  x = jax.random.normal(jax.random.PRNGKey(0), (batch, width), dtype)
  w = jax.random.normal(jax.random.PRNGKey(1), (width, width), dtype) / jnp.sqrt(width)

  def chained(x, w):
    return jax.lax.scan(lambda h, _: (h @ w, None), x, None, length=depth)[0]

  return {'shape': f'{depth} x ([{batch}, {width}] @ [{width}, {width}])', 'dtype': dtype,
          **_rate(2.0 * batch * width * width * depth, jax.jit(chained), (x, w), budget_s)}
