"""`--init_from`: a run that starts from another run's pre-training."""
import csv
import json

import numpy as np
import pytest

from dflow_jax.config import RESUMABLE_CHANGES
from dflow_jax.reporting import evaluator, plots
from dflow_jax.runtime import run, shared_pretraining
from dflow_jax.runtime.checkpoint import OWNER_CONFIG, Checkpointer
from tests.conftest import tiny_config
from tests.test_train import assert_trees_close

QUIET = {'log': lambda s: None}


@pytest.mark.slow  # a whole run; `make test` stays under 10 minutes
def test_a_run_started_from_another_runs_pretraining_equals_one_trained_from_scratch(tmp_path):
  # The source keeps one checkpoint; the one at the Decision Flow start (20) must outlive it.
  source = tiny_config('div', max_to_keep=1, df_steps=30)
  run.train_and_evaluate(source, str(tmp_path / 'div'), **QUIET)
  assert Checkpointer(str(tmp_path / 'div')).all_steps() == [20, 50]

  settings = {'df_steps': 20, 'agent.lambda_dir': 3.0}
  scratch = run.train_and_evaluate(tiny_config('dir', **settings), str(tmp_path / 'scratch'),
                                   **QUIET)
  shared = run.train_and_evaluate(tiny_config('dir', **settings), str(tmp_path / 'dir'),
                                  init_from=str(tmp_path / 'div'), **QUIET)
  assert shared['step'] == scratch['step'] == 40
  assert_trees_close(scratch['states'], shared['states'], rtol=1e-6, atol=1e-7)
  rows = list(csv.DictReader(open(tmp_path / 'dir' / 'metrics.csv')))
  scratch_rows = list(csv.DictReader(open(tmp_path / 'scratch' / 'metrics.csv')))
  assert [(r['step'], r['seed'], r['phase']) for r in rows] == [
      (r['step'], r['seed'], r['phase']) for r in scratch_rows]
  assert (tmp_path / 'dir' / 'init_from.txt').exists()
  # the copied checkpoint carries the config of the run it now belongs to
  owner = json.load(open(tmp_path / 'dir' / OWNER_CONFIG))
  assert owner == json.load(open(tmp_path / 'dir' / 'config.json'))
  assert owner['agent']['variant'] == 'dir' and owner['agent']['lambda_dir'] == 3.0


@pytest.mark.parametrize('change, named', [
    ({'bc_steps': 10}, 'bc_steps'),
    ({'agent.expectile': 0.8}, 'agent.expectile'),
])
def test_init_from_refuses_a_run_pretrained_differently(tmp_path, change, named):
  run.train_and_evaluate(tiny_config('div', df_steps=0), str(tmp_path / 'div'), **QUIET)
  with pytest.raises(run.ConfigError, match=f'pre-trained differently: {named}'):
    run.train_and_evaluate(tiny_config('dir', **change), str(tmp_path / 'dir'),
                           init_from=str(tmp_path / 'div'), **QUIET)


def test_the_new_decision_flow_knobs_and_sweeps_of_them_share_a_pretraining(tmp_path):
  run.train_and_evaluate(tiny_config('bc', df_steps=0), str(tmp_path / 'bc'), **QUIET)
  config = tiny_config('div', **{'agent.flow_steps': 2, 'agent.flow_reversal': 1.0})
  config.sweep.agent.divergence_target = '0,0.1'
  shared_pretraining.check_source(str(tmp_path / 'bc'), config, 20, RESUMABLE_CHANGES)


def test_init_from_refuses_what_is_not_a_run(tmp_path):
  with pytest.raises(run.ConfigError, match='not a run directory'):
    run.train_and_evaluate(tiny_config('dir'), str(tmp_path / 'dir'),
                           init_from=str(tmp_path / 'nothing'), **QUIET)


def test_a_sweep_gets_each_copied_evaluation_once_per_setting(tmp_path):
  # The source evaluated 2 seeds at steps 10 and 20; a 3-setting sweep from step 20 holds 6
  # agents, so its learning curve must read 6 rows at every step, the copied ones included.
  source, here = tmp_path / 'source', tmp_path / 'sweep'
  (source / evaluator.EVAL_DIR).mkdir(parents=True)
  (here / evaluator.EVAL_DIR).mkdir(parents=True)
  for step in (10, 20, 30):
    returns = np.arange(2 * 3, dtype=float).reshape(2, 3) + step
    np.savez(source / evaluator.EVAL_DIR / f'step_{step}.npz', step=step, behavior=True,
             env_seed=7, action_seed=8, returns=returns, lengths=np.ones((2, 3), int))
  np.savez(here / evaluator.EVAL_DIR / 'step_40.npz', step=40, behavior=False, env_seed=7,
           action_seed=8, returns=np.zeros((6, 3)), lengths=np.ones((6, 3), int))
  shared_pretraining._copy_evaluations(str(source), str(here), 20, num_seeds=2, settings_here=3)
  assert sorted(p.name for p in (here / evaluator.EVAL_DIR).iterdir()) == [
      'step_10.npz', 'step_20.npz', 'step_40.npz']
  copied = np.load(here / evaluator.EVAL_DIR / 'step_20.npz')
  np.testing.assert_array_equal(copied['returns'][4:], copied['returns'][:2])
  np.testing.assert_array_equal(copied['returns'][:2], np.arange(6.).reshape(2, 3) + 20)
  assert copied['env_seed'] == 7 and bool(copied['behavior'])
  curve = plots.read_eval_curve(str(here))
  assert curve['per_seed'].shape == (3, 6)
