"""Validation episodes: start states disjoint from the scored ones, and every choice of a setting
(sweep_summary.md, final_eval.json's best_setting, compare's RUN:best) read from them alone."""
import json
import os
import shutil

import numpy as np
import pytest

from dflow_jax import compare
from dflow_jax.reporting import evaluator, sweep_report

NAME = 'dflow/pointmaze/umaze-dense-v2'


def test_validation_env_seeds_never_meet_the_test_ones():
  for run_seed in (0, 1, 7, 2**32 - 1):
    test_env, test_action = evaluator.eval_seeds(run_seed, 500)
    val_env, val_action = evaluator.validation_seeds(run_seed, 500)
    envs = 10_000  # test envs are reset with test_env + i, validation ones with val_env + i
    assert val_env >= evaluator.VALIDATION_OFFSET > test_env
    assert test_env + envs <= val_env  # the two ranges are disjoint
    assert test_env + 2**32 <= evaluator.VALIDATION_OFFSET  # for any number of envs below 2**32
    assert val_action != test_action
    assert evaluator.validation_seeds(run_seed, 600)[0] == val_env  # same starts at every step


def _rows(test_means, validation_means):
  """Two-seed settings whose test and validation means are as given."""
  per_agent = {'normalized': np.repeat(test_means, 2).astype(float),
               'length': np.ones(2 * len(test_means))}
  grid = [{'alpha': float(a)} for a in range(len(test_means))]
  validation = None if validation_means is None else np.repeat(validation_means, 2).astype(float)
  return sweep_report.setting_rows(grid, 2, per_agent, 'normalized', validation)


def test_the_sweep_report_chooses_on_validation_where_test_disagrees():
  rows = _rows([10.0, 30.0, 20.0], [25.0, 5.0, 15.0])  # test prefers 1, validation prefers 0
  assert sweep_report.best(rows)['setting'] == 0
  text = sweep_report.markdown('d', 'normalized', rows, 2, 'what')
  assert 'validation mean' in text
  assert 'best: setting 0 (alpha=0), chosen on the validation episodes; its test score' in text
  # Without validation episodes the choice can only read the test ones, and says so.
  unvalidated = _rows([10.0, 30.0, 20.0], None)
  assert sweep_report.best(unvalidated)['setting'] == 1
  assert 'no validation episodes' in sweep_report.markdown('d', 'normalized', unvalidated, 2, 'w')


def _sweep_run(directory, rows):
  os.makedirs(directory)
  record = {'headline': 'normalized', 'settings': rows,
            'best_setting': sweep_report.best(rows)['setting'],
            'selected_on': sweep_report.selected_on(rows)}
  (directory / 'final_eval.json').write_text(json.dumps({'sweep': record}))
  (directory / 'config.json').write_text(json.dumps(
      {'num_seeds': 2, 'sweep': {'agent': {'alpha': '0,1,2'}}}))
  return str(directory)


def test_compare_best_reports_the_test_score_of_the_validation_choice(tmp_path):
  run = _sweep_run(tmp_path / 'fql', _rows([10.0, 30.0, 20.0], [25.0, 5.0, 15.0]))
  np.testing.assert_array_equal(compare.final_scores(f'{run}:best'), [10.0, 10.0])
  np.testing.assert_array_equal(compare.validation_scores(f'{run}:best'), [25.0, 25.0])
  row = compare.table([f'{run}:best']).splitlines()[2]
  assert row.startswith('| fql alpha=0 (best of 3 on validation) | 10.0 [')
  assert '| 25.0 |' in row
  plain = tmp_path / 'bc'
  os.makedirs(plain)
  (plain / 'final_eval.json').write_text(json.dumps({'normalized': [1.0, 2.0]}))
  with pytest.raises(ValueError, match='not a sweep: name it without :best'):
    compare.final_scores(f'{plain}:best')


def _validation_means(record):
  return np.asarray(record['val_normalized']).mean(axis=1)


@pytest.mark.slow  # a small sweep trained and evaluated in the env: about 60 s
def test_a_trained_sweep_chooses_on_validation_even_when_its_test_scores_say_otherwise(
    tmp_path, monkeypatch):
  from dflow_jax.datagen.cli import generate
  from dflow_jax.runtime import run
  from tests.conftest import tiny_config
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'minari'))
  generate(NAME, steps=3000, seed=0, quiet=True)
  config = tiny_config('div', dataset=NAME, bc_steps=40, df_steps=40, chunk_size=20,
                       batch_size=64, eval_episodes=2, final_eval_episodes=4, eval_interval=0,
                       validation_episodes=4, num_seeds=2)
  config.agent.velocity_hidden = config.agent.critic_hidden = (32, 32)
  config.sweep.agent.rho = '0.01,1,100'
  workdir = tmp_path / 'sweep'
  run.train_and_evaluate(config, str(workdir), log=lambda _: None)
  record = np.load(workdir / 'eval' / 'step_80.npz')
  validation = _validation_means(record).reshape(3, 2).mean(axis=1)
  saved = json.load(open(workdir / 'final_eval.json'))['sweep']
  assert saved['selected_on'] == 'validation'
  assert saved['best_setting'] == int(np.argmax(validation))
  assert f'best: setting {saved["best_setting"]} ' in (workdir / 'sweep_summary.md').read_text()
  # Make the test episodes disagree: another setting gets the best test score. The choice, and
  # so compare's RUN:best, must not move; what it reports is the chosen setting's test score.
  tampered = tmp_path / 'tampered'
  shutil.copytree(workdir, tampered)
  rows = saved['settings']
  other = (saved['best_setting'] + 1) % 3
  rows[other]['mean'] = max(row['mean'] for row in rows) + 50.0
  rows[other]['per_seed'] = [value + 1000.0 for value in rows[other]['per_seed']]
  (tampered / 'final_eval.json').write_text(json.dumps({'sweep': saved}))
  assert compare.chosen_setting(str(tampered)) == saved['best_setting']
  np.testing.assert_allclose(compare.final_scores(f'{tampered}:best'),
                             rows[saved['best_setting']]['per_seed'])
