"""Timing and memory readings shared by every benchmark section."""
import os
import resource
import sys
import time

import jax

MB = 2.0 ** 20


def time_calls(call, budget_s: float, min_calls: int = 1) -> dict:
  """Times `call()` (which must block until its work is done) until `budget_s` have passed.

  The first call is timed apart: it compiles whatever is new. `compile_s` is the first call minus
  one steady call, the compile (and first-transfer) cost a run pays once.
  """
  start = time.perf_counter()
  call()
  first_call_s = time.perf_counter() - start
  steady_call_s, calls, elapsed = _steady(call, budget_s, min_calls)
  return {'first_call_s': first_call_s, 'steady_call_s': steady_call_s, 'timed_calls': calls,
          'timed_s': elapsed, 'compile_s': max(first_call_s - steady_call_s, 0.0)}


def _steady(call, budget_s: float, min_calls: int = 1):
  """(seconds per call, calls, elapsed) of calls repeated until `budget_s` have passed."""
  calls, start = 0, time.perf_counter()
  while True:
    call()
    calls += 1
    elapsed = time.perf_counter() - start
    if calls >= min_calls and elapsed >= budget_s:
      return elapsed / calls, calls, elapsed


def _median(values):
  ordered = sorted(values)
  middle = len(ordered) // 2
  return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def time_paired(call, reference, steps_per_call: float, reference_steps_per_call: float,
                budget_s: float, rounds: int) -> dict:
  """Steps/s of `call` over those of `reference`, timed in alternation.

  A machine's speed drifts over minutes (a CPU's clock, other tenants), so two cases timed at
  different moments of a long run can differ by more than the effect measured. Here each round
  times both, back to back, in the order A B B A B ...; each round gives a ratio, and the
  median of the rounds is the result (the range shows what is left of the drift).
  Both callables are called once first, untimed, to compile.
  """
  call(), reference()
  rates, reference_rates = [], []
  for r in range(rounds):
    order = [(call, rates, steps_per_call), (reference, reference_rates,
                                             reference_steps_per_call)]
    for fn, out, steps in (order if r % 2 == 0 else order[::-1]):
      out.append(steps / _steady(fn, budget_s)[0])
  ratios = [a / b for a, b in zip(rates, reference_rates, strict=True)]
  return {'rate': _median(rates), 'reference_rate': _median(reference_rates),
          'ratio': _median(ratios), 'ratio_min': min(ratios), 'ratio_max': max(ratios),
          'rates': rates, 'reference_rates': reference_rates, 'rounds': rounds}


def _current_rss_bytes() -> float | None:
  try:
    with open('/proc/self/statm') as f:
      return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
  except (OSError, ValueError, IndexError):
    return None


def _peak_rss_bytes() -> float:
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak if sys.platform == 'darwin' else peak * 1024  # Linux reports KiB


def _device_memory() -> dict:
  """What the first device reports, in MB (nothing on CPU backends that report nothing)."""
  stats = jax.devices()[0].memory_stats() or {}
  names = {'bytes_in_use': 'device_in_use_mb', 'peak_bytes_in_use': 'device_peak_mb'}
  return {name: stats[key] / MB for key, name in names.items() if key in stats}


class MemoryWatch:
  """Host RSS and device memory before and after a case.

  ru_maxrss is a process-wide high-water mark: a case raises it only when it needs more than
  every earlier case did, so the per-case figures are the increases (run big cases last).
  """

  def __init__(self):
    self.rss, self.peak, self.device = _current_rss_bytes(), _peak_rss_bytes(), _device_memory()

  def read(self) -> dict:
    rss, peak = _current_rss_bytes(), _peak_rss_bytes()
    reading = {'host_peak_rss_mb': peak / MB,
               'host_peak_rss_increase_mb': (peak - self.peak) / MB}
    if rss is not None and self.rss is not None:
      reading.update(host_rss_mb=rss / MB, host_rss_increase_mb=(rss - self.rss) / MB)
    device = _device_memory()
    reading.update(device)
    if 'device_peak_mb' in device and 'device_peak_mb' in self.device:
      reading['device_peak_increase_mb'] = device['device_peak_mb'] - self.device['device_peak_mb']
    return reading


def compiled_memory(compiled) -> dict | None:
  """XLA's own account of one executable's buffers (works on CPU too), in MB."""
  try:
    stats = compiled.memory_analysis()
  except Exception:  # some backends do not implement it
    return None
  if stats is None:
    return None
  names = {'argument': 'argument_size_in_bytes', 'output': 'output_size_in_bytes',
           'alias': 'alias_size_in_bytes', 'temp': 'temp_size_in_bytes'}
  return {f'{name}_mb': getattr(stats, field) / MB for name, field in names.items()
          if hasattr(stats, field)}
