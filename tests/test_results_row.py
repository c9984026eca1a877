"""experiments/results_row.sh: one dataset's pre-training, every variant and baseline, the table."""
import os
import subprocess
import sys

import pytest

from dflow_jax.datagen import adroit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow  # eight tiny runs and two comparisons, about 120 s
@pytest.mark.skipif(not (adroit.shared_data_dir() / 'README.md').exists(),
                    reason='shared/data not found (set DFLOW_SHARED_DATA)')
def test_one_row_trains_every_variant_from_one_pretraining_and_compares_them(tmp_path):
  env = {**os.environ, 'MINARI_DATASETS_PATH': str(tmp_path / 'datasets'), 'PRE': '100',
         'DF': '100', 'SIZE': 'quick', 'FQL_SWEEP': '--config.sweep.agent.alpha=1,10',
         'PYTHON': sys.executable, 'DIV_SWEEP': '--config.sweep.agent.policy_bootstrap=0,1',
         'DIR_SWEEP': '--config.sweep.agent.policy_bootstrap=0,1'}
  runs = tmp_path / 'runs'
  proc = subprocess.run(['bash', 'experiments/results_row.sh', 'adroit.py:door-human',
                         'dflow/door/human-v2', str(runs)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = [line.split(' | ')[0].lstrip('| ') for line in
          (runs / 'comparison.md').read_text().splitlines()[2:]]
  chosen = [row.split(' (')[0] for row in rows]
  assert [c.split(' ')[0] for c in chosen] == ['bc', 'div', 'dir', 'fql', 'bptt', 'ifql',
                                               'pretrained']
  assert all(row.endswith('(best of 2 on validation)') for row in rows[1:4])
  every = [line.split(' | ')[0].lstrip('| ') for line in
           (runs / 'all-settings' / 'comparison.md').read_text().splitlines()[2:]]
  assert every == ['bc', 'div policy_bootstrap=0', 'div policy_bootstrap=1',
                   'dir policy_bootstrap=0', 'dir policy_bootstrap=1', 'fql alpha=1',
                   'fql alpha=10']
  assert set(chosen[1:4]) <= set(every)
  for name in ('bc', 'div', 'dir', 'bptt', 'fql'):
    assert (runs / name / 'init_from.txt').exists()
  assert not (runs / 'ifql' / 'init_from.txt').exists()  # its critic is its own


def test_the_script_refuses_missing_arguments_in_one_line():
  proc = subprocess.run(['bash', 'experiments/results_row.sh', 'only-one'], cwd=ROOT,
                        capture_output=True, text=True, timeout=30)
  assert proc.returncode == 2 and proc.stderr.strip().startswith('usage:')
  assert proc.stderr.strip().count('\n') == 0
