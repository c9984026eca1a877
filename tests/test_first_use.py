"""A regenerable dataset that is not local is made by the run that first needs it: once, even
when two runs start together, and never from a half-written copy."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dflow_jax.data import DatasetError, minari_io

ROOT = Path(__file__).resolve().parents[1]
DOOR_HUMAN = 'dflow/door/human-v2'  # the quickest to regenerate: 25 demos replayed, seconds


@pytest.fixture
def empty_datasets(tmp_path, monkeypatch):
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'datasets'))
  return tmp_path / 'datasets'


def _train(config: str, datasets, workdir, timeout: int):
  """`python -m dflow_jax.main --config=CONFIG` with MINARI_DATASETS_PATH=datasets; must exit 0."""
  proc = subprocess.run(
      [sys.executable, '-m', 'dflow_jax.main', f'--config={config}', '--config.progress_bar=False',
       f'--workdir={workdir}'],
      cwd=ROOT, env={**os.environ, 'MINARI_DATASETS_PATH': str(datasets)},
      capture_output=True, text=True, timeout=timeout)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return proc


def test_the_adroit_command_trains_from_an_empty_datasets_path(empty_datasets, tmp_path):
  proc = _train('experiments/adroit.py:door-human,quick', empty_datasets, tmp_path / 'run', 300)
  lines = proc.stdout.splitlines()
  assert lines[0].startswith(f'dataset: {DOOR_HUMAN} is not local; regenerating it once')
  assert 'python -m dflow_jax.datagen generate dflow/door/human-v2' in lines[0]
  assert minari_io.is_local(DOOR_HUMAN)
  final = json.loads((tmp_path / 'run' / 'final_eval.json').read_text())
  assert final['score'] == 'normalized' and np.isfinite(final['aggregate']['mean'])


def test_two_runs_at_once_generate_the_dataset_once(empty_datasets):
  script = ('from dflow_jax.datagen.first_use import obtain; '
            f'print(obtain({DOOR_HUMAN!r}, quiet=True))')
  env = {**os.environ, 'MINARI_DATASETS_PATH': str(empty_datasets)}
  procs = [subprocess.Popen([sys.executable, '-c', script], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for _ in range(2)]
  outputs = [p.communicate(timeout=300) for p in procs]
  assert all(p.returncode == 0 for p in procs), [err[-1000:] for _, err in outputs]
  stdout = ''.join(out for out, _ in outputs)
  assert stdout.count('regenerating it once') == 1
  assert stdout.count('was made by another run meanwhile') == 1
  from dflow_jax import data
  assert data.load(DOOR_HUMAN).size == 6729


def test_a_half_written_dataset_is_not_local_and_is_remade(empty_datasets):
  from dflow_jax.datagen.first_use import obtain
  obtain(DOOR_HUMAN, log=lambda line: None)
  metadata_file = minari_io.dataset_path(DOOR_HUMAN) / 'data' / 'metadata.json'
  metadata = json.loads(metadata_file.read_text())
  del metadata[minari_io.DFLOW_KEY]  # as a write cut before its last step leaves it
  metadata_file.write_text(json.dumps(metadata))
  assert not minari_io.is_local(DOOR_HUMAN)
  printed = []
  assert obtain(DOOR_HUMAN, log=printed.append) == DOOR_HUMAN
  assert any('regenerating it once' in line for line in printed)
  assert minari_io.is_local(DOOR_HUMAN)


def test_a_local_copy_of_the_published_dataset_is_used_instead(empty_datasets):
  from dflow_jax.datagen import adroit, minari_write
  from dflow_jax.datagen.first_use import obtain
  from dflow_jax.envs.adroit_fixes import make_adroit_env
  env = make_adroit_env('door')
  episodes = list(adroit.generate_mixed('door', 20, seed=0))
  minari_write.write_dataset('D4RL/door/human-v2', episodes, env=env, dflow={})
  env.close()
  printed = []
  assert obtain(DOOR_HUMAN, log=printed.append) == 'D4RL/door/human-v2'
  assert printed == [f'dataset: {DOOR_HUMAN} is not local; using the local copy of the '
                     'published D4RL/door/human-v2']
  assert not minari_io.dataset_path(DOOR_HUMAN).exists()


def test_without_its_sources_the_run_says_what_to_do_in_one_line(empty_datasets, tmp_path,
                                                                 monkeypatch):
  from dflow_jax.datagen.first_use import obtain
  monkeypatch.setenv('DFLOW_SHARED_DATA', str(tmp_path / 'nothing'))
  with pytest.raises(DatasetError) as refused:
    obtain(DOOR_HUMAN)
  assert 'door_human_demos.npz' in str(refused.value) and '\n' not in str(refused.value)
  assert 'minari download D4RL/door/human-v2' in str(refused.value)
  with pytest.raises(DatasetError, match='not reproducible offline'):
    obtain('dflow/pen/human-v2')
  assert not minari_io.dataset_path(DOOR_HUMAN).exists()


@pytest.mark.slow
def test_the_family_default_trains_in_one_command_from_an_empty_datasets_path(empty_datasets,
                                                                              tmp_path):
  """`python -m dflow_jax.main --config=experiments/adroit.py:,quick` on a fresh machine: the
  default task's dataset (1M steps) is regenerated first, then trained and scored."""
  from dflow_jax.presets import DEFAULT_TASKS
  _train('experiments/adroit.py:,quick', empty_datasets, tmp_path / 'run', 1800)
  task, kind = DEFAULT_TASKS['adroit'].split('-')
  assert minari_io.is_local(f'dflow/{task}/{kind}-v2')
  final = json.loads((tmp_path / 'run' / 'final_eval.json').read_text())
  assert final['score'] == 'normalized' and np.isfinite(final['aggregate']['mean'])
