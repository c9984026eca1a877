"""The benchmark harness runs end to end (smoke sizes) and writes what it promises.

No timing thresholds: this machine's speed is not under test, only that every section measures
something and records it.
"""
import json
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import pytest

from benchmarks import cases, cli, measure
from benchmarks.ceiling import flops_from_cost_analysis, update_flops
from benchmarks.settings import smoke_settings
from dflow_jax.config import AgentConfig


@pytest.mark.slow  # a dozen compiles; keeps `make test` well under 10 minutes on 2 cores
def test_the_smoke_run_writes_every_section_with_positive_numbers(tmp_path, monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', os.environ.get('XLA_FLAGS', ''))  # smoke appends its flags
  # the cheapest update (bc) at the toy size: one of each kind of measurement
  data = cli.main(['--smoke', f'--out-dir={tmp_path}', '--sizes=toy', '--variants=bc',
                   '--sweep-sizes=toy', '--sweep-variants=bc', '--levers=bf16,chunk',
                   '--lever-variants=bc', '--baseline-sizes=toy', '--baseline-variants=bc'])
  with open(tmp_path / 'throughput.json') as f:
    assert json.load(f) == json.loads(json.dumps(data, default=str))
  assert (tmp_path / 'throughput.md').read_text().startswith('# Throughput')
  assert not data['errors'], data['errors']

  assert set(data['ceiling']) >= {'square_float32', 'layer_float32'}
  assert all(c['flops_per_s'] > 0 for c in data['ceiling'].values())

  assert set(data['ceiling']) >= {'square_float32', 'square_float32_end'}
  (update,) = data['update']  # the levers' cases are timed in pairs, not as sweep rows
  for row in data['update']:
    for key in ('per_seed_steps_s', 'total_steps_s', 'update_s', 'flops_per_update',
                'achieved_flops_s', 'fraction_of_square_ceiling', 'fraction_of_layer_ceiling'):
      assert row[key] > 0, key
    assert row['compile_s'] >= 0 and row['memory']['host_peak_rss_mb'] > 0
    assert row['compiled_memory']['argument_mb'] > 0

  bf16, chunk = data['levers']
  assert (bf16['lever'], chunk['lever']) == ('bf16', 'chunk')
  assert bf16['case']['matmul_dtype'] == 'bfloat16' and chunk['case']['chunk'] == 1
  for row in data['levers']:
    assert row['speedup_min'] <= row['speedup'] <= row['speedup_max'] and row['speedup'] > 0
    assert row['per_seed_steps_s'] > 0 and row['reference_per_seed_steps_s'] > 0

  (baseline,) = data['baseline']
  assert baseline['speedup'] > 0 and baseline['baseline_total_steps_s'] > 0

  (evaluation,) = data['eval']
  assert evaluation['env_steps_s'] > 0 and evaluation['vector_steps'] == 5
  assert evaluation['inference_ms_per_vector_step'] > 0
  assert evaluation['simulation_ms_per_vector_step'] > 0

  (check,) = data['checks']  # toy speedup over the baseline; the others need dir and door
  assert check['measured'] > 0 and isinstance(check['pass'], bool)


class FakeClock:
  """perf_counter for benchmarks.measure: each timed call advances it by its own cost, which
  grows by `drift` per call made (a machine slowing down)."""

  def __init__(self, drift=0.0):
    self.now, self.calls, self.drift = 0.0, 0, drift

  def __call__(self):
    return self.now

  def work(self, cost):
    def call():
      self.now += cost * (1.0 + self.drift * self.calls)
      self.calls += 1
    return call


def test_paired_timing_alternates_and_reports_the_median_ratio(monkeypatch):
  clock = FakeClock()
  monkeypatch.setattr(measure.time, 'perf_counter', clock)
  order = []
  fast, slow = clock.work(1.0), clock.work(4.0)
  pair = measure.time_paired(lambda: (order.append('a'), fast()),
                             lambda: (order.append('b'), slow()), 2, 1, 0.0, rounds=3)
  assert order == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']  # compile calls, then A B, B A, A B
  assert pair['rate'] == 2.0 and pair['reference_rate'] == 0.25
  assert pair['ratio'] == pair['ratio_min'] == pair['ratio_max'] == 8.0

  # a machine slowing down by 5% per call: the alternation keeps the median ratio near the truth,
  # where timing all of A before all of B would not
  clock = FakeClock(drift=0.05)
  monkeypatch.setattr(measure.time, 'perf_counter', clock)
  pair = measure.time_paired(clock.work(1.0), clock.work(1.0), 1, 1, 0.0, rounds=5)
  assert pair['ratio_min'] < 1.0 < pair['ratio_max'] and abs(pair['ratio'] - 1.0) < 0.06


def test_cost_analysis_flops_come_from_a_dict_a_list_or_nothing():
  assert flops_from_cost_analysis({'flops': 10.0}) == 10.0
  assert flops_from_cost_analysis([{'flops': 4.0}, {'flops': 6.0}]) == 10.0
  assert flops_from_cost_analysis([{'bytes accessed': 3.0}]) is None
  assert flops_from_cost_analysis(None) is None


class FirstRows(NamedTuple):
  """A dataset whose batch is its first rows: sampling costs no FLOPs, so the count is the
  update's alone."""
  observations: jax.Array

  def sample(self, key, batch_size):
    return self.observations[:batch_size]


class OneLayerFlow:
  """An update whose arithmetic is known: T flow steps of one bias-free [B, W] @ [W, W] layer,
  in a scan as the real flow rollout is."""

  def __init__(self, cfg: AgentConfig, width: int):
    self.cfg, self.width = cfg, width

  def init(self, key):
    return {'w': jnp.zeros((self.width, self.width))}

  def update(self, state, batch):
    h, _ = jax.lax.scan(lambda h, _: (h @ state['w'], None), batch, None,
                        length=self.cfg.flow_steps, unroll=self.cfg.scan_unroll)
    return state, {'h': h}


def test_update_flops_of_a_one_layer_flow_match_the_hand_count():
  """2 * B * W * W per matmul, T of them. XLA counts a loop body once, so a harness that did not
  unroll the flow scan would report about a T-th of this."""
  batch, width, flow_steps = 8, 5, 3
  cfg = AgentConfig(flow_steps=flow_steps)  # scan_unroll 1: the harness must unroll it
  flops = update_flops(lambda c: OneLayerFlow(c, width), cfg, batch,
                       FirstRows(jnp.zeros((20, width))), lambda agent: agent.update)
  assert flops == 2 * batch * width * width * flow_steps


def test_the_sweep_moves_one_axis_at_a_time_around_the_default_point():
  settings = smoke_settings(seeds=(1, 2), flow_steps=(1, 2), chunks=(1, 2))
  size = cases.make_size('toy', settings)
  base = cases.default_case(size, 'dir', settings)
  sweep = cases.sweep(size, 'dir', settings)
  assert sweep[0] == base and len(sweep) == len(set(sweep))
  for case in sweep[1:]:
    changed = [f for f in ('seeds', 'flow_steps', 'steps_per_state', 'chunk')
               if getattr(case, f) != getattr(base, f)]
    assert len(changed) == 1 or changed == ['flow_steps', 'steps_per_state'], case
  # bc never integrates the flow, so only seeds and chunk length move
  assert {c.flow_steps for c in cases.sweep(size, 'bc', settings)} == {base.flow_steps}
