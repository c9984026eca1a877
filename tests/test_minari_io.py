"""The Minari path: a dataset we write is read back as transitions by the same loader."""
import json
import subprocess
import sys
import time
import warnings

import gymnasium as gym
import numpy as np
import pytest

from dflow_jax import data
from dflow_jax.data import minari_io
from dflow_jax.data.rewards import apply_convention
from dflow_jax.datagen import minari_write
from dflow_jax.datagen.episodes import Episode

LENGTHS = (5, 7, 4)


def pendulum_episodes():
  """Three short random episodes; the second ends in a true termination, the others time out."""
  env = gym.make('Pendulum-v1')
  rng = np.random.default_rng(0)
  episodes = []
  for k, length in enumerate(LENGTHS):
    obs, _ = env.reset(seed=k)
    observations, actions, rewards = [obs], [], []
    for _ in range(length):
      action = rng.uniform(-2, 2, size=1).astype(np.float32)
      obs, reward, *_ = env.step(action)
      observations.append(obs), actions.append(action), rewards.append(reward)
    ends = np.zeros(length, bool)
    ends[-1] = True
    terminal = k == 1
    episodes.append(Episode(np.stack(observations), np.stack(actions), np.array(rewards),
                            ends & terminal, ends & (not terminal), seed=k))
  return env, episodes


@pytest.fixture()
def written(tmp_path, monkeypatch):
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path))
  env, episodes = pendulum_episodes()
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    minari_write.write_dataset('dflow/test/pendulum-v0', episodes, env=env,
                               dflow={'generator': 'test', 'seed': 0}, ref_min_score=-10.0,
                               ref_max_score=0.0)
  # Minari's reminders of a permalink, an e-mail and an eval env say nothing about our data.
  assert not [w for w in caught if 'is set to None' in str(w.message)]
  return episodes


def test_round_trip_keeps_every_step_and_the_episode_structure(written):
  t = data.load('dflow/test/pendulum-v0')
  n = sum(LENGTHS)
  assert t.observations.shape == (n, 3) and t.actions.shape == (n, 1)
  starts = np.cumsum((0,) + LENGTHS[:-1])
  obs = np.concatenate([e.observations[:-1] for e in written])
  next_obs = np.concatenate([e.observations[1:] for e in written])
  np.testing.assert_allclose(t.observations, obs, rtol=1e-6)
  np.testing.assert_allclose(t.next_observations, next_obs, rtol=1e-6)
  np.testing.assert_allclose(t.rewards, np.concatenate([e.rewards for e in written]), rtol=1e-6)
  # terminal = no bootstrap only at the true end; timeouts at the other two ends
  assert np.flatnonzero(t.terminals).tolist() == [starts[1] + LENGTHS[1] - 1]
  assert np.flatnonzero(t.timeouts).tolist() == [LENGTHS[0] - 1, n - 1]


def test_metadata_carries_provenance_and_reference_scores(written):
  meta = data.metadata('dflow/test/pendulum-v0')
  assert meta['generator'] == 'test' and meta['package_versions']['minari']
  raw = minari_io.read_metadata('dflow/test/pendulum-v0')
  assert (raw['ref_min_score'], raw['ref_max_score']) == (-10.0, 0.0)


def test_reward_conventions():
  rewards, returns = np.array([1.0, 2.0, 0.0]), [10.0, 60.0]
  np.testing.assert_allclose(apply_convention(rewards, returns, 'locomotion'), rewards * 20.0)
  np.testing.assert_allclose(apply_convention(rewards, returns, 'sparse_shift'), rewards - 1.0)
  np.testing.assert_allclose(apply_convention(rewards, returns, 'none'), rewards)


def test_dict_observations_flatten_in_sorted_key_order():
  obs = {'observation': np.ones((3, 4)), 'desired_goal': np.full((3, 2), 2.0),
         'achieved_goal': np.full((3, 2), 3.0)}
  flat = minari_io.flatten_observation(obs)
  np.testing.assert_array_equal(flat[0], [3, 3, 2, 2, 1, 1, 1, 1])


def test_a_missing_dataset_fails_fast_with_one_line_and_the_command(tmp_path):
  started = time.perf_counter()
  out = subprocess.run(
      [sys.executable, '-m', 'dflow_jax.main', '--config=experiments/toy.py',
       '--config.dataset=D4RL/door/human-v2', f'--workdir={tmp_path / "run"}'],
      capture_output=True, text=True, timeout=60,
      env={**__import__('os').environ, 'MINARI_DATASETS_PATH': str(tmp_path)})
  elapsed = time.perf_counter() - started
  assert out.returncode == 2, out.stderr
  lines = [line for line in out.stderr.splitlines() if line.startswith('error')]
  assert len(lines) == 1 and 'python -m dflow_jax.datagen generate dflow/door/human-v2' in lines[0]
  assert elapsed < 30.0


def test_observation_statistics_come_from_the_data_and_travel_in_the_state(written):
  from dflow_jax import train
  from dflow_jax.runtime import run
  from experiments.toy import get_config
  config = get_config()
  config.dataset, config.num_seeds, config.batch_size = 'dflow/test/pendulum-v0', 2, 8
  dataset, agent = run.prepare(config)
  states = train.init_states(agent, 0, 2)
  obs = np.asarray(dataset.observations)
  np.testing.assert_allclose(states.observation_stats.mean[1], obs.mean(0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(states.observation_stats.std[0], obs.std(0) + 1e-3, rtol=1e-5)
  actions = train.sample_actions(agent, states, dataset.observations[0], 4)
  assert actions.shape == (2, 4, 1)


def test_a_downloaded_dataset_gets_its_eval_env_from_the_id_and_refs_from_minari(
    tmp_path, monkeypatch):
  """A D4RL dataset carries no metadata of ours; it must still be evaluated and normalised."""
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path))
  env, episodes = pendulum_episodes()
  path = minari_write.write_dataset('D4RL/door/human-v2', episodes, env=env, dflow={},
                                    ref_min_score=-56.5, ref_max_score=2880.6)
  raw = minari_io.read_metadata('D4RL/door/human-v2')
  raw.pop(minari_io.DFLOW_KEY)  # what a downloaded copy looks like
  (path / 'data' / 'metadata.json').write_text(json.dumps(raw))
  meta = data.metadata('D4RL/door/human-v2')
  assert meta['eval_env'] == {'family': 'adroit', 'task': 'door'}
  assert meta['reference_scores']['ref_min_score'] == -56.5
  assert meta['reference_scores']['ref_max_score'] == 2880.6


@pytest.mark.parametrize('dataset_id, recipe', [
    ('D4RL/pointmaze/large-dense-v2', {'family': 'pointmaze', 'maze': 'large', 'dense': True}),
    ('D4RL/pointmaze/umaze-v2', {'family': 'pointmaze', 'maze': 'umaze', 'dense': False}),
    ('D4RL/pen/cloned-v2', {'family': 'adroit', 'task': 'pen'}),
    ('mujoco/walker2d/medium-v0', {'family': 'mujoco', 'env': 'Walker2d-v5'}),
    ('D4RL/antmaze/umaze-v1', None),
])
def test_eval_env_of_a_minari_id(dataset_id, recipe):
  from dflow_jax.data import registry
  assert registry.eval_env_of(dataset_id) == recipe
