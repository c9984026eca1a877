"""Bad input of every kind: one line on the terminal, status 2, and the workdir left untouched.

Each case runs a command line in a subprocess that exits before training starts. Nothing is
filtered from its output: a library that prints is a failure here.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import file_hashes, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAZE = 'dflow/pointmaze/umaze-v2'
TINY = {'num_seeds': 2, 'batch_size': 16, 'bc_steps': 10, 'df_steps': 10, 'chunk_size': 10,
        'save_interval': 10, 'eval_samples': 20, 'agent.velocity_hidden': (8,),
        'agent.critic_hidden': (8,), 'agent.flow_steps': 2}
CONFIG_FILE = f'''"""A tiny bandit run."""
from tests.conftest import tiny_config


def get_config():
  return tiny_config(**{TINY!r})
'''


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
  """A tiny toy run (config file, workdir with one checkpoint) and a small local dataset."""
  from dflow_jax import train
  from dflow_jax.runtime import run
  from dflow_jax.runtime.checkpoint import Checkpointer
  base = tmp_path_factory.mktemp('assets')
  (base / 'tiny_config.py').write_text(CONFIG_FILE)
  config = tiny_config(**TINY)
  _, agent = run.prepare(config)
  workdir = base / 'run'
  workdir.mkdir()
  (workdir / 'config.json').write_text(config.to_json(indent=2))
  checkpointer = Checkpointer(str(workdir), config.max_to_keep)
  checkpointer.save(10, train.init_states(agent, config.seed, config.num_seeds))
  checkpointer.close()
  datasets = base / 'datasets'
  subprocess.run([sys.executable, '-m', 'dflow_jax.datagen', 'generate', MAZE, '--steps', '200',
                  '--quiet'], cwd=ROOT, env={**os.environ, 'MINARI_DATASETS_PATH': str(datasets)},
                 check=True, capture_output=True, timeout=300)
  return base


def _copy(source, target):
  shutil.copytree(source, target)
  return target


def _corrupt_checkpoint(workdir, how):
  default = workdir / 'checkpoints' / '10' / 'default'
  if how == 'metadata':
    (default / '_METADATA').write_text('{"tree_metadata": [garbage')
  else:  # every array file cut to half its length
    for path in (default / 'ocdbt.process_0' / 'd').iterdir():
      data = path.read_bytes()
      path.write_bytes(data[:len(data) // 2])


def _dataset_copy(assets, tmp_path, how):
  datasets = _copy(assets / 'datasets', tmp_path / 'datasets')
  data = datasets / MAZE / 'data'
  if how == 'metadata':
    (data / 'metadata.json').write_text('{"dataset_id": ')
  elif how == 'hdf5 missing':
    (data / 'main_data.hdf5').unlink()
  elif how == 'hdf5 truncated':
    raw = (data / 'main_data.hdf5').read_bytes()
    (data / 'main_data.hdf5').write_bytes(raw[:len(raw) // 3])
  return datasets


def _case(name, assets, tmp):
  """(argv, extra env, the directory whose files must not change) of the case `name`."""
  main = [sys.executable, '-m', 'dflow_jax.main']
  evaluate = [sys.executable, '-m', 'dflow_jax.evaluate']
  datagen = [sys.executable, '-m', 'dflow_jax.datagen']
  tiny = f'--config={assets / "tiny_config.py"}'
  fresh = tmp / 'fresh'
  toy = [*main, '--config=experiments/toy.py', f'--workdir={fresh}']
  if name.startswith('config file '):
    kind = name[len('config file '):]
    path = tmp / 'bad_config.py'
    text = {'empty': '', 'syntax error': 'def get_config(:\n',
            'failing import': 'import no_such_module_anywhere\n',
            'no get_config': 'X = 1\n', 'raising': 'def get_config():\n  return 1 / 0\n'}
    if kind != 'missing':
      path.write_text(text[kind])
    return [*main, f'--config={path}', f'--workdir={fresh}'], {}, fresh
  if name.startswith('dataset '):
    datasets = _dataset_copy(assets, tmp, name[len('dataset '):])
    return ([*toy, f'--config.dataset={MAZE}'], {'MINARI_DATASETS_PATH': str(datasets)},
            datasets)
  if name.startswith(('resume ', 'evaluate ')) and ('checkpoint' in name or 'json' in name):
    command, what = name.split(' ', 1)
    workdir = _copy(assets / 'run', tmp / 'run')
    if what.startswith('checkpoint '):
      _corrupt_checkpoint(workdir, what[len('checkpoint '):])
    else:
      (workdir / 'config.json').write_text({
          'config.json garbage': '{"seed": 0, "num_',
          'config.json a list': '[1, 2, 3]',
          'config.json wrong shape': json.dumps({**json.loads(
              (workdir / 'config.json').read_text()), 'agent': 7}),
      }[what])
    argv = ([*main, tiny, f'--workdir={workdir}'] if command == 'resume'
            else [*evaluate, f'--workdir={workdir}'])
    return argv, {}, workdir
  simple = {
      'toy task string': ([*main, '--config=experiments/toy.py:extra', f'--workdir={fresh}'],
                          fresh),
      'seed too large': ([*toy, f'--config.seed={2 ** 64}'], fresh),
      'seed too large for a key': ([*toy, f'--config.seed={2 ** 40}'], fresh),
      'unknown top-level key': ([*toy, '--config.nonexistent=1'], fresh),
      'unknown agent key': ([*toy, '--config.agent.rhoo=1'], fresh),
      'unknown section': ([*toy, '--config.agnt.rho=1'], fresh),
      'sweep of a shape key': ([*toy, '--config.sweep.agent.flow_steps=3,5'], fresh),
      'sweep of an empty list': ([*toy, '--config.sweep.agent.rho=,'], fresh),
      'sweep of an invalid value': ([*toy, '--config.sweep.agent.rho=1,-1'], fresh),
      'sweep of an unknown key': ([*toy, '--config.sweep.agent.nonexistent=1,2'], fresh),
      'unknown task': ([*main, '--config=experiments/adroit.py:door-nope', f'--workdir={fresh}'],
                       fresh),
      'unexpected argument': ([*toy, 'extra'], fresh),
      'workdir is a file': ([*main, '--config=experiments/toy.py', f'--workdir={tmp / "file"}'],
                            tmp),
      'workdir under a file': ([*main, '--config=experiments/toy.py',
                                f'--workdir={tmp / "file" / "run"}'], tmp),
      'workdir in a read-only directory': (
          [*main, '--config=experiments/toy.py', f'--workdir={tmp / "read-only" / "run"}'], tmp),
      'workdir on a read-only file system': (
          [*main, '--config=experiments/toy.py', '--workdir=/sys/dflow_run'], tmp),
      'evaluate no workdir': ([*evaluate], tmp),
      'evaluate missing workdir': ([*evaluate, f'--workdir={fresh}'], tmp),
      'evaluate workdir is a file': ([*evaluate, f'--workdir={tmp / "file"}'], tmp),
      'evaluate episodes 0': ([*evaluate, f'--workdir={tmp}', '--episodes=0'], tmp),
      'datagen no command': ([*datagen], tmp),
      'datagen unknown command': ([*datagen, 'make'], tmp),
      'datagen unknown dataset': ([*datagen, 'generate', 'dflow/nope-v0'], tmp),
      'datagen negative seed': ([*datagen, 'generate', MAZE, '--seed', '-1'], tmp),
      'datagen seed not a number': ([*datagen, 'generate', MAZE, '--seed', 'x'], tmp),
      'datagen steps 0': ([*datagen, 'generate', MAZE, '--steps', '0'], tmp),
      'datagen door human without shared data': (
          [*datagen, 'generate', 'dflow/door/human-v2'], tmp),
      'datagen door cloned without shared data': (
          [*datagen, 'generate', 'dflow/door/cloned-v2'], tmp),
      'datagen hammer expert without shared data': (
          [*datagen, 'generate', 'dflow/hammer/expert-v2'], tmp),
      'datagen hopper mixed without shared data': (
          [*datagen, 'generate', 'dflow/mujoco/hopper/mixed-v0'], tmp),
      'datagen datasets path is a file': (
          [*datagen, 'generate', MAZE, '--steps', '10'], tmp),
      'data alias no command': ([sys.executable, '-m', 'dflow_jax.data'], tmp),
      'data alias bad option': ([sys.executable, '-m', 'dflow_jax.data', 'list', '--x'], tmp),
  }
  argv, watched = simple[name]
  env = {'DFLOW_SHARED_DATA': str(tmp / 'empty')}
  if name == 'datagen datasets path is a file':
    env = {'MINARI_DATASETS_PATH': str(tmp / 'file')}
  return argv, env, watched


CASES = [
    'config file missing', 'config file empty', 'config file syntax error',
    'config file failing import', 'config file no get_config', 'config file raising',
    'toy task string', 'unknown task', 'seed too large', 'seed too large for a key',
    'unknown top-level key', 'unknown agent key', 'unknown section', 'unexpected argument',
    'sweep of a shape key', 'sweep of an empty list', 'sweep of an invalid value',
    'sweep of an unknown key',
    'dataset metadata', 'dataset hdf5 missing', 'dataset hdf5 truncated',
    'resume checkpoint metadata', 'resume checkpoint arrays', 'resume config.json garbage',
    'resume config.json a list', 'resume config.json wrong shape',
    'evaluate checkpoint metadata', 'evaluate checkpoint arrays', 'evaluate config.json garbage',
    'evaluate config.json a list', 'evaluate config.json wrong shape',
    'workdir is a file', 'workdir under a file', 'workdir in a read-only directory',
    'workdir on a read-only file system',
    'evaluate no workdir', 'evaluate missing workdir', 'evaluate workdir is a file',
    'evaluate episodes 0',
    'datagen no command', 'datagen unknown command', 'datagen unknown dataset',
    'datagen negative seed', 'datagen seed not a number', 'datagen steps 0',
    'datagen door human without shared data', 'datagen door cloned without shared data',
    'datagen hammer expert without shared data', 'datagen hopper mixed without shared data',
    'datagen datasets path is a file', 'data alias no command', 'data alias bad option',
]


# What some lines must name (the key, the file, the cause).
NAMED = {
    'toy task string': "'extra'", 'seed too large': 'config.seed',
    'unknown top-level key': 'config.nonexistent', 'unknown agent key': 'closest: agent.rho',
    'config file syntax error': 'SyntaxError',
    'sweep of a shape key': 'config.sweep.agent.flow_steps cannot be swept',
    'sweep of an empty list': 'config.sweep.agent.rho',
    'sweep of an invalid value': 'sweep setting 1 (rho=-1)',
    'sweep of an unknown key': 'config.sweep.agent.nonexistent', 'dataset hdf5 truncated': 'datagen generate',
    'evaluate checkpoint metadata': 'damaged (its _METADATA', 'resume checkpoint arrays': 'damaged',
    'evaluate checkpoint arrays': 'damaged', 'datagen negative seed': '--seed = -1',
    'datagen door human without shared data': 'door_human_demos.npz',
    'datagen hopper mixed without shared data': 'rl-trained-agents (MIT)',
}



@pytest.mark.parametrize('name', CASES)
def test_bad_input_is_one_line_with_status_2(name, assets, tmp_path):
  if name == 'workdir in a read-only directory':
    if os.geteuid() == 0:
      pytest.skip('root writes through directory permissions')
    (tmp_path / 'read-only').mkdir(mode=0o555)
  if name == 'workdir on a read-only file system' and not os.path.isdir('/sys'):
    pytest.skip('no /sys here')
  (tmp_path / 'file').write_text('not a directory\n')
  (tmp_path / 'empty').mkdir()
  argv, env, watched = _case(name, assets, tmp_path)
  before = file_hashes(watched)
  # stderr into stdout: one stream, in the order a terminal shows it
  proc = subprocess.run(argv, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, timeout=120)
  lines = proc.stdout.splitlines()
  assert proc.returncode == 2 and len(lines) == 1, proc.stdout
  assert lines[0].startswith('error: ') and 'Traceback' not in proc.stdout
  assert NAMED.get(name, '') in lines[0]
  if 'checkpoint' in name:  # damage, not a changed config
    assert 'num_seeds' not in lines[0]
  assert file_hashes(watched) == before
  if 'missing workdir' not in name:  # a refused run makes no workdir
    assert not os.path.exists(tmp_path / 'fresh')
