"""The benchmark harness runs end to end (smoke sizes) and writes what it promises.

No timing thresholds: this machine's speed is not under test, only that every section measures
something and records it.
"""
import json
import os

import pytest

from benchmarks import cases, cli
from benchmarks.ceiling import flops_from_cost_analysis
from benchmarks.settings import smoke_settings


@pytest.mark.slow  # a dozen compiles; keeps `make test` well under 10 minutes on 2 cores
def test_the_smoke_run_writes_every_section_with_positive_numbers(tmp_path, monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', os.environ.get('XLA_FLAGS', ''))  # smoke appends its flags
  # the cheapest update (bc) at the toy size: one of each kind of measurement
  data = cli.main(['--smoke', f'--out-dir={tmp_path}', '--sizes=toy', '--variants=bc',
                   '--sweep-sizes=toy', '--sweep-variants=bc', '--levers=donate',
                   '--lever-variants=bc', '--baseline-sizes=toy', '--baseline-variants=bc'])
  with open(tmp_path / 'throughput.json') as f:
    assert json.load(f) == json.loads(json.dumps(data, default=str))
  assert (tmp_path / 'throughput.md').read_text().startswith('# Throughput')
  assert not data['errors'], data['errors']

  assert set(data['ceiling']) >= {'square_float32', 'layer_float32'}
  assert all(c['flops_per_s'] > 0 for c in data['ceiling'].values())

  (update, no_donation) = data['update']
  assert not no_donation['case']['donate']
  for row in data['update']:
    for key in ('per_seed_steps_s', 'total_steps_s', 'update_s', 'flops_per_update',
                'achieved_flops_s', 'fraction_of_square_ceiling', 'fraction_of_layer_ceiling'):
      assert row[key] > 0, key
    assert row['compile_s'] >= 0 and row['memory']['host_peak_rss_mb'] > 0
    assert row['compiled_memory']['argument_mb'] > 0

  (lever,) = data['levers']
  assert lever['lever'] == 'donate' and lever['speedup'] > 0

  (baseline,) = data['baseline']
  assert baseline['speedup'] > 0 and baseline['baseline']['total_steps_s'] > 0
  assert baseline['baseline']['updates_per_seed'] >= 1

  (evaluation,) = data['eval']
  assert evaluation['env_steps_s'] > 0 and evaluation['vector_steps'] == 5
  assert evaluation['inference_ms_per_vector_step'] > 0
  assert evaluation['simulation_ms_per_vector_step'] > 0

  (check,) = data['checks']  # toy speedup over the baseline; the others need dir and door
  assert check['measured'] > 0 and isinstance(check['pass'], bool)


def test_cost_analysis_flops_come_from_a_dict_a_list_or_nothing():
  assert flops_from_cost_analysis({'flops': 10.0}) == 10.0
  assert flops_from_cost_analysis([{'flops': 4.0}, {'flops': 6.0}]) == 10.0
  assert flops_from_cost_analysis([{'bytes accessed': 3.0}]) is None
  assert flops_from_cost_analysis(None) is None


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
