"""Runs the benchmark sections in order, one progress line per case, results written as it goes."""
import dataclasses
import datetime
import functools
import gc
import os
import platform
import traceback

import jax
from absl import logging

from benchmarks import cases, ceiling, report
from benchmarks.baseline import PerStepBaseline
from benchmarks.eval_throughput import measure_eval
from benchmarks.measure import time_paired
from benchmarks.settings import Settings
from benchmarks.update_throughput import Chunk, flops_per_update, measure_chunk


def _meta(settings: Settings) -> dict:
  return {'device': str(jax.devices()[0]), 'backend': jax.default_backend(),
          'device_count': jax.device_count(), 'cpu_count': os.cpu_count(),
          'machine': platform.machine(), 'python': platform.python_version(),
          'jax': jax.__version__, 'xla_flags': os.environ.get('XLA_FLAGS', ''),
          'default_matmul_precision': str(jax.config.jax_default_matmul_precision),
          'started': datetime.datetime.now().isoformat(timespec='seconds'),
          'smoke': settings.smoke}


def _chunks(size, dataset, *update_cases):
  return tuple(Chunk(size, case, dataset) for case in update_cases)


def _chunk_and_baseline(size, dataset, case):
  """Our chunk and the per-step baseline, doing the same work per call."""
  return Chunk(size, case, dataset), PerStepBaseline(
      cases.make_agent(size, case), dataset, size.batch_size, case.seeds, case.chunk)


