"""PNG figures and the optional TensorBoard events of a run."""
import csv
import importlib.util
import json
import os
import sys
import types

import numpy as np
import pytest

from dflow_jax import data, train
from dflow_jax.reporting import evaluator, plots
from dflow_jax.reporting.report import MetricsLog
from dflow_jax.reporting.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog
from dflow_jax.runtime import run
from tests.conftest import tiny_config

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def assert_png(path):
  with open(path, 'rb') as f:
    assert f.read(8) == PNG_SIGNATURE
  assert os.path.getsize(path) > 1000


def fake_eval(step: int, num_seeds=3, episodes=4, behavior=False) -> dict:
  """An evaluation result whose seed s scores step / 10 + s on every episode."""
  per_seed = step / 10 + np.arange(num_seeds, dtype=np.float64)[:, None]
  returns = np.broadcast_to(per_seed, (num_seeds, episodes)).copy()
  return {'returns': returns, 'normalized': 2 * returns, 'lengths': np.full_like(returns, 300),
          'step': step, 'episodes': episodes, 'behavior': behavior, 'env_seed': 1,
          'action_seed': 2}


def write_fake_run(workdir, num_seeds=3):
  """Evaluation records and metrics.csv of a run with 200 BC steps, then 200 of DF."""
  with open(workdir / 'config.json', 'w') as f:
    json.dump({'bc_steps': 200, 'df_steps': 200}, f)
  for step in (100, 200, 300, 400):
    evaluator.save_record(str(workdir), fake_eval(step, num_seeds, behavior=step < 200))
  # The evaluate CLI's record: not a point of the training curve.
  evaluator.save_record(str(workdir), fake_eval(400, num_seeds), 'step_400_episodes_4')
  names = {'behavior/fm_loss', 'critic/q_loss', 'policy/fm_loss', 'df/flow_value_loss'}
  log = MetricsLog(str(workdir / 'metrics.csv'), names)
  rng = np.random.default_rng(0)
  for step in range(50, 401, 50):
    phase = train.Schedule(bc_steps=200, df_steps=200).phase_of(step - 1)
    shown = (('behavior/fm_loss', 'critic/q_loss') if phase == train.BEHAVIOR
             else ('policy/fm_loss', 'df/flow_value_loss', 'critic/q_loss'))
    log.write(step, phase, {k: rng.uniform(0.5, 1.5, num_seeds) / step for k in shown})


def test_learning_curves_plot_training_records_and_losses(tmp_path):
  write_fake_run(tmp_path)
  curve = plots.read_eval_curve(str(tmp_path))
  np.testing.assert_array_equal(curve['steps'], [100, 200, 300, 400])
  np.testing.assert_allclose(curve['per_seed'][2], [60, 62, 64])  # 'normalized' is preferred
  np.testing.assert_array_equal(curve['behavior'], [True, False, False, False])
  losses = plots.read_losses(str(tmp_path))
  assert list(losses) == list(plots.LOSSES)
  steps, values = losses['policy/fm_loss']
  assert steps.min() == 250 and len(values) == 4 * 3  # DF chunks only, one value per seed
  assert plots.learning_curves(str(tmp_path)) == [str(tmp_path / plots.LEARNING_CURVES)]
  assert_png(tmp_path / plots.LEARNING_CURVES)


def test_learning_curves_draw_what_there_is_and_skip_nothing(tmp_path):
  assert plots.learning_curves(str(tmp_path)) == []
  assert plots.learning_curves(str(tmp_path / 'missing')) == []
  MetricsLog(str(tmp_path / 'metrics.csv'), {'behavior/fm_loss'})  # a header, no rows
  assert plots.learning_curves(str(tmp_path)) == []
  assert not os.path.exists(tmp_path / plots.LEARNING_CURVES)
  evaluator.save_record(str(tmp_path), {**fake_eval(100, num_seeds=1), 'behavior': True})
  assert plots.learning_curves(str(tmp_path)) == [str(tmp_path / plots.LEARNING_CURVES)]
  assert_png(tmp_path / plots.LEARNING_CURVES)


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
  """A tiny bandit run, behaviour cloning only (one chunk), and what it printed."""
  workdir = tmp_path_factory.mktemp('toy')
  printed = []
  config = tiny_config('bc', df_steps=0, chunk_size=20, save_interval=1000)
  out = run.train_and_evaluate(config, str(workdir), log=printed.append)
  return {**out, 'workdir': workdir, 'printed': printed[-1], 'config': config}


