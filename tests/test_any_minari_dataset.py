"""A dataset that Minari itself recorded, with none of our metadata: trained and evaluated in the
env it was recorded in, or trained with a first line that says why it cannot be evaluated."""
import json
import warnings

import gymnasium as gym
import minari
import numpy as np
import pytest
from conftest import tiny_config

NAME = 'test/pendulum/random-v0'
REFS = dict(ref_min_score=-1500.0, ref_max_score=-150.0)


def _record(name: str, episodes: int = 4, **refs):
  """Random-action Pendulum episodes through minari.DataCollector, as a user would record them."""
  env = minari.DataCollector(gym.make('Pendulum-v1'))
  env.action_space.seed(0)
  for episode in range(episodes):
    env.reset(seed=episode)
    done = False
    while not done:
      _, _, terminated, truncated, _ = env.step(env.action_space.sample())
      done = terminated or truncated
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # minari's requests for an author, a permalink, ...
    env.create_dataset(name, algorithm_name='random', **refs)


def _config(name: str):
  config = tiny_config('div', dataset=name, bc_steps=20, df_steps=0, chunk_size=20,
                       save_interval=20, batch_size=32, eval_episodes=2, final_eval_episodes=2,
                       eval_interval=1000, validation_episodes=1)
  return config


def test_a_recorded_dataset_is_trained_then_evaluated_in_its_recorded_env(tmp_path, monkeypatch):
  from dflow_jax.evaluate import evaluate_workdir
  from dflow_jax.runtime import run
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'datasets'))
  _record(NAME, **REFS)
  printed = []
  out = run.train_and_evaluate(_config(NAME), str(tmp_path / 'run'), log=printed.append)
  assert not any('not evaluated' in line for line in printed)
  result = out['eval']
  assert result['lengths'].shape == (2, 2) and np.all(result['lengths'] == 200)  # its time limit
  normalized = 100 * (result['returns'] - REFS['ref_min_score']) / (
      REFS['ref_max_score'] - REFS['ref_min_score'])
  np.testing.assert_allclose(result['normalized'], normalized, rtol=1e-5)
  saved = json.load(open(tmp_path / 'run' / 'final_eval.json'))
  np.testing.assert_allclose(saved['normalized'], result['normalized'].mean(axis=1))
  again = evaluate_workdir(str(tmp_path / 'run'), log=lambda s: None)
  np.testing.assert_allclose(again['returns'], result['returns'])


def test_without_reference_scores_the_raw_returns_are_reported(tmp_path, monkeypatch):
  from dflow_jax import data
  from dflow_jax.envs.evaluation import reference_range
  from dflow_jax.reporting import evaluator
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'datasets'))
  _record(NAME, episodes=1)
  meta = data.metadata(NAME)
  recipe, reason = evaluator.eval_recipe(NAME, meta)
  assert reason is None and recipe['env_id'] == 'Pendulum-v1'
  assert reference_range(meta) is None


def test_a_dataset_whose_env_cannot_be_rebuilt_trains_and_says_why(tmp_path, monkeypatch):
  from dflow_jax.config import ConfigError
  from dflow_jax.data import minari_io
  from dflow_jax.evaluate import evaluate_workdir
  from dflow_jax.runtime import run
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'datasets'))
  _record(NAME, **REFS)
  # As if recorded in an env whose package this machine lacks.
  path = minari_io.dataset_path(NAME) / 'data' / 'metadata.json'
  metadata = json.loads(path.read_text())
  spec = json.loads(metadata['env_spec'])
  spec.update(id='Vanished-v0', entry_point='no_such_package.envs:Vanished')
  metadata['env_spec'] = json.dumps(spec)
  path.write_text(json.dumps(metadata))
  printed = []
  run.train_and_evaluate(_config(NAME), str(tmp_path / 'run'), log=printed.append)
  said = [line for line in printed if 'not evaluated' in line]
  assert len(said) == 1 and 'Vanished-v0' in said[0] and 'cannot be rebuilt' in said[0]
  with pytest.raises(ConfigError, match='cannot evaluate: its env Vanished-v0'):
    evaluate_workdir(str(tmp_path / 'run'), log=lambda s: None)
