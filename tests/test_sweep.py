"""Sweeps: settings x seeds as one axis of agents in one compiled program."""
import csv
import json

import jax
import numpy as np
import pytest

from dflow_jax import sweep, train
from dflow_jax.config import ConfigError, validate
from dflow_jax.evaluate import evaluate_workdir
from dflow_jax.runtime import run
from tests.conftest import tiny_config
from tests.test_checkpoint import StopAfter
from tests.test_train import assert_trees_close

# Two settings of a value each update multiplies by, and a learning rate that reaches Adam.
SWEEP = {'sweep.agent.rho': '0.3,3', 'sweep.agent.learning_rate': '0.001'}


def _train_by_hand(agent, config, num_settings=1, hparams=None):
  """Decision Flow updates from the start (one compile): critic, value, flow value and policy
  steps all read the swept values."""
  dataset, _ = run.prepare(config)
  states = train.init_states(agent, config.seed, config.num_seeds, num_settings=num_settings)
  df = train.make_chunk(agent, train.DECISION_FLOW, config.batch_size, config.df_steps)
  states = train.start_decision_flow(agent, states)
  states, _, _ = df(states, dataset, hparams)
  return states, df


def test_the_grid_is_every_combination_with_seeds_setting_major():
  config = tiny_config(**{'sweep.agent.alpha': '1,10', 'sweep.agent.rho': '0.01, 0.1,1'})
  grid = sweep.settings(config)
  assert len(grid) == 6 and grid[0] == {'alpha': 1.0, 'rho': 0.01}
  assert grid[-1] == {'alpha': 10.0, 'rho': 1.0}
  assert sweep.num_agents(config) == 6 * config.num_seeds
  hparams = sweep.agent_hparams(config)
  np.testing.assert_allclose(hparams['rho'], np.repeat([0.01, 0.1, 1, 0.01, 0.1, 1], 2))
  assert sweep.agent_hparams(tiny_config()) is None and sweep.settings(tiny_config()) == [{}]
  keys = train.seed_keys(0, 2, 3)
  np.testing.assert_array_equal(keys[4:], train.seed_keys(0, 2))


@pytest.mark.slow  # the default run checks a sweep against its uninterrupted self (resume test)
def test_a_sweep_ends_where_separate_runs_of_its_settings_end():
  config = tiny_config('div', **SWEEP, bc_steps=0, **{'agent.flow_steps': 2})
  _, agent = run.prepare(config)
  swept, df_chunk = _train_by_hand(agent, config, 2, sweep.agent_hparams(config))
  for k, setting in enumerate(sweep.settings(config)):
    alone = sweep.setting_config(config, setting)
    _, alone_agent = run.prepare(alone)
    assert alone_agent.cfg.rho == setting['rho'] and not sweep.is_sweep(alone)
    separate, _ = _train_by_hand(alone_agent, alone)
    # Traced and constant hyper-parameters round differently, within float32 noise.
    assert_trees_close(sweep.take_setting(swept, k, config.num_seeds), separate,
                       rtol=1e-4, atol=1e-5)
  # The settings did train differently, so the comparison above could fail.
  first, second = (sweep.take_setting(swept, k, 2).policy.params for k in (0, 1))
  assert max(float(np.max(np.abs(a - b))) for a, b in
             zip(jax.tree.leaves(first), jax.tree.leaves(second), strict=True)) > 1e-4
  # One compiled program serves the whole sweep, whatever the swept values are.
  other_values = jax.tree.map(lambda x: x * 2, sweep.agent_hparams(config))
  dataset, _ = run.prepare(config)
  df_chunk(swept, dataset, other_values)
  assert df_chunk._cache_size() == 1


def test_validation_names_the_failing_setting_and_refuses_bad_lists():
  with pytest.raises(ConfigError, match=r'sweep setting 1 \(rho=2e\+06\)'):
    validate(tiny_config(**{'sweep.agent.rho': '1,2e6'}))
  for text, why in [(',', 'lists no value'), ('1,1', 'twice'), ('1,inf', 'not finite'),
                    ('0.1;1', 'not a number')]:
    with pytest.raises(ConfigError, match=why):
      validate(tiny_config(**{'sweep.agent.alpha': text}))


