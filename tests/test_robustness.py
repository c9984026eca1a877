"""Finite or refused: config bounds, non-finite datasets, the training guard, and workdir owners."""
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dflow_jax import data, train
from dflow_jax.cli import EXIT_NONFINITE
from dflow_jax.config import FLOAT_BOUNDS, ConfigError, validate
from dflow_jax.data import DatasetError, toy
from dflow_jax.runtime import checkpoint, guard, run
from dflow_jax.runtime.checkpoint import saved_steps
from tests.conftest import file_hashes, tiny_config
from tests.test_checkpoint import StopAfter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET = {'log': lambda s: None}



# ---- config values -------------------------------------------------------------------------

def _beyond(key):
  low, high, low_open, _ = FLOAT_BOUNDS[key]
  return [float('nan'), float('inf'), -float('inf'), high * 10 if high else 1.0, low - 1.0]


@pytest.mark.parametrize('key, value', [(key, value) for key in FLOAT_BOUNDS
                                        for value in _beyond(key)])
def test_nonfinite_or_out_of_bound_floats_are_refused_in_one_line(key, value):
  config = tiny_config('div')
  *parents, leaf = key.split('.')
  node = config
  for part in parents:
    node = node[part]
  node[leaf] = value
  with pytest.raises(ConfigError) as refused:
    validate(config)
  message = str(refused.value)
  assert '\n' not in message
  assert message.startswith(f'config.{key} = {value!r} is invalid: must be a finite number in')


def test_the_documented_bounds_are_accepted_and_the_readme_lists_them():
  config = tiny_config('div', **{'agent.learning_rate': 1.0, 'agent.rho': 1e6,
                                 'agent.alpha': 1e6, 'agent.lambda_dir': 1e6,
                                 'agent.lambda_div': 1e6, 'agent.discount': 1.0})
  validate(config)
  readme = open(os.path.join(ROOT, 'README.md')).read()
  for key in FLOAT_BOUNDS:
    assert f'`{key}`' in readme, key


# ---- datasets with nan or inf --------------------------------------------------------------

BAD_REWARD_ROWS = (0, 5, 17, 2500, 9999)


def nan_rewards_bandit(seed=0):
  """The bandit with nan rewards in a few rows and an inf observation in one of them."""
  clean = toy.bandit(seed=seed)
  rewards = np.asarray(clean.rewards).copy()
  rewards[list(BAD_REWARD_ROWS)] = np.nan
  observations = np.asarray(clean.observations).copy()
  observations[5, 0] = np.inf
  return clean.replace(rewards=rewards, observations=observations)


@pytest.fixture
def nan_dataset(monkeypatch):
  monkeypatch.setitem(data.IN_MEMORY, 'toy/nan-rewards',
                      data.InMemoryTask(nan_rewards_bandit, toy.bandit_metrics))
  return 'toy/nan-rewards'


def test_a_dataset_with_nan_rewards_is_refused_naming_fields_and_counts(nan_dataset, tmp_path):
  with pytest.raises(DatasetError) as refused:
    data.load(nan_dataset)
  message = str(refused.value)
  assert '\n' not in message
  assert 'observations (1 rows)' in message and 'rewards (5 rows)' in message
  assert '--config.drop_nonfinite=True' in message
  # training refuses it before writing anything
  with pytest.raises(DatasetError, match='rewards'):
    run.train_and_evaluate(tiny_config('div', dataset=nan_dataset), str(tmp_path / 'run'),
                           **QUIET)
  assert not (tmp_path / 'run').exists()


@pytest.mark.slow
def test_with_drop_nonfinite_the_bad_transitions_go_and_it_trains(nan_dataset, tmp_path):
  said = []
  dataset = data.load(nan_dataset, drop_nonfinite=True, log=said.append)
  assert dataset.size == 10_000 - len(BAD_REWARD_ROWS)
  assert np.isfinite(np.asarray(dataset.rewards)).all()
  assert said == [f'dropped 5 of 10000 transitions of {nan_dataset} with nan or inf values in '
                  'observations (1 rows), rewards (5 rows)']
  config = tiny_config('div', dataset=nan_dataset, drop_nonfinite=True, bc_steps=10,
                       df_steps=10)
  out = run.train_and_evaluate(config, str(tmp_path / 'run'), **QUIET)
  assert out['step'] == 20
  assert np.isfinite(out['eval']['true_reward']).all()


