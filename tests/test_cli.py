"""The command line: dotted overrides, and one-line refusals of bad input (status 2)."""
import os
import subprocess
import sys

import pytest

from dflow_jax.config import ConfigError, validate
from experiments.toy import get_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BAD = [
    ('--config.agent.flow_steps=0', 'agent.flow_steps'),
    ('--config.agent.rho=-0.5', 'agent.rho'),
    ('--config.num_seeds=0', 'num_seeds'),
    ('--config.batch_size=20000', 'batch_size'),
    ('--config.agent.solver=rk5', 'agent.solver'),
    ('--config.agent.variant=awr', 'agent.variant'),
    ('--config.agent.no_such_knob=1', 'no_such_knob'),
    ('--config.agent.expectile=1.5', 'agent.expectile'),
    ('--config.agent.steps_per_state=11', 'agent.steps_per_state'),
    ('--config.agent.learning_rate=0', 'agent.learning_rate'),
    ('--config.agent.learning_rate=nan', 'agent.learning_rate = nan'),
    ('--config.agent.rho=inf', 'agent.rho = inf'),
    ('--config.agent.learning_rate=10', 'agent.learning_rate = 10'),
    ('--config.dataset=toy/nope', 'toy/nope'),
    ('--config.num_seeds=many', 'num_seeds'),
    ('--config=experiments/missing.py', 'missing.py'),
    ('--no_such_flag=1', 'no_such_flag'),
]


@pytest.mark.parametrize('arg, named', BAD)
def test_bad_input_is_refused_in_one_line_with_status_2(arg, named, tmp_path):
  args = [a for a in ['--config=experiments/toy.py', arg] if not (
      arg.startswith('--config=') and a == '--config=experiments/toy.py')]
  proc = subprocess.run([sys.executable, '-m', 'dflow_jax.main', f'--workdir={tmp_path}', *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2, proc.stderr
  lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
  assert len(lines) == 1, proc.stderr
  assert named in lines[0] and 'Traceback' not in proc.stderr
  assert not os.path.exists(tmp_path / 'checkpoints')  # refused before training began


def test_validate_names_key_value_and_what_is_allowed():
  config = get_config()
  config.agent.variant = 'sac'
  with pytest.raises(ConfigError, match=r"config.agent.variant = 'sac' is invalid: must be one "
                                        r"of 'bc', 'dir', 'div'"):
    validate(config)


@pytest.mark.slow  # a whole run; `make test` stays under 10 minutes
def test_dotted_overrides_reach_the_run(tmp_path):
  """The README's training command shape, shrunk to seconds."""
  proc = subprocess.run(
      [sys.executable, '-m', 'dflow_jax.main', '--config=experiments/toy.py',
       f'--workdir={tmp_path}', '--config.num_seeds=3', '--config.agent.variant=div',
       '--config.agent.rho=0.3', '--config.bc_steps=10', '--config.df_steps=10',
       '--config.chunk_size=10', '--config.batch_size=16', '--config.eval_samples=20',
       '--config.agent.velocity_hidden=(8,)', '--config.agent.critic_hidden=(8,)',
       '--config.agent.flow_steps=2', '--config.progress_bar=False'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  import json
  saved = json.load(open(tmp_path / 'config.json'))
  assert saved['num_seeds'] == 3 and saved['agent']['rho'] == 0.3
  assert saved['agent']['variant'] == 'div'
  assert f'workdir: {tmp_path}' in proc.stdout
  assert proc.stdout.count('\n   2 ') == 2  # seed 2 appears in both per-seed tables
  assert os.path.exists(tmp_path / 'metrics.csv') and os.path.exists(tmp_path / 'final_eval.json')
