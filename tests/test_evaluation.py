"""Env evaluation: first-episode accounting, score arithmetic, and the evaluate CLI."""
import json
import os
import shutil
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from dflow_jax.config import ConfigError, validate
from dflow_jax.envs.evaluation import run_first_episodes
from dflow_jax.reporting import evaluator, scores
from tests.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = 'dflow/pointmaze/umaze-dense-v2'  # dense rewards: returns that differ between policies


class Countdown(gym.Env):
  """Episodes of 2 + seed % 4 steps; step t rewards (t + 1) * (1 + action), so a policy that
  acts 0.5 earns 1.5 * L (L + 1) / 2. Unseeded resets (autoresets) start a 5-step episode."""

  observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
  action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

  def reset(self, seed=None, options=None):
    super().reset(seed=seed)
    self.length, self.t = (2 + seed % 4 if seed is not None else 5), 0
    return np.array([self.length], np.float32), {}

  def step(self, action):
    self.t += 1
    reward = self.t * (1.0 + float(action[0]))
    return np.array([self.length - self.t], np.float32), reward, self.t == self.length, False, {}


def test_only_each_envs_first_episode_counts():
  envs = gym.vector.SyncVectorEnv([Countdown] * 6)
  calls = []

  def policy(observations, step):
    calls.append(observations.shape)
    return np.full((len(observations), 1), 0.5, np.float32)

  out = run_first_episodes(envs, policy, env_seed=10)  # seeds 10..15: lengths 4 5 2 3 4 5
  lengths = np.array([4, 5, 2, 3, 4, 5])
  np.testing.assert_array_equal(out.lengths, lengths)
  np.testing.assert_allclose(out.returns, 1.5 * lengths * (lengths + 1) / 2)
  # The short episodes autoreset and kept running while the 5-step ones finished.
  assert out.vector_steps == 5 and calls == [(6, 1)] * 5
  assert min(out.inference_s, out.first_call_s, out.simulation_s) > 0


def test_normalized_scores_and_aggregates_on_known_numbers():
  np.testing.assert_allclose(scores.normalized([10.0, 30.0, 50.0], 10.0, 50.0), [0, 50, 100])
  assert scores.iqm([1, 2, 3, 4, 5, 6, 7, 100]) == 4.5  # drops 1, 2 and 7, 100
  assert scores.iqm([1, 2, 3, 4, 100]) == 3.0
  assert scores.iqm([4.0, 8.0]) == 6.0  # under 4 values nothing is dropped
  values = np.random.default_rng(1).normal(size=(3, 11))
  np.testing.assert_allclose(scores.iqm(values), stats.trim_mean(values, 0.25, axis=-1))
  # Two seeds: bootstrap means are 0, 0.5, 1 with chances 1/4, 1/2, 1/4.
  assert scores.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
  assert scores.bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0)
  spread = np.arange(10.0)
  low, high = scores.bootstrap_ci(spread)
  assert 1.5 < low < 4.5 < high < 7.5 and scores.bootstrap_ci(spread) == (low, high)
  agg = scores.aggregate([0.0, 10.0, 20.0, 30.0])
  assert agg['mean'] == 15.0 and agg['iqm'] == 15.0 and agg['ci_low'] < 15 < agg['ci_high']


def test_eval_config_keys_are_validated_and_seeds_leave_training_alone():
  for key, bad in (('eval_episodes', 0), ('final_eval_episodes', 0), ('eval_interval', -1)):
    config = tiny_config(**{key: bad})
    with pytest.raises(ConfigError, match=f'config.{key} = {bad} is invalid'):
      validate(config)
  env_a, action_a = evaluator.eval_seeds(0, 100)
  env_b, action_b = evaluator.eval_seeds(0, 200)
  assert env_a == env_b and action_a != action_b  # same start states at every step
  assert evaluator.Evaluator.for_run(tiny_config(), agent=None) is None  # toy tasks


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """Two seeds trained 40 steps on a small generated dense umaze, evaluated at step 20 (the
  behaviour flow) and at the end (the policy). No Decision Flow updates: one compiled chunk."""
  from dflow_jax.datagen.cli import generate
  from dflow_jax.runtime import run
  root = tmp_path_factory.mktemp('minari')
  workdir = tmp_path_factory.mktemp('runs')
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv('MINARI_DATASETS_PATH', str(root))
    generate(NAME, steps=3000, seed=0, quiet=True)
    config = tiny_config('div', dataset=NAME, bc_steps=40, df_steps=0, chunk_size=20,
                         save_interval=1000, batch_size=64, eval_episodes=2,
                         final_eval_episodes=3, eval_interval=20, validation_episodes=2)
    config.agent.velocity_hidden = config.agent.critic_hidden = (32, 32)
    printed = []
    out = run.train_and_evaluate(config, str(workdir / 'run'), log=printed.append)
    yield {'root': root, 'workdir': workdir / 'run', 'out': out, 'printed': printed[-1],
           'config': config}


