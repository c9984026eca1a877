"""The agent axis split over devices: CPU devices are faked in a subprocess
(`--xla_force_host_platform_device_count=4`), the closest this machine gets to four GPUs."""
import json
import os
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

from dflow_jax.config import ConfigError
from dflow_jax.runtime import devices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Trains a tiny run in `workdir` on 4 fake CPU devices (config.devices of them used) and saves
# its final agent-stacked parameters.
SCRIPT = r'''
import json, os, sys
os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=4'
sys.path.insert(0, os.getcwd())
import jax, numpy as np
from tests.conftest import tiny_config
from dflow_jax.runtime import run
overrides, workdir = json.loads(sys.argv[1]), sys.argv[2]
out = run.train_and_evaluate(tiny_config('div', **overrides), workdir, log=lambda s: None)
np.savez(os.path.join(workdir, 'final.npz'), *map(np.asarray, jax.tree.leaves(out['states'])))
'''
# One Decision Flow chunk of a sweep's 8 agents, split over 4 fake devices and on one: the
# largest difference between the two, the output's sharding, and the collective operations in
# the split program.
CHUNK_SCRIPT = r'''
import json, os, sys
os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=4'
sys.path.insert(0, os.getcwd())
import jax, numpy as np
from tests.conftest import tiny_config
from dflow_jax import sweep, train
from dflow_jax.runtime import devices, run
config = tiny_config('div', **json.loads(sys.argv[1]))
dataset, agent = run.prepare(config)
states = train.start_decision_flow(agent, train.init_states(agent, 0, 4, num_settings=2))
hparams = sweep.agent_hparams(config)
mesh = devices.agent_mesh(4, 8)
split = train.make_chunk(agent, train.DECISION_FLOW, config.batch_size, 5, mesh)
args = (devices.place_agents(jax.tree.map(np.copy, states), mesh),
        devices.place_everywhere(dataset, mesh), devices.place_agents(hparams, mesh))
text = split.lower(*args).compile().as_text()
on_four, _, _ = split(*args)
on_one, _, _ = train.make_chunk(agent, train.DECISION_FLOW, config.batch_size, 5)(
    states, dataset, hparams)
print(json.dumps({
    'sharding': str(jax.tree.leaves(on_four)[0].sharding),
    'difference': max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)
                                          ) / (1e-3 + np.abs(np.asarray(b, np.float64)))))
                      for a, b in zip(jax.tree.leaves(on_four), jax.tree.leaves(on_one))),
    'collectives': [op for op in ('all-gather', 'all-reduce', 'reduce-scatter', 'all-to-all',
                                  'collective-permute') if op in text]}))
'''
# 4 seeds x 2 settings: 8 agents, two per device on four.
SWEEP = {'num_seeds': 4, 'sweep.agent.rho': '0.3,3'}


