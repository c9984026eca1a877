"""The like-for-like baseline, written the way common public flow-policy code trains:

one jitted single-seed update per call; each batch drawn on the host with numpy from a host
copy of the dataset and transferred to the device; seeds trained one after another in a
Python loop. Metrics stay on the device (no per-step read-back), which favours the baseline.
Same agent, config, batch size and update as ours; only the driving loop differs.
"""
import time

import jax
import numpy as np

from benchmarks.measure import MemoryWatch
from dflow_jax import train


def _host_sampler(dataset, batch_size: int, seed: int = 0):
  host = jax.device_get(dataset)  # the replay buffer in host memory
  rng = np.random.default_rng(seed)

  def sample():
    idx = rng.integers(0, host.size, batch_size)
    return jax.device_put(jax.tree.map(lambda x: x[idx], host))

  return sample


def _run(update, state, sample, updates: int):
  for _ in range(updates):
    state, _ = update(state, sample())
  return jax.block_until_ready(state)


def measure_baseline(agent, dataset, batch_size: int, seeds: int, target_updates: int,
                     max_s: float) -> dict:
  """`target_updates` per seed (ours' count), fewer where the whole would exceed `max_s`."""
  watch = MemoryWatch()
  update = jax.jit(agent.update_decision_flow)  # for `bc`: flow matching + critic
  sample = _host_sampler(dataset, batch_size)
  states = train.start_decision_flow(agent, train.init_states(agent, 0, seeds))
  per_seed = [jax.tree.map(lambda x, i=i: x[i], states) for i in range(seeds)]

  start = time.perf_counter()
  _run(update, per_seed[0], sample, 1)  # compiles; its result is thrown away
  first_call_s = time.perf_counter() - start
  probe = max(1, min(target_updates, 20))
  start = time.perf_counter()
  _run(update, per_seed[0], sample, probe)
  probe_s = (time.perf_counter() - start) / probe
  affordable = int(max_s / max(probe_s * seeds, 1e-9))
  updates = max(1, min(target_updates, affordable))

  start = time.perf_counter()
  for state in per_seed:
    _run(update, state, sample, updates)
  elapsed = time.perf_counter() - start
  rate = updates / elapsed  # per seed: all seeds share the wall clock one after another
  return {'per_seed_steps_s': rate, 'total_steps_s': rate * seeds, 'update_s': 1.0 / rate,
          'updates_per_seed': updates, 'target_updates_per_seed': target_updates,
          'capped': updates < target_updates, 'timed_s': elapsed,
          'first_call_s': first_call_s, 'compile_s': max(first_call_s - probe_s, 0.0),
          'memory': watch.read()}
