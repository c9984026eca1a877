"""Runs side by side: the comparison table, the probability of improvement and the figure."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dflow_jax import compare
from dflow_jax.reporting import scores

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_probability_of_improvement_counts_pairs_and_halves_ties():
  assert scores.probability_of_improvement([3, 4], [1, 2]) == 1.0
  assert scores.probability_of_improvement([1, 2], [3, 4]) == 0.0
  # pairs: 2>1, 2=2, 2<3, 5>1, 5>2, 5>3 -> (1 + 0.5 + 0 + 3) / 6
  assert scores.probability_of_improvement([2, 5], [1, 2, 3]) == pytest.approx(4.5 / 6)


def fake_run(directory, per_seed, curve=None):
  os.makedirs(os.path.join(directory, 'eval'))
  with open(os.path.join(directory, 'final_eval.json'), 'w') as f:
    json.dump({'normalized': per_seed}, f)
  for step, values in (curve or {}).items():
    np.savez(os.path.join(directory, 'eval', f'step_{step}.npz'), step=step, behavior=False,
             normalized=np.asarray(values, float)[:, None], returns=np.zeros((len(values), 1)))
  return str(directory)


def test_table_and_figure_of_runs(tmp_path):
  bc = fake_run(tmp_path / 'bc', [20.0, 22.0, 24.0], {5: [10, 11, 12], 10: [20, 22, 24]})
  div = fake_run(tmp_path / 'div', [30.0, 32.0, 21.0], {5: [10, 11, 12], 10: [30, 32, 21]})
  text = compare.table([bc, div])
  rows = text.splitlines()[2:]
  assert rows[0].startswith('| bc | 22.0 [') and '| 0.50 |' in rows[0]
  assert rows[1].startswith('| div | 27.7 [') and f'| {7.0 / 9:.2f} |' in rows[1]
  assert '30.0 32.0 21.0' in rows[1]
  path = compare.figure([bc, div], str(tmp_path / 'comparison.png'))
  assert os.path.getsize(path) > 10_000


def test_an_unfinished_run_is_refused_in_one_line(tmp_path):
  proc = subprocess.run([sys.executable, '-m', 'dflow_jax.compare', f'--workdirs={tmp_path}'],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2 and proc.stderr.strip().count('\n') == 0
  assert 'no final_eval.json' in proc.stderr


def test_a_sweeps_settings_are_compared_by_name(tmp_path):
  bc = fake_run(tmp_path / 'bc', [20.0, 22.0], {10: [20, 22]})
  sweep_dir = tmp_path / 'rho'
  fake_run(sweep_dir, [], {10: [1, 2, 50, 60]})  # 2 settings x 2 seeds
  (sweep_dir / 'config.json').write_text(
      json.dumps({'num_seeds': 2, 'sweep': {'agent': {'rho': '0.1,1', 'alpha': ''}}}))
  settings = [{'values': {'rho': 0.1}, 'per_seed': [1.0, 2.0]},
              {'values': {'rho': 1.0}, 'per_seed': [50.0, 60.0]}]
  (sweep_dir / 'final_eval.json').write_text(json.dumps({'sweep': {'settings': settings}}))
  rows = compare.table([bc, f'{sweep_dir}:0', f'{sweep_dir}:1']).splitlines()[2:]
  assert rows[1].startswith('| rho rho=0.1 | 1.5 [') and rows[2].startswith('| rho rho=1 | 55.0 [')
  assert compare._eval_curve(f'{sweep_dir}:1')['per_seed'].tolist() == [[50.0, 60.0]]
  with pytest.raises(ValueError, match='sweep of 2 settings'):
    compare.final_scores(str(sweep_dir))
  assert compare.expand_settings([bc, f'{sweep_dir}:*']) == [bc, f'{sweep_dir}:0',
                                                              f'{sweep_dir}:1']
  with pytest.raises(ValueError, match='not a sweep'):
    compare.expand_settings([f'{bc}:*'])