def test_a_minari_dataset_with_a_nan_reward_drops_it_and_scales_by_the_other_episodes(
    tmp_path, monkeypatch):
  """The locomotion scaling reads episode returns: the episode with the nan reward has none, so
  the scale comes from the finite ones."""
  from dflow_jax.datagen import minari_write
  from tests.test_minari_io import LENGTHS, pendulum_episodes
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path))
  env, episodes = pendulum_episodes()
  episodes[0].rewards[2] = np.nan
  minari_write.write_dataset('dflow/test/nan-v0', episodes, env=env, dflow={'generator': 'test'})
  with pytest.raises(DatasetError, match=r'rewards \(1 rows\) of 16 transitions'):
    data.load('dflow/test/nan-v0', reward_convention='locomotion')
  dataset = data.load('dflow/test/nan-v0', reward_convention='locomotion', drop_nonfinite=True,
                      log=lambda s: None)
  assert dataset.size == sum(LENGTHS) - 1
  returns = [float(np.sum(e.rewards)) for e in episodes[1:]]
  clean = np.concatenate([np.delete(episodes[0].rewards, 2)] + [e.rewards for e in episodes[1:]])
  np.testing.assert_allclose(dataset.rewards, clean * 1000.0 / (max(returns) - min(returns)),
                             rtol=1e-5)


# ---- the training guard --------------------------------------------------------------------

def test_the_guard_names_seeds_and_the_first_nonfinite_metric_or_the_parameters():
  metrics = {'critic/q_loss': np.array([1.0, np.inf, 2.0]),
             'behavior/fm_loss': np.array([1.0, 1.0, np.nan])}
  with pytest.raises(guard.NonFinite) as stopped:
    guard.check_chunk(metrics, {'metrics': np.array([True, False, False]),
                                'parameters': np.array([True, True, False])}, 30, 40, 20, 'ck')
  assert stopped.value.seeds == [1, 2] and stopped.value.first == 'behavior/fm_loss'
  assert 'seeds 1, 2 during updates 31-40' in str(stopped.value)
  finite = {'critic/q_loss': np.ones(3), 'behavior/fm_loss': np.ones(3)}
  with pytest.raises(guard.NonFinite, match=r'seed 0 during .* \(first: parameters\)'):
    guard.check_chunk(finite, {'metrics': np.array([True] * 3),
                               'parameters': np.array([False, True, True])}, 0, 10, None, 'ck')
  guard.check_chunk(finite, {'metrics': np.ones(3, bool), 'parameters': np.ones(3, bool)},
                    0, 10, None, 'ck')


def test_a_chunk_flags_per_seed_a_nan_in_a_parameter_it_does_not_train():
  """The flags come from the chunk itself: a nan in seed 1's policy, which the behaviour phase
  neither trains nor reads, leaves every metric finite and still flags seed 1's parameters."""
  config = tiny_config('div')
  dataset, agent = run.prepare(config)
  states = train.init_states(agent, config.seed, config.num_seeds)
  chunk = train.make_chunk(agent, train.BEHAVIOR, config.batch_size, 2)
  _, metrics, finite = chunk(jax.tree.map(jnp.copy, states), dataset)
  assert finite['metrics'].tolist() == finite['parameters'].tolist() == [True, True]
  leaves, tree = jax.tree.flatten(states.policy.params)
  leaves[0] = leaves[0].at[1].set(jnp.nan)
  poisoned = states.replace(policy=states.policy.replace(params=jax.tree.unflatten(tree, leaves)))
  _, metrics, finite = jax.device_get(chunk(poisoned, dataset))
  assert finite['metrics'].tolist() == [True, True]
  assert finite['parameters'].tolist() == [True, False]
  with pytest.raises(guard.NonFinite, match=r'seed 1 during updates 1-2 \(first: parameters\)'):
    guard.check_chunk(metrics, finite, 0, 2, None, 'ck')


