"""Our training path: the compiled chunk jit(scan_K(vmap_S(update))) with on-device sampling."""
import dataclasses

import jax

from benchmarks import cases
from benchmarks.ceiling import update_flops
from benchmarks.measure import MemoryWatch, compiled_memory, time_calls
from dflow_jax import train


def _decision_flow_update(agent):
  return agent.update_decision_flow  # for the `bc` variant: flow matching + critic


class Chunk:
  """One case's compiled training chunk and its seed-stacked states; `call()` runs one chunk and
  brings its metrics to the host, as the trainer does once per chunk (with K = 1 that is a host
  round trip, and the metrics, after every update)."""

  def __init__(self, size: cases.Size, case: cases.UpdateCase, dataset):
    self.case, self.dataset = case, dataset
    self.steps_per_call = case.chunk * case.seeds
    agent = cases.make_agent(size, case)
    self.run_chunk = train.make_chunk(agent, train.DECISION_FLOW, size.batch_size, case.chunk)
    # A chunk donates (consumes) its input states: only self.states refers to the latest.
    self.states = train.start_decision_flow(agent, train.init_states(agent, 0, case.seeds))

  def call(self):
    self.states, metrics, finite = self.run_chunk(self.states, self.dataset)
    jax.device_get((metrics, finite))

  def compiled_memory(self):
    # jit already compiled this signature, so this lowering costs nothing more
    return compiled_memory(self.run_chunk.lower(self.states, self.dataset).compile())


def measure_chunk(size: cases.Size, case: cases.UpdateCase, dataset, budget_s: float) -> dict:
  """Gradient steps/s per seed and in total, compile time and memory of one case."""
  watch = MemoryWatch()
  chunk = Chunk(size, case, dataset)
  timing = time_calls(chunk.call, budget_s)
  per_seed = case.chunk / timing['steady_call_s']
  return {'per_seed_steps_s': per_seed, 'total_steps_s': per_seed * case.seeds,
          'update_s': 1.0 / per_seed, 'updates_per_seed': case.chunk * timing['timed_calls'],
          'batch_size': size.batch_size, **timing, 'memory': watch.read(),
          'compiled_memory': chunk.compiled_memory()}


_FLOPS = {}


def flops_per_update(size: cases.Size, case: cases.UpdateCase, dataset) -> float | None:
  """Per seed; the seeds and chunk length do not change it, so it is cached."""
  key = (size, dataclasses.replace(case, seeds=1, chunk=1, scan_unroll=1))
  if key not in _FLOPS:
    _FLOPS[key] = update_flops(cases.agent_factory(size),
                               cases.agent_config_of(size, case), size.batch_size, dataset,
                               _decision_flow_update)
  return _FLOPS[key]