# Flow matching alone in the default run (one compiled phase); DF-dir under make test-slow.
@pytest.mark.parametrize('variant, key', [('bc', 'learning_rate'),
                                          pytest.param('dir', 'alpha', marks=pytest.mark.slow)])
def test_an_interrupted_sweep_resumes_to_the_uninterrupted_one(tmp_path, variant, key):
  schedule = {'df_steps': 0} if variant == 'bc' else {'bc_steps': 20, 'df_steps': 20}
  config = tiny_config(variant, **{f'sweep.agent.{key}': '0.5,4' if key == 'alpha' else
                                   '0.0005,0.004'}, eval_samples=20, **schedule)
  total = config.bc_steps + config.df_steps
  full = run.train_and_evaluate(config, str(tmp_path / 'full'), log=lambda s: None)
  with pytest.raises(run.Interrupted):
    run.train_and_evaluate(config, str(tmp_path / 'cut'), stop=StopAfter(1), log=lambda s: None)
  lines = []
  resumed = run.train_and_evaluate(config, str(tmp_path / 'cut'), log=lines.append)
  assert_trees_close(full['states'], resumed['states'], rtol=1e-5, atol=1e-6)
  rows = list(csv.DictReader(open(tmp_path / 'cut' / 'metrics.csv')))
  keys = [(r['step'], r['setting'], r['seed']) for r in rows]
  assert len(keys) == len(set(keys)) == total // config.chunk_size * 2 * 2  # x settings x seeds
  low, high = sweep.settings(config)
  summary = (tmp_path / 'cut' / 'sweep_summary.md').read_text()
  assert f'| 0 | {low[key]:g} |' in summary and f'| 1 | {high[key]:g} |' in summary
  assert 'best: setting' in summary
  assert (tmp_path / 'cut' / 'sweep.png').stat().st_size > 0
  assert (tmp_path / 'cut' / 'learning_curves.png').stat().st_size > 0  # a line per setting
  record = json.load(open(tmp_path / 'cut' / 'final_eval.json'))['sweep']
  assert [row['values'] for row in record['settings']] == [low, high]
  assert len(record['settings'][0]['per_seed']) == config.num_seeds
  assert any('best: setting' in line for line in lines)
  # evaluate: one setting reprints its seeds' final numbers; all settings, the table
  workdir = str(tmp_path / 'cut')
  one = evaluate_workdir(workdir, setting=1, log=lambda s: None)
  np.testing.assert_allclose(one['eval']['true_reward'], record['settings'][1]['per_seed'],
                             rtol=1e-6)
  printed = []
  evaluate_workdir(workdir, log=printed.append)
  assert f'| 1 | {high[key]:g} |' in '\n'.join(printed)
  with pytest.raises(ConfigError, match='settings are 0-1'):
    evaluate_workdir(workdir, setting=2)


@pytest.mark.slow  # two whole runs
def test_a_sweep_of_decision_flow_settings_starts_from_one_plain_pretraining(tmp_path):
  pretrained = str(tmp_path / 'pre')
  run.train_and_evaluate(tiny_config('div', df_steps=0), pretrained, log=lambda s: None)
  config = tiny_config('div', **{'sweep.agent.rho': '0.1,1,10'})
  out = run.train_and_evaluate(config, str(tmp_path / 'sweep'), init_from=pretrained,
                               log=lambda s: None)
  assert out['step'] == 40 and np.shape(out['states'].step) == (6,)
  rows = list(csv.DictReader(open(tmp_path / 'sweep' / 'metrics.csv')))
  copied = [(r['setting'], r['seed']) for r in rows if r['step'] == '20']
  assert copied == [(str(k), str(s)) for k in range(3) for s in range(2)]
  plain = run.train_and_evaluate(tiny_config('div', **{'agent.rho': 10.0}), str(tmp_path / 'ten'),
                                 init_from=pretrained, log=lambda s: None)
  assert_trees_close(sweep.take_setting(out['states'], 2, 2), plain['states'], rtol=1e-4,
                     atol=1e-5)