class Rewards:
  """A bandit whose rewards can be scaled between runs: 1e30 is finite (the loader takes it) but
  its square is not, so the critic's loss overflows in float32 during training."""

  def __init__(self):
    self.scale = 1.0

  def __call__(self, seed=0):
    clean = toy.bandit(seed=seed)
    return clean.replace(rewards=clean.rewards * self.scale)


@pytest.mark.slow  # the status-3 stop itself is checked in the default run (test_the_cli_exits...)
def test_an_overflowing_critic_stops_the_run_before_the_bad_chunk_is_saved_and_it_resumes(
    tmp_path, monkeypatch):
  rewards = Rewards()
  monkeypatch.setitem(data.IN_MEMORY, 'toy/scaled', data.InMemoryTask(rewards, toy.bandit_metrics))
  config = tiny_config('div', dataset='toy/scaled')
  workdir = str(tmp_path / 'run')
  with pytest.raises(run.Interrupted):
    run.train_and_evaluate(config, workdir, stop=StopAfter(2), **QUIET)
  assert saved_steps(workdir) == [10, 20]
  before = file_hashes(workdir)

  rewards.scale = 1e30  # the data turns bad: the next chunk's critic loss overflows
  with pytest.raises(guard.NonFinite) as stopped:
    run.train_and_evaluate(config, workdir, **QUIET)
  assert (stopped.value.start, stopped.value.end, stopped.value.last_good) == (20, 30, 20)
  assert stopped.value.seeds == [0, 1] and stopped.value.first.startswith('critic/')
  assert 'updates 21-30' in str(stopped.value) and 'step 20' in str(stopped.value)
  assert saved_steps(workdir) == [10, 20]
  after = file_hashes(workdir)
  assert {k: after[k] for k in before} == before  # nothing there before the bad chunk changed
  assert guard.STOP_RECORD in after
  assert not os.path.exists(os.path.join(workdir, 'final_eval.json'))

  # Fixed (the data, and a lower learning rate, which only a run after the stop may change):
  # it resumes from the last good checkpoint and finishes.
  rewards.scale = 1.0
  config.agent.learning_rate = 1e-4
  said = []
  out = run.train_and_evaluate(config, workdir, log=said.append)
  assert out['step'] == 40 and any('resumed from the checkpoint at step 20' in s for s in said)
  assert not os.path.exists(os.path.join(workdir, guard.STOP_RECORD))
  for name in ('config.json', checkpoint.OWNER_CONFIG):
    assert json.load(open(os.path.join(workdir, name)))['agent']['learning_rate'] == 1e-4


def _huge_rewards_minari_dataset(root):
  """A local Minari dataset whose rewards (1e30) are finite but overflow the critic."""
  from dflow_jax.datagen import minari_write
  from tests.test_minari_io import pendulum_episodes
  env, episodes = pendulum_episodes()
  episodes = [dataclasses.replace(e, rewards=np.full_like(e.rewards, 1e30)) for e in episodes]
  os.environ['MINARI_DATASETS_PATH'] = str(root)
  try:
    minari_write.write_dataset('dflow/test/huge-v0', episodes, env=env, dflow={'generator': 'test'})
  finally:
    del os.environ['MINARI_DATASETS_PATH']


def test_the_cli_exits_with_status_3_and_one_line_on_a_nonfinite_chunk(tmp_path):
  _huge_rewards_minari_dataset(tmp_path / 'datasets')
  workdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'dflow_jax.main', '--config=experiments/toy.py',
       f'--workdir={workdir}', '--config.dataset=dflow/test/huge-v0', '--config.num_seeds=2',
       '--config.batch_size=8', '--config.bc_steps=10', '--config.df_steps=10',
       '--config.chunk_size=5', '--config.agent.velocity_hidden=(8,)',
       '--config.agent.critic_hidden=(8,)', '--config.agent.flow_steps=2',
       '--config.progress_bar=False'],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, 'MINARI_DATASETS_PATH': str(tmp_path / 'datasets')})
  assert proc.returncode == EXIT_NONFINITE == 3, proc.stderr
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
  assert lines[0].startswith('error: non-finite values in seeds 0, 1 during updates 1-5 '
                             '(first: critic/'), lines[0]
  assert 'no checkpoint had been saved yet' in lines[0]
  assert saved_steps(str(workdir)) == []