def _evaluate_cli(root, *args):
  env = {**os.environ, 'MINARI_DATASETS_PATH': str(root)}
  return subprocess.run([sys.executable, '-m', 'dflow_jax.evaluate', *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=240)


def test_training_evaluates_on_schedule_and_writes_its_records(trained):
  workdir, result = trained['workdir'], trained['out']['eval']
  assert sorted(os.listdir(workdir / 'eval')) == ['step_20.npz', 'step_40.npz']
  during = np.load(workdir / 'eval' / 'step_20.npz')
  assert during['returns'].shape == (2, 2) and int(during['step']) == 20
  assert bool(during['behavior']) and not result['behavior']  # u_theta is used once trained
  assert result['returns'].shape == (2, 3) and np.all(result['lengths'] == 300)
  assert np.all(result['returns'] > 0)  # dense rewards: every step earns something
  saved = json.load(open(workdir / 'final_eval.json'))
  np.testing.assert_allclose(saved['normalized'], result['normalized'].mean(axis=1))
  # Validation episodes at every evaluation, from start states none of the test episodes has.
  validation = result['validation']
  assert validation['returns'].shape == (2, 2) and during['val_returns'].shape == (2, 2)
  assert not set(validation['returns'].ravel()) & set(result['returns'].ravel())
  np.testing.assert_allclose(saved['validation']['normalized'],
                             validation['normalized'].mean(axis=1))
  assert int(during['val_env_seed']) >= evaluator.VALIDATION_OFFSET > int(during['env_seed'])
  assert 'IQM' in (workdir / 'eval_summary.md').read_text()
  assert 'aggregate mean iqm ci_low ci_high' in ' '.join(trained['printed'].split())


@pytest.mark.slow  # a second training run: about 20 s of compilation on 2 cores
def test_evaluating_during_training_does_not_change_training(trained, tmp_path, monkeypatch):
  import jax

  from dflow_jax.runtime import run
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(trained['root']))
  config = trained['config'].copy_and_resolve_references()
  config.eval_interval = 0
  quiet = run.train_and_evaluate(config, str(tmp_path / 'quiet'), log=lambda _: None)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
               trained['out']['states'], quiet['states'])


def test_the_cli_reproduces_the_final_scores_from_the_workdir(trained):
  proc = _evaluate_cli(trained['root'], f'--workdir={trained["workdir"]}')
  assert proc.returncode == 0, proc.stderr
  final = np.load(trained['workdir'] / 'eval' / 'step_40.npz')
  again = np.load(trained['workdir'] / 'eval' / 'step_40_episodes_3.npz')
  for key in ('returns', 'lengths', 'normalized', 'env_seed', 'action_seed'):
    np.testing.assert_array_equal(again[key], final[key])
  table = trained['printed'].split('\ntime ')[0]  # everything but the timings
  assert table in proc.stdout


def test_bad_workdirs_are_refused_in_one_line(trained, tmp_path):
  cases = [(f'--workdir={tmp_path}', 'no config.json'),
           (f'--workdir={trained["workdir"]} --step=7', 'available steps: 40')]
  mismatched = tmp_path / 'mismatched'
  shutil.copytree(trained['workdir'] / 'checkpoints', mismatched / 'checkpoints')
  config = json.load(open(trained['workdir'] / 'config.json'))
  config['agent']['velocity_hidden'] = [16, 16]
  json.dump(config, open(mismatched / 'config.json', 'w'))
  cases.append((f'--workdir={mismatched}', 'not the config that wrote its checkpoints'))
  # A run saved before checkpoints/config.json existed: the checkpoint's shapes still tell.
  older = tmp_path / 'older'
  shutil.copytree(mismatched, older)
  os.remove(older / 'checkpoints' / 'config.json')
  cases.append((f'--workdir={older}', 'does not match config.json'))
  for args, named in cases:
    proc = _evaluate_cli(trained['root'], *args.split())
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert named in lines[0] and lines[0].startswith('error: ')


def _assert_acts_otherwise(trained, result, record_name: str, flag: str):
  """An acting override's record holds its returns, from the final evaluation's env seeds (only
  the way of acting differs, and so do the returns); `--<flag>=0` is refused."""
  record = np.load(trained['workdir'] / 'eval' / record_name)
  np.testing.assert_array_equal(record['returns'], result['returns'])
  final = np.load(trained['workdir'] / 'eval' / 'step_40.npz')
  np.testing.assert_array_equal(record['env_seed'], final['env_seed'])
  assert not np.allclose(record['returns'], final['returns'])
  proc = _evaluate_cli(trained['root'], f'--workdir={trained["workdir"]}', f'--{flag}=0')
  assert proc.returncode == 2 and flag in proc.stderr