def test_a_toy_run_ends_with_its_figures(toy_run):
  workdir = toy_run['workdir']
  for name in (plots.LEARNING_CURVES, plots.ACTION_SAMPLES):
    assert_png(workdir / name)
    assert str(workdir / name) in toy_run['printed']
  if importlib.util.find_spec('tensorboardX'):
    assert os.listdir(workdir / TENSORBOARD_DIR)  # an event file beside metrics.csv


def test_action_samples_of_a_2d_task_and_none_otherwise(toy_run, tmp_path):
  agent, states, config = toy_run['agent'], toy_run['states'], toy_run['config']
  dataset = data.load(config.dataset, seed=config.seed)
  path = str(tmp_path / 'samples.png')
  # The run's default num_states: its compiled sampling is reused.
  assert plots.action_samples(agent, states, dataset, path, dataset_name='toy/bandit') == path
  assert_png(path)
  one_d = types.SimpleNamespace(action_dim=3)  # nothing else is read before refusing
  assert plots.action_samples(agent, states, one_d, str(tmp_path / 'no.png')) is None
  assert not os.path.exists(tmp_path / 'no.png')


def record_scalars(tensorboard: TensorBoardLog) -> dict:
  """{tag: [(step, value)]} of the scalars `tensorboard` hands its writer from now on.

  Recorded at the writer rather than read back from the event files: tensorboardX writes
  events but has no reader, and tensorboard (which has one) is not a dependency.
  """
  scalars, add_scalar = {}, tensorboard.writer.add_scalar

  def recording(tag, value, step):
    scalars.setdefault(tag, []).append((step, value))
    return add_scalar(tag, value, step)

  tensorboard.writer.add_scalar = recording
  return scalars


def test_tensorboard_logs_means_over_seeds(tmp_path):
  pytest.importorskip('tensorboardX')
  tensorboard = TensorBoardLog(str(tmp_path))
  assert tensorboard.enabled
  scalars = record_scalars(tensorboard)
  tensorboard.scalars(10, {'behavior/fm_loss': np.array([1.0, 3.0])})
  tensorboard.evaluation(fake_eval(20, num_seeds=2))
  tensorboard.close()
  assert os.listdir(tmp_path / TENSORBOARD_DIR)
  assert scalars['behavior/fm_loss'] == [(10, 2.0)]
  assert scalars['eval/score'] == [(20, 5.0)]  # 2 * mean(2, 3)
  assert scalars['eval/return'] == [(20, 2.5)] and scalars['eval/length'] == [(20, 300.0)]


def test_without_tensorboardx_nothing_is_written(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'tensorboardX', None)  # makes the import fail
  tensorboard = TensorBoardLog(str(tmp_path))
  assert not tensorboard.enabled
  tensorboard.scalars(10, {'behavior/fm_loss': np.array([1.0])})
  tensorboard.evaluation(fake_eval(20))
  tensorboard.close()
  assert os.listdir(tmp_path) == []


@pytest.mark.slow  # a whole DF run; keeps `make test` under 10 minutes
def test_a_toy_run_follows_the_best_mode_mass_and_true_reward_at_every_chunk_end(tmp_path):
  config = tiny_config('div', num_seeds=2, toy_curves=True)
  run.train_and_evaluate(config, str(tmp_path), log=lambda s: None)
  rows = list(csv.DictReader(open(tmp_path / 'metrics.csv')))
  # every (chunk end, seed) row carries them, behaviour phase included (the flow it acts with)
  assert rows and all(r['toy/mass_mode3'] and r['toy/true_reward'] for r in rows)
  rewards = [float(r['toy/true_reward']) for r in rows]
  assert all(0.0 <= value <= 5.0 for value in rewards) and len(set(rewards)) > 1
  curves = plots.read_toy_curves(str(tmp_path))
  assert list(curves) == ['mass on the best mode', 'true reward', 'fraction off the data']
  steps, _ = curves['true reward']
  assert sorted(set(steps.tolist())) == list(range(config.chunk_size,
                                                   config.bc_steps + config.df_steps + 1,
                                                   config.chunk_size))