# ---- a workdir knows its owner -------------------------------------------------------------

@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('finished') / 'run'
  run.train_and_evaluate(tiny_config('div'), str(workdir), **QUIET)
  return workdir


@pytest.fixture
def copied_run(finished_run, tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(finished_run, workdir)
  return workdir


def test_a_finished_run_records_its_config_beside_its_checkpoints(finished_run):
  assert saved_steps(str(finished_run)) == [20, 30, 40]
  assert (json.load(open(finished_run / checkpoint.OWNER_CONFIG))
          == json.load(open(finished_run / 'config.json')))


@pytest.mark.parametrize('damage', ['removed', 'unreadable'])
def test_checkpoints_without_a_readable_config_are_refused_and_nothing_changes(copied_run,
                                                                                damage):
  if damage == 'removed':
    os.remove(copied_run / 'config.json')
  else:
    (copied_run / 'config.json').write_text('{"seed": 0,')
  before = file_hashes(copied_run)
  assert {'metrics.csv', 'final_eval.json', 'learning_curves.png',
          checkpoint.OWNER_CONFIG} <= set(before)
  with pytest.raises(ConfigError) as refused:
    run.train_and_evaluate(tiny_config('div'), str(copied_run), **QUIET)
  message = str(refused.value)
  assert '\n' not in message
  if damage == 'removed':
    assert 'holds checkpoints (steps 20, 30, 40) but no config.json' in message
    assert checkpoint.OWNER_CONFIG in message  # says where the owner's config is
  else:
    assert 'config.json cannot be read' in message
  assert file_hashes(copied_run) == before


def test_a_learning_rate_change_is_refused_without_a_nonfinite_stop(copied_run):
  before = file_hashes(copied_run)
  with pytest.raises(ConfigError, match=r'different config \(changed: agent.learning_rate\)'):
    run.train_and_evaluate(tiny_config('div', **{'agent.learning_rate': 1e-4}), str(copied_run),
                           **QUIET)
  assert file_hashes(copied_run) == before


def test_checkpoints_of_another_config_are_refused_even_when_config_json_agrees(copied_run):
  other = tiny_config('dir')
  (copied_run / 'config.json').write_text(other.to_json(indent=2))  # replaced by hand
  before = file_hashes(copied_run)
  with pytest.raises(ConfigError, match=r'checkpoints in .* were written by a different config '
                                        r'than this one \(changed: agent.variant'):
    run.train_and_evaluate(other, str(copied_run), **QUIET)
  from dflow_jax.evaluate import load_config
  with pytest.raises(ConfigError, match=r'not the config that wrote its checkpoints '
                                        r'\(changed: agent.variant'):
    load_config(str(copied_run))
  assert file_hashes(copied_run) == before


def test_an_older_run_without_the_owner_copy_still_resumes_and_gains_it(copied_run):
  os.remove(copied_run / checkpoint.OWNER_CONFIG)
  said = []
  out = run.train_and_evaluate(tiny_config('div'), str(copied_run), log=said.append)
  assert out['step'] == 40 and any('resumed from the checkpoint at step 40' in s for s in said)
  assert (copied_run / checkpoint.OWNER_CONFIG).exists()


def test_evaluate_refuses_checkpoints_without_config_in_one_line(copied_run):
  os.remove(copied_run / 'config.json')
  before = file_hashes(copied_run)
  proc = subprocess.run([sys.executable, '-m', 'dflow_jax.evaluate', f'--workdir={copied_run}'],
                        cwd=ROOT, capture_output=True, text=True, timeout=240)
  assert proc.returncode == 2, proc.stderr
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
  assert lines[0].startswith(f'error: {copied_run} holds checkpoints but no config.json')
  assert file_hashes(copied_run) == before
