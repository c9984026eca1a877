"""`python -m dflow_jax.datagen generate`: a regenerated dataset reads back like a Minari one.

A regenerated dataset is a local Minari dataset that the loader reads back, with its
provenance, reference scores and evaluation env."""
import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dflow_jax import data
from dflow_jax.data import registry
from dflow_jax.datagen import recipes
from dflow_jax.datagen.cli import generate, main
from dflow_jax.datagen.shared_files import shared_data_dir
from dflow_jax.envs.make import make_eval_env

NAME = 'dflow/pointmaze/umaze-v2'


@pytest.fixture(scope='module')
def umaze(tmp_path_factory):
  root = tmp_path_factory.mktemp('minari')
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv('MINARI_DATASETS_PATH', str(root))
    summary = generate(NAME, steps=3000, seed=0, quiet=True)
    yield summary, data.load(NAME), data.load(NAME, reward_convention='sparse_shift'), \
        data.metadata(NAME)


def test_generated_pointmaze_reads_back_as_transitions(umaze):
  summary, t, _, _ = umaze
  assert summary['steps'] == 3000 and t.size == 3000
  assert t.observations.shape == (3000, 8) and t.actions.shape == (3000, 2)
  assert float(np.abs(t.actions).max()) <= 1.0
  # Episodes end at success (a truncation, still bootstrapped); nothing is terminal.
  assert float(t.terminals.sum()) == 0.0 and float(t.timeouts.sum()) == summary['episodes']
  # Flattened as [achieved_goal, desired_goal, observation]: the position is the achieved goal.
  np.testing.assert_allclose(t.observations[:, :2], t.observations[:, 4:6], atol=1e-5)
  assert (Path(summary['path']) / 'return_histogram.png').is_file()


def test_reward_convention_and_metadata(umaze):
  _, t, shifted, meta = umaze
  np.testing.assert_allclose(shifted.rewards, t.rewards - 1.0)
  assert meta['seed'] == 0 and meta['env_id'] == 'PointMaze_UMaze-v3'
  assert meta['package_versions']['gymnasium_robotics'] and meta['eval_env']['maze'] == 'umaze'
  refs = meta['reference_scores']
  assert refs['ref_max_score'] > 10 * max(refs['ref_min_score'], 1.0)


def test_eval_env_observations_match_the_dataset_layout(umaze):
  env = make_eval_env(data.metadata(NAME)['eval_env'])
  obs, _ = env.reset(seed=0)
  assert obs.shape == (8,) and env.spec.max_episode_steps == 300
  env.close()


def test_every_listed_dataset_has_a_recipe_and_the_rest_a_clear_refusal():
  names = sorted(recipes.BUILDERS)
  assert 'dflow/door/human-v2' in names and 'dflow/mujoco/hopper/expert-v0' in names
  assert all(f'dflow/mujoco/{env}/mixed-v0' in names for env in registry.MUJOCO_ENVS)
  out = subprocess.run([sys.executable, '-m', 'dflow_jax.data', 'generate', 'dflow/pen/human-v2'],
                       capture_output=True, text=True, timeout=60)
  assert out.returncode == 2
  assert out.stderr.count('\n') == 1 and 'not reproducible offline' in out.stderr


@pytest.mark.skipif(not (shared_data_dir() / 'adroit').is_dir(),
                    reason='shared/data not found (set DFLOW_SHARED_DATA)')
def test_door_human_regenerates_and_reads_back(tmp_path, monkeypatch):
  from dflow_jax.data import minari_io
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path))
  summary = generate('dflow/door/human-v2', steps=None, seed=0, quiet=True)
  arrays, raw_meta, returns = minari_io.read_transitions('dflow/door/human-v2')
  assert arrays['observations'].shape == (6729, 39) and arrays['actions'].shape == (6729, 28)
  assert arrays['timeouts'].sum() == 25 and arrays['terminals'].sum() == 0
  assert np.mean(returns) == pytest.approx(795.9, rel=0.02)  # D4RL-corrected replay
  assert summary['reference_scores']['measured_random_return'] == pytest.approx(-56.5, rel=0.1)
  assert raw_meta['ref_min_score'] == pytest.approx(-56.512833)
  env = make_eval_env(data.metadata('dflow/door/human-v2')['eval_env'])
  assert env.spec.max_episode_steps == 200 and env.observation_space.shape == (39,)
  env.close()


needs_mujoco_actors = pytest.mark.skipif(not (shared_data_dir() / 'mujoco').is_dir(),
                                         reason='shared/data not found (set DFLOW_SHARED_DATA)')
MIXED = 'dflow/mujoco/hopper/mixed-v0'