def test_best_of_n_acting_evaluates_the_same_weights_another_way(trained, monkeypatch):
  from dflow_jax.evaluate import evaluate_workdir
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(trained['root']))
  printed = []
  result = evaluate_workdir(str(trained['workdir']), episodes=3, log=printed.append,
                            num_samples=4, critic=True)
  # The small maze's episodes are all cut short of the critic checks' horizon: they say so, and
  # the advantage ranking, which completes cut returns with V, still has a figure per seed.
  table = next(p for p in printed if p.startswith('critic: no transition has an uncut'))
  per_seed = [line.split() for line in table.splitlines()[3:-1]]
  assert len(per_seed) == 2 and all(np.isfinite(float(row[-1])) for row in per_seed), table
  assert 'no step qualifies' in printed[-1]
  _assert_acts_otherwise(trained, result, 'step_40_episodes_3_best_of_4.npz', 'num_samples')


def test_fewer_flow_steps_act_with_the_same_weights_from_the_same_env_seeds(trained, monkeypatch):
  from dflow_jax.evaluate import evaluate_workdir
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(trained['root']))
  result = evaluate_workdir(str(trained['workdir']), episodes=3, log=lambda _: None, flow_steps=1)
  _assert_acts_otherwise(trained, result, 'step_40_episodes_3_T_1.npz', 'flow_steps')


def test_the_critic_check_on_own_episodes_plays_the_evaluations_episodes(trained, monkeypatch):
  """With the evaluation's seeds and episode count it meets the same episodes (the same returns),
  and with a horizon the maze's 300 steps allow it reads Q on every step it may use."""
  from dflow_jax import data
  from dflow_jax.envs.critic_on_policy import q_on_own_episodes
  from dflow_jax.evaluate import build_agent, load_config, restore_states
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(trained['root']))
  config = load_config(str(trained['workdir']))
  recipe = data.metadata(config.dataset)['eval_env']
  agent = build_agent(config, recipe)
  step, states = restore_states(str(trained['workdir']), config, agent, None)
  final = np.load(trained['workdir'] / 'eval' / 'step_40.npz')
  check = q_on_own_episodes(agent, states, recipe, 3, int(final['env_seed']),
                            int(final['action_seed']), discount=0.9)
  np.testing.assert_allclose(check['episode_returns'], final['returns'], rtol=1e-5)
  horizon = int(np.ceil(np.log(0.01) / np.log(0.9)))  # 44 steps
  np.testing.assert_array_equal(check['steps'], 3 * (300 - horizon + 1))
  assert np.all(np.isfinite(check['q_mean'])) and np.all(np.isfinite(check['correlation']))


def test_the_python_api_plays_the_episodes_evaluate_plays(trained):
  """`dflow_jax.load(workdir).act`, stepped through the eval envs with the evaluator's seeds,
  earns the returns training's final evaluation recorded; one seed alone acts as among all."""
  import functools

  import jax

  import dflow_jax
  from dflow_jax.envs.make import make_eval_env
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv('MINARI_DATASETS_PATH', str(trained['root']))
    policy = dflow_jax.load(str(trained['workdir']))
    result = trained['out']['eval']
    assert policy.step == 40 and policy.num_agents == 2 and not policy.behavior
    env_seed, action_seed = evaluator.eval_seeds(policy.config.seed, policy.step)
    recipe = {'family': 'pointmaze', 'maze': 'umaze', 'dense': True}  # NAME's eval env
    envs = gym.vector.SyncVectorEnv([functools.partial(make_eval_env, recipe)] * 6)

    def act(observations, step):
      per_seed = np.asarray(observations, np.float32).reshape(2, 3, -1)
      actions = policy.act(per_seed, jax.random.fold_in(jax.random.PRNGKey(action_seed), step))
      return np.clip(np.asarray(actions).reshape(6, -1), envs.single_action_space.low,
                     envs.single_action_space.high)

    played = run_first_episodes(envs, act, env_seed)
    envs.close()
  np.testing.assert_allclose(played.returns.reshape(2, 3), result['returns'], rtol=1e-5)
  observations = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
  key = jax.random.PRNGKey(3)
  np.testing.assert_allclose(policy.act(observations, key, seed=1),
                             policy.act(observations, key)[1], rtol=1e-5, atol=1e-6)
  assert jax.tree.leaves(policy.params)[0].shape[0] == 2  # seed-stacked parameters
