"""Our training path: the compiled chunk jit(scan_K(vmap_S(update))) with on-device sampling."""
import dataclasses

import jax

from benchmarks import cases
from benchmarks.ceiling import update_flops
from benchmarks.measure import MemoryWatch, compiled_memory, time_calls
from dflow_jax import train


def _decision_flow_update(agent):
  return agent.update_decision_flow  # for the `bc` variant: flow matching + critic


def measure_chunk(size: cases.Size, case: cases.UpdateCase, dataset, budget_s: float) -> dict:
  """Gradient steps/s per seed and in total, compile time and memory of one case.

  Each timed call runs one chunk and brings its metrics to the host, as the trainer does once
  per chunk; with K = 1 that is a host round trip (and the metrics) after every update.
  """
  watch = MemoryWatch()
  agent = cases.make_agent(size, case)
  states = train.start_decision_flow(agent, train.init_states(agent, 0, case.seeds))
  run_chunk = train.make_chunk(agent, train.DECISION_FLOW, size.batch_size, case.chunk,
                               donate=case.donate)
  held = {'states': states}
  del states  # with donation the chunk consumes them; only `held` may refer to the latest

  def call():
    held['states'], metrics = run_chunk(held['states'], dataset)
    jax.device_get(metrics)

  timing = time_calls(call, budget_s)
  # The jitted function already compiled this signature, so this lowering costs nothing more.
  compiled = run_chunk.lower(held['states'], dataset).compile()
  per_seed = case.chunk / timing['steady_call_s']
  row = {'per_seed_steps_s': per_seed, 'total_steps_s': per_seed * case.seeds,
         'update_s': 1.0 / per_seed, 'updates_per_seed': case.chunk * timing['timed_calls'],
         'batch_size': size.batch_size, **timing, 'memory': watch.read(),
         'compiled_memory': compiled_memory(compiled)}
  return row


_FLOPS = {}


def flops_per_update(size: cases.Size, case: cases.UpdateCase, dataset) -> float | None:
  """Per seed; the seeds, chunk length and donation do not change it, so it is cached."""
  key = (size, dataclasses.replace(case, seeds=1, chunk=1, donate=True, scan_unroll=1))
  if key not in _FLOPS:
    _FLOPS[key] = update_flops(cases.agent_factory(size, case.critic),
                               cases.agent_config_of(size, case), size.batch_size, dataset,
                               _decision_flow_update)
  return _FLOPS[key]