class Runner:
  def __init__(self, settings: Settings, log=print):
    self.settings, self.log = settings, log
    self.results = report.Results(settings.out_dir, _meta(settings), dataclasses.asdict(settings))
    self._sizes, self._datasets, self._rows = {}, {}, {}

  def size(self, name: str) -> cases.Size:
    if name not in self._sizes:
      self._sizes[name] = cases.make_size(name, self.settings)
    return self._sizes[name]

  def dataset(self, name: str):
    if name not in self._datasets:
      self._datasets[name] = cases.make_dataset(self.size(name), self.settings)
    return self._datasets[name]

  def _guarded(self, section: str, label: str, measure):
    """Runs one measurement; a failure (out of memory, say) is recorded and the run goes on."""
    try:
      return measure()
    except Exception as e:
      self.log(f'{section:8s} {label}: FAILED {type(e).__name__}: {str(e)[:300]}')
      self.results.data['errors'].append({
          'section': section, 'label': label, 'error': f'{type(e).__name__}: {str(e)[:2000]}',
          'traceback': traceback.format_exc(limit=5)})
      self.results.write()
      return None
    finally:
      gc.collect()

  # ---- sections ----

  def run_ceiling(self, again_at_end: bool = False):
    """The matmul ceilings; `again_at_end` re-measures the square float32 one after the other
    sections, since a CPU's clock drifts over a long run (the report takes the higher)."""
    s = self.settings
    batch, width, depth = s.ceiling_layer
    # An accelerator needs a bigger product than a CPU to reach its peak.
    n = s.ceiling_square or (1024 if jax.default_backend() == 'cpu' else 8192)
    if again_at_end:
      measurements = {
          'square_float32_end': lambda: ceiling.square_matmul(n, 'float32', s.budget_s)}
    else:
      measurements = {
          'square_float32': lambda: ceiling.square_matmul(n, 'float32', s.budget_s),
          'layer_float32': lambda: ceiling.layer_matmuls(batch, width, depth, 'float32',
                                                         s.budget_s)}
      if 'bf16' in s.levers:
        measurements['square_bfloat16'] = lambda: ceiling.square_matmul(n, 'bfloat16',
                                                                         s.budget_s)
    for name, measure in measurements.items():
      row = self._guarded('ceiling', name, measure)
      if row is not None:
        self.results.data['ceiling'][name] = row
        self.results.write()
        self.log(f"ceiling  {name:16s} {row['shape']:32s} {row['flops_per_s'] / 1e9:10.2f} GFLOP/s")

  def update_row(self, case: cases.UpdateCase) -> dict | None:
    """The measured row of a case; each case is measured once per run, whichever section
    asks first."""
    if case in self._rows:
      return self._rows[case]

    def measure():
      size, dataset = self.size(case.size), self.dataset(case.size)
      row = {'case': dataclasses.asdict(case), 'label': case.label(),
             **measure_chunk(size, case, dataset, self.settings.budget_s)}
      row['flops_per_update'] = flops_per_update(size, case, dataset)
      return row

    row = self._guarded('update', case.label(), measure)
    self._rows[case] = row
    if row is not None:
      self.results.add('update', row)
      flops = row['flops_per_update']
      self.log(f"update   {case.label():60s} {row['per_seed_steps_s']:10.1f} steps/s/seed "
               f"{row['total_steps_s']:11.1f} total  compile {row['compile_s']:5.1f} s  "
               f"{(flops or 0) / 1e6:8.2f} MFLOP/update  "
               f"host peak +{row['memory']['host_peak_rss_increase_mb']:.0f} MB")
    return row

  def run_update(self):
    s = self.settings
    for name in s.sizes:  # toy first, and within a size by seeds: the big cases come last
      size = self.size(name)
      todo = [cases.default_case(size, variant, s) for variant in s.variants]
      # bptt's gradient through the scan: with and without recomputing the steps' activations
      todo += [dataclasses.replace(case, remat=True) for case in todo if case.variant == 'bptt']
      if name in s.sweep_sizes:
        todo += [case for variant in s.sweep_variants for case in cases.sweep(size, variant, s)]
      for case in sorted(dict.fromkeys(todo), key=lambda case: case.seeds):
        self.update_row(case)

  def paired(self, section: str, label: str, make_sides):
    """time_paired of make_sides() -> (side, reference), each with `call` and `steps_per_call`;
    (timing, side, reference), or None when the measurement failed (recorded in errors)."""
    def measure():
      side, reference = make_sides()
      return time_paired(side.call, reference.call, side.steps_per_call,
                         reference.steps_per_call, self.settings.budget_s,
                         self.settings.pair_rounds), side, reference
    return self._guarded(section, label, measure)

  def run_levers(self):
    s = self.settings
    for name in s.lever_sizes:
      size, dataset = self.size(name), self.dataset(name)
      for variant in s.lever_variants:
        for lever in s.levers:
          for setting, case, reference in cases.lever_cases(size, variant, lever, s):
            measured = self.paired('levers', f'{case.label()} against the default',
                                   functools.partial(_chunks, size, dataset, case, reference))
            if measured is None:
              continue
            pair, chunk, reference_chunk = measured
            lever_row = {
                'lever': lever, 'setting': setting, 'size': name, 'variant': variant,
                'case': dataclasses.asdict(case), 'reference_case': dataclasses.asdict(reference),
                'per_seed_steps_s': pair['rate'] / case.seeds,
                'reference_per_seed_steps_s': pair['reference_rate'] / reference.seeds,
                'speedup': pair['ratio'], 'speedup_min': pair['ratio_min'],
                'speedup_max': pair['ratio_max'], 'rounds': pair['rounds'],
                'rates_per_round': pair['rates'],
                'reference_rates_per_round': pair['reference_rates'],
                'temp_mb': (chunk.compiled_memory() or {}).get('temp_mb'),
                'reference_temp_mb': (reference_chunk.compiled_memory() or {}).get('temp_mb')}
            self.results.add('levers', lever_row)
            self.log(f"lever    {name:4s} {variant:3s} {setting:36s} x{pair['ratio']:.3f} "
                     f"steps/s against the default (rounds {pair['ratio_min']:.3f}-"
                     f"{pair['ratio_max']:.3f})")

  def run_baseline(self):
    s = self.settings
    for name in s.baseline_sizes:
      size, dataset = self.size(name), self.dataset(name)
      for variant in s.baseline_variants:
        case = cases.default_case(size, variant, s)
        measured = self.paired('baseline', case.label(), functools.partial(
            _chunk_and_baseline, size, dataset, case))
        if measured is None:
          continue
        pair = measured[0]
        self.results.add('baseline', {
            'case': dataclasses.asdict(case), 'ours_total_steps_s': pair['rate'],
            'baseline_total_steps_s': pair['reference_rate'], 'speedup': pair['ratio'],
            'speedup_min': pair['ratio_min'], 'speedup_max': pair['ratio_max'],
            'rounds': pair['rounds'], 'ours_rates_per_round': pair['rates'],
            'baseline_rates_per_round': pair['reference_rates']})
        self.log(f"baseline {case.label():60s} {pair['reference_rate']:11.1f} total steps/s  "
                 f"ours {pair['rate']:.1f}, x{pair['ratio']:.2f} (rounds {pair['ratio_min']:.2f}"
                 f"-{pair['ratio_max']:.2f})")

  def run_eval(self):
    s = self.settings
    agent_cfg = dataclasses.replace(self.size('toy').agent, flow_steps=s.default_flow_steps)
    for seeds in s.eval_seeds:
      for episodes in s.eval_episodes:
        label = f'{s.eval_env} S={seeds} E={episodes}'
        row = self._guarded('eval', label, functools.partial(
            measure_eval, agent_cfg, s.eval_env, seeds, episodes, s.eval_horizon))
        if row is None:
          continue
        row.update(seeds=seeds, episodes=episodes)
        self.results.add('eval', row)
        self.log(f"eval     {label:28s} {row['env_steps_s']:10.1f} env steps/s  inference "
                 f"{row['inference_ms_per_vector_step']:.2f} ms, simulation "
                 f"{row['simulation_ms_per_vector_step']:.2f} ms per vector step")

  def run(self) -> dict:
    logging.set_verbosity(logging.WARNING)
    self.log(f"device: {self.results.data['meta']['device']}; writing {self.settings.out_dir}/"
             'throughput.{json,md}')
    for section in ('ceiling', 'update', 'levers', 'baseline', 'eval'):
      if section in self.settings.sections:
        getattr(self, f'run_{section}')()
    if 'ceiling' in self.settings.sections and len(self.settings.sections) > 1:
      self.run_ceiling(again_at_end=True)
    self.results.write()
    for check in self.results.data['checks']:
      self.log(f"target   {'PASS' if check['pass'] else 'FAIL'}  {check['name']}: "
               f"{check['measured']:.3g} ({check['target_is']} {check['target']})")
    return self.results.data