def _subprocess(script: str, *args) -> str:
  proc = subprocess.run([sys.executable, '-c', script, *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def _train(workdir, **overrides):
  _subprocess(SCRIPT, json.dumps({**SWEEP, **overrides}), str(workdir))


def _final(workdir):
  with np.load(os.path.join(workdir, 'final.npz')) as saved:
    return [saved[f'arr_{i}'] for i in range(len(saved.files))]


def _assert_same(a, b):
  for x, y in zip(a, b, strict=True):
    # Two agents per device batch their matmuls differently from eight: float32 noise.
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def test_a_chunk_split_over_four_devices_equals_one_device_with_no_collectives():
  report = json.loads(_subprocess(CHUNK_SCRIPT, json.dumps(SWEEP)).strip().splitlines()[-1])
  assert "'agents'" in report['sharding']
  assert report['collectives'] == []  # agents never read each other: nothing to communicate
  # Relative, with a 1e-3 floor: float32 noise of batching 2 agents, not 8, which depends on the
  # CPU's kernels (up to 6e-4 measured on an AMD EPYC); agents mixed up would differ by O(1).
  assert report['difference'] < 5e-3


@pytest.mark.slow  # three whole runs in subprocesses
def test_a_run_resumes_on_another_device_count_and_evaluates_on_one(tmp_path):
  """Four devices, then two, end where one device does; the checkpoint restores on one."""
  _train(tmp_path / 'whole', devices=1)  # 20 + 20 updates at once
  _train(tmp_path / 'moved', devices=4, df_steps=10)  # stops after 20 + 10 on four devices
  _train(tmp_path / 'moved', devices=2)  # resumes to 20 + 20 on two
  _assert_same(_final(tmp_path / 'moved'), _final(tmp_path / 'whole'))
  from dflow_jax.evaluate import evaluate_workdir
  result = evaluate_workdir(str(tmp_path / 'moved'), log=lambda s: None)  # on this process's one
  assert np.shape(result['eval']['true_reward']) == (8,)


def test_a_device_count_that_does_not_split_the_agents_is_refused(monkeypatch):
  fake = [types.SimpleNamespace(platform='cpu')] * 4
  monkeypatch.setattr(jax, 'devices', lambda *a: fake)
  with pytest.raises(ConfigError, match=r'8 agents .* over 3 devices; use '
                                        r'--config.devices=1 or 2 or 4'):
    devices.agent_mesh(3, 8)
  with pytest.raises(ConfigError, match='JAX sees 4 device'):
    devices.agent_mesh(5, 8)
  assert devices.agent_mesh(1, 8) is None


def test_only_process_0_writes_the_runs_files(tmp_path, monkeypatch):
  """A process other than 0 trains and checkpoints (Orbax coordinates that) but writes no log,
  metrics, evaluation, figure or summary: process 0 does."""
  from dflow_jax.runtime import run
  from tests.conftest import tiny_config
  monkeypatch.setattr(devices, 'is_writer', lambda: False)
  out = run.train_and_evaluate(tiny_config('bc', df_steps=0), str(tmp_path / 'other'),
                               log=lambda line: pytest.fail(f'process 1 printed {line!r}'))
  assert out['eval'] is None and out['step'] == 20
  assert sorted(os.listdir(tmp_path / 'other')) == ['checkpoints']
  assert sorted(os.listdir(tmp_path / 'other' / 'checkpoints')) == ['10', '20']


# Two processes on this machine, one CPU device each, joined by JAX's distributed runtime (gloo
# collectives): the closest this machine gets to two hosts.
@pytest.mark.slow
def test_two_processes_train_what_one_process_trains(tmp_path):
  config_file = tmp_path / 'tiny.py'
  config_file.write_text('from tests.conftest import tiny_config\n\n\ndef get_config():\n'
                         "  return tiny_config('div', num_seeds=4)\n")
  env = {**os.environ, 'JAX_CPU_COLLECTIVES_IMPLEMENTATION': 'gloo', 'XLA_FLAGS': '',
         'PYTHONPATH': ROOT}
  main = [sys.executable, '-m', 'dflow_jax.main', f'--config={config_file}']
  both = [subprocess.Popen([*main, '--multihost', '--coordinator_address=localhost:23457',
                            '--num_processes=2', f'--process_id={i}',
                            f'--workdir={tmp_path / "two"}'], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for i in (0, 1)]
  outputs = [proc.communicate(timeout=600)[0] for proc in both]
  assert [proc.returncode for proc in both] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
  assert 'processes: 2' in outputs[0] and 'task:' not in outputs[1]  # process 0 speaks
  subprocess.run([*main, f'--workdir={tmp_path / "one"}'], cwd=ROOT, env=env, check=True,
                 capture_output=True, timeout=600)
  from dflow_jax import train
  from dflow_jax.runtime import run
  from dflow_jax.runtime.checkpoint import Checkpointer
  from tests.conftest import tiny_config
  _, agent = run.prepare(tiny_config('div', num_seeds=4))
  abstract = train.abstract_states(agent, 4)
  two, one = (Checkpointer(str(tmp_path / name)).restore(abstract, 40) for name in ('two', 'one'))
  _assert_same(jax.tree.leaves(two), jax.tree.leaves(one))
  assert (tmp_path / 'two' / 'final_eval.json').exists()


@pytest.mark.slow
def test_each_process_evaluates_its_own_agents_from_a_single_runs_seeds(tmp_path):
  """Two processes, one agent each, step the env episodes of their own agent; process 0 writes
  every agent's returns, and they are those one process gets from the same checkpoint."""
  datasets = tmp_path / 'datasets'
  env = {**os.environ, 'JAX_CPU_COLLECTIVES_IMPLEMENTATION': 'gloo', 'XLA_FLAGS': '',
         'PYTHONPATH': ROOT, 'MINARI_DATASETS_PATH': str(datasets)}
  maze = 'dflow/pointmaze/umaze-dense-v2'
  subprocess.run([sys.executable, '-m', 'dflow_jax.datagen', 'generate', maze, '--steps', '300',
                  '--quiet'], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
  config_file = tmp_path / 'maze.py'
  config_file.write_text('from tests.conftest import tiny_config\n\n\ndef get_config():\n'
                         f"  return tiny_config('div', dataset={maze!r}, eval_interval=20,\n"
                         '                     eval_episodes=2, final_eval_episodes=3)\n')
  workdir = tmp_path / 'two'
  both = [subprocess.Popen([sys.executable, '-m', 'dflow_jax.main', f'--config={config_file}',
                            '--multihost', '--coordinator_address=localhost:23458',
                            '--num_processes=2', f'--process_id={i}', f'--workdir={workdir}'],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True) for i in (0, 1)]
  outputs = [proc.communicate(timeout=600)[0] for proc in both]
  assert [proc.returncode for proc in both] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
  with np.load(workdir / 'eval' / 'step_40.npz') as final:
    returns = final['returns']
  assert returns.shape == (2, 3) and len(np.unique(returns)) > 1
  again = subprocess.run([sys.executable, '-m', 'dflow_jax.evaluate', f'--workdir={workdir}'],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
  with np.load(workdir / 'eval' / 'step_40_episodes_3.npz') as alone:
    np.testing.assert_allclose(returns, alone['returns'], rtol=1e-4)