@pytest.fixture(scope='module')
def hopper_mixed(tmp_path_factory):
  """The CLI's run of a 3000-step hopper mixed dataset: (stdout, transitions, returns, ours).

  Read back before returning, so that MINARI_DATASETS_PATH goes back to the umaze fixture's
  for the tests that use that one."""
  from dflow_jax.data import minari_io
  root = tmp_path_factory.mktemp('minari')
  stdout = io.StringIO()
  with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
    patch.setenv('MINARI_DATASETS_PATH', str(root))
    assert main(['generate', MIXED, '--steps', '3000', '--quiet']) == 0
    _, _, returns = minari_io.read_transitions(MIXED)
    return stdout.getvalue(), data.load(MIXED), returns, data.metadata(MIXED)


@needs_mujoco_actors
def test_mixed_hopper_records_one_noise_level_and_return_per_episode(hopper_mixed):
  _, t, returns, meta = hopper_mixed
  assert t.observations.shape == (3000, 11) and t.actions.shape == (3000, 3)
  assert float(np.abs(t.actions).max()) <= 1.0
  # Falls are terminations; the last episode (cut to fit the budget) ends with a truncation.
  episodes = int(t.terminals.sum() + t.timeouts.sum())
  assert t.terminals.sum() >= 1 and t.timeouts[-1] == 1.0 and len(returns) == episodes
  levels = meta['episode_noise_levels']
  assert len(levels) == episodes and all(0.0 <= level <= 1.0 for level in levels)
  assert len(set(levels)) == episodes  # drawn per episode, not once
  np.testing.assert_allclose(meta['episode_returns'], returns, rtol=1e-4, atol=1e-3)
  assert 'hopper-full-replay-v2' in meta['reference_scores']['source']
  assert meta['eval_env'] == {'family': 'mujoco', 'env': 'Hopper-v5'}


@needs_mujoco_actors
def test_mixed_hopper_returns_fall_with_the_noise_level(hopper_mixed):
  """The less noisy half of the complete episodes earns well over the noisier half (2.6x with
  seed 0); the deterministic expert alone, or one noise level for all, would not."""
  _, _, _, meta = hopper_mixed
  levels = np.array(meta['episode_noise_levels'][:-1])  # the last one is cut short
  returns = np.array(meta['episode_returns'][:-1])
  order = np.argsort(levels)
  half = len(order) // 2
  assert half >= 3
  assert returns[order[:half]].mean() > 1.6 * returns[order[-half:]].mean()


@needs_mujoco_actors
def test_mixed_generation_writes_and_prints_a_return_histogram(hopper_mixed):
  stdout, _, _, _ = hopper_mixed
  (line,) = [line for line in stdout.splitlines() if line.startswith('return histogram: ')]
  png = Path(line.split(': ', 1)[1])
  assert png.name == 'return_histogram.png' and png.parent.name == 'mixed-v0'
  assert png.read_bytes().startswith(b'\x89PNG')


@needs_mujoco_actors
def test_mixed_noise_levels_are_reproducible_from_seed_and_episode():
  from dflow_jax.datagen import gym_mujoco
  first, again = (list(gym_mujoco.generate_mixed('hopper', 400, seed=3)) for _ in range(2))
  assert sum(map(len, first)) == 400
  for k, (episode, repeat) in enumerate(zip(first, again, strict=True)):
    expected = np.random.default_rng(gym_mujoco.MIXED_NOISE_OFFSET + 3 + k).uniform()
    assert episode.noise_level == repeat.noise_level == pytest.approx(expected)
    np.testing.assert_array_equal(episode.actions, repeat.actions)


@pytest.mark.slow  # a whole run; `make test` stays under 10 minutes
def test_a_quick_pointmaze_run_writes_plots_and_a_summary_table(umaze, tmp_path):
  """`experiments/pointmaze.py:umaze,quick` end to end on the generated data: the workdir gets
  the learning curves, the action-sample figure and the markdown summary table."""
  from dflow_jax.runtime import run
  from experiments.pointmaze import get_config
  config = get_config('umaze,quick')
  config.progress_bar = False
  workdir = tmp_path / 'run'
  lines = []
  result = run.train_and_evaluate(config, str(workdir), log=lines.append)
  for name in ('learning_curves.png', 'action_samples.png'):
    png = (workdir / name).read_bytes()
    assert png.startswith(b'\x89PNG') and len(png) > 10_000
  summary = (workdir / 'eval_summary.md').read_text()
  assert 'aggregate' in summary and 'ci_low' in summary and 'normalized' in summary
  assert result['eval']['normalized'].shape == (config.num_seeds, config.final_eval_episodes)
  assert 'learning_curves.png' in lines[-1]
