"""Checkpoint round trips, interruption and resumption."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import optax
import pytest

from dflow_jax import train
from dflow_jax.runtime import run
from dflow_jax.runtime.checkpoint import Checkpointer
from tests.conftest import tiny_config
from tests.test_train import assert_trees_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_checkpoint_round_trip_is_exact(tmp_path):
  config = tiny_config('div')
  dataset, agent = run.prepare(config)
  states = train.init_states(agent, 3, config.num_seeds)
  states, _, _ = train.make_chunk(agent, train.BEHAVIOR, config.batch_size, 4)(states, dataset)
  ckpt = Checkpointer(str(tmp_path), max_to_keep=2)
  ckpt.save(4, states)
  restored = ckpt.restore(train.abstract_states(agent, config.num_seeds))
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
               states, restored)
  assert jax.tree.structure(restored) == jax.tree.structure(states)
  assert isinstance(restored.policy.opt_state[0], optax.ScaleByAdamState)
  assert ckpt.latest_step() == 4
  # the shapes read from Orbax's metadata (used to refuse a mismatched config) are the state's
  assert ckpt.stored_shapes(4) == Checkpointer.shapes_of(states)


class StopAfter:
  """A StopRequest that fires once `chunks` chunks have run (checked by the loop)."""

  def __init__(self, chunks):
    self.calls, self.chunks = 0, chunks

  @property
  def requested(self):
    self.calls += 1
    return self.calls >= self.chunks


# Stopped mid Decision Flow phase; with every phase, at the end of the flow-value warm-up; and
# the bptt baseline mid-phase.
@pytest.mark.parametrize('variant, schedule, chunks, stopped_at, total', [
    pytest.param('dir', {'bc_steps': 20, 'df_steps': 30}, 3, 30, 50, marks=pytest.mark.slow),
    ('dir', {'critic_steps': 10, 'bc_steps': 20, 'flow_value_warmup': 10, 'df_steps': 30}, 4, 40,
     60),
    pytest.param('bptt', {'bc_steps': 20, 'df_steps': 30}, 3, 30, 50, marks=pytest.mark.slow),
])
def test_interrupted_run_resumes_to_the_same_parameters(tmp_path, variant, schedule, chunks,
                                                        stopped_at, total):
  config = tiny_config(variant, **schedule)
  full = run.train_and_evaluate(config, str(tmp_path / 'full'), log=lambda s: None)
  stopped = None
  try:
    run.train_and_evaluate(config, str(tmp_path / 'cut'), stop=StopAfter(chunks),
                           log=lambda s: None)
  except run.Interrupted as e:
    stopped = e.step
  assert stopped == stopped_at
  resumed = run.train_and_evaluate(config, str(tmp_path / 'cut'), log=lambda s: None)
  assert resumed['step'] == total
  assert_trees_close(full['states'], resumed['states'], rtol=1e-5, atol=1e-6)
  rows = list(csv.DictReader(open(tmp_path / 'cut' / 'metrics.csv')))
  keys = [(r['step'], r['seed']) for r in rows]
  assert len(keys) == len(set(keys)) == total // config.chunk_size * config.num_seeds
  assert [r['phase'] for r in rows][::config.num_seeds] == [
      train.Schedule.of(config).phase_of(step) for step in range(0, total, config.chunk_size)]


def test_resume_refuses_a_workdir_of_a_different_run(tmp_path):
  run.train_and_evaluate(tiny_config('dir', df_steps=0), str(tmp_path), log=lambda s: None)
  try:
    run.train_and_evaluate(tiny_config('div', df_steps=0), str(tmp_path), log=lambda s: None)
  except run.ConfigError as e:
    assert 'agent.variant' in str(e) and 'new --workdir' in str(e)
  else:
    raise AssertionError('a different config resumed silently')


def test_a_run_saved_before_a_schema_key_existed_still_resumes(tmp_path):
  """A key added later (here agent.matmul_dtype) reads as its default in the old config.json;
  set to another value, it is a different run."""
  config = tiny_config('div')
  saved = json.loads(config.to_json())
  del saved['agent']['matmul_dtype']
  (tmp_path / 'config.json').write_text(json.dumps(saved))
  run._check_resumable(str(tmp_path), config)
  config.agent.matmul_dtype = 'bfloat16'
  with pytest.raises(run.ConfigError, match='agent.matmul_dtype'):
    run._check_resumable(str(tmp_path), config)


def test_a_run_saved_with_a_retired_input_on_refuses_in_one_line(tmp_path):
  """agent.use_prev_action fed a_prev to V^chi; a run saved with it off is today's code, one saved
  with it on has another flow value and refuses, by resumption and by the evaluate CLI."""
  from dflow_jax.evaluate import load_config
  config = tiny_config('div')
  saved = json.loads(config.to_json())
  for value in (False, True):
    saved['agent']['use_prev_action'] = value
    (tmp_path / 'config.json').write_text(json.dumps(saved))
    if not value:
      run._check_resumable(str(tmp_path), config)
      assert load_config(str(tmp_path)).agent.to_dict() == config.agent.to_dict()
      continue
    for read in (lambda: run._check_resumable(str(tmp_path), config),
                 lambda: load_config(str(tmp_path))):
      with pytest.raises(run.ConfigError, match='agent.use_prev_action=True') as refused:
        read()
      assert '\n' not in str(refused.value)


def _train_cmd(workdir, *extra):
  return [sys.executable, '-m', 'dflow_jax.main', '--config=experiments/toy.py',
          f'--workdir={workdir}', '--config.num_seeds=2', '--config.batch_size=32',
          '--config.bc_steps=40', '--config.df_steps=400', '--config.chunk_size=20',
          '--config.save_interval=20', '--config.agent.velocity_hidden=(16,16)',
          '--config.agent.critic_hidden=(16,16)', '--config.agent.flow_steps=3',
          '--config.progress_bar=False', '--config.eval_samples=50', *extra]


def _wait_for_checkpoint(workdir, proc, timeout=240):
  ckpts = os.path.join(workdir, 'checkpoints')
  deadline = time.time() + timeout
  while time.time() < deadline:
    if os.path.isdir(ckpts) and any(d.isdigit() and int(d) > 40 for d in os.listdir(ckpts)):
      return
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.2)
  raise AssertionError('no checkpoint appeared')


# Real signals to a training subprocess (about a minute on 2 cores); the in-process
# interruption above covers resumption in the default run.
@pytest.mark.slow
def test_sigint_saves_and_exits_then_sigkill_loses_little_and_resume_finishes(tmp_path):
  workdir = str(tmp_path / 'run')
  proc = subprocess.Popen(_train_cmd(workdir), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  _wait_for_checkpoint(workdir, proc)
  proc.send_signal(signal.SIGINT)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err
  assert 'Traceback' not in err and 'checkpoint saved' in err
  interrupted_step = Checkpointer(workdir).latest_step()
  assert 40 < interrupted_step < 440

  proc = subprocess.Popen(_train_cmd(workdir), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  _wait_for_checkpoint(workdir, proc)
  deadline = time.time() + 120
  while Checkpointer(workdir).latest_step() <= interrupted_step and time.time() < deadline:
    time.sleep(0.2)
  proc.kill()  # SIGKILL: no handler runs
  proc.communicate()
  killed_at = Checkpointer(workdir).latest_step()
  assert killed_at > interrupted_step

  done = subprocess.run(_train_cmd(workdir), cwd=ROOT, capture_output=True, text=True,
                        timeout=300)
  assert done.returncode == 0, done.stderr
  assert f'resumed from the checkpoint at step {killed_at}' in done.stdout
  assert Checkpointer(workdir).latest_step() == 440
  rows = list(csv.DictReader(open(os.path.join(workdir, 'metrics.csv'))))
  keys = [(r['step'], r['seed']) for r in rows]
  assert len(keys) == len(set(keys)) == 22 * 2
