"""Starting a run's Decision Flow phase from another run's pre-training (`--init_from`).

The critic and behaviour phases do not read the Decision Flow settings, so runs that differ
only in those settings (variant, alpha, lambda_dir, rho, ...) share their first `df_start` updates
bit for bit. A new run copies the source run's checkpoint at `df_start`, and the metrics rows
and evaluation records up to that step, then trains on from there as if it had done them.
"""
import csv
import json
import os

import jax
import ml_collections
import numpy as np

from dflow_jax.config import ConfigError, first_change, flat_config, saved_config
from dflow_jax.reporting.evaluator import EVAL_DIR
from dflow_jax.runtime.checkpoint import OWNER_CONFIG, Checkpointer, saved_steps

# Keys that the updates before `df_start` never read; any other difference means different
# pre-training. Flow matching and IQL do not integrate the ODE, so T (agent.flow_steps) and the
# acting T are among them; only the copied pre-training evaluations acted with the source's T.
DECISION_FLOW_KEYS = {'agent.variant', 'agent.alpha', 'agent.lambda_dir', 'agent.rho',
                      'agent.lambda_div', 'agent.policy_ema', 'agent.steps_per_state',
                      'agent.bptt_remat', 'agent.policy_bootstrap', 'agent.divergence_target',
                      'agent.flow_reversal', 'agent.critic_pessimism', 'agent.flow_steps',
                      'agent.acting_flow_steps', 'flow_value_warmup'}


def check_source(source: str, config: ml_collections.ConfigDict, df_start: int,
                 resumable_changes) -> None:
  """Raises ConfigError when `source` is not a run, was pre-trained differently from `config`,
  or did not keep its checkpoint at `df_start`. Reads only."""
  saved = saved_config(source)
  if saved is None:
    raise ConfigError(f'--init_from={source} is not a run directory (no config.json there)')
  if df_start == 0:
    raise ConfigError('--init_from needs a pre-training phase to share, but critic_steps and '
                      'bc_steps are 0')
  # A sweep of Decision Flow settings starts every setting from the same pre-training.
  allowed = (DECISION_FLOW_KEYS | set(resumable_changes)
             | {f'sweep.{key}' for key in DECISION_FLOW_KEYS if key.startswith('agent.')})
  # The config its checkpoints record (older runs have none) must agree as well.
  found = first_change(source, config, allowed, ('config.json', OWNER_CONFIG))
  if found is not None:
    _, saved, changed = found
    current = flat_config(json.loads(config.to_json()))
    shown = ', '.join(f'{k} ({saved.get(k)!r} there, {current.get(k)!r} here)'
                      for k in changed[:3])
    raise ConfigError(f'--init_from={source} was pre-trained differently: {shown}; only '
                      f'Decision Flow settings may differ')
  steps = saved_steps(source)
  if df_start not in steps:
    raise ConfigError(f'--init_from={source} has no checkpoint at step {df_start}, where '
                      f'pre-training ends (it has {steps})')


def start_from(source: str, workdir: str, df_start: int, abstract_state,
               checkpointer: Checkpointer, sweep_settings: int | None = None,
               copy_files: bool = True) -> None:
  """Copies `source`'s pre-training (checkpoint, metrics, evaluations up to `df_start`) into
  `workdir`, which has no checkpoint yet and whose config (and its copy beside the checkpoints,
  which the copied checkpoint thereby carries) is written; `check_source` has passed."""
  source_config = saved_config(source)
  num_seeds = source_config['num_seeds']
  source_agents = num_seeds * _num_settings(source_config)
  # Pre-training does not read the swept (Decision Flow) values, so every setting of a sweep,
  # here or in the source, holds the same pre-trained seeds: the source's first ones are copied
  # to each setting of this run.
  source_abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct((source_agents,) + x.shape[1:], x.dtype), abstract_state)
  source_checkpoints = Checkpointer(source)
  try:
    states = source_checkpoints.restore(source_abstract, df_start)
  finally:
    source_checkpoints.close()
  settings_here = jax.tree.leaves(abstract_state)[0].shape[0] // num_seeds
  checkpointer.save(df_start, jax.tree.map(
      lambda x: np.concatenate([np.asarray(x[:num_seeds])] * settings_here), states))
  if not copy_files:  # another process writes the run's files
    return
  _copy_metrics(source, workdir, df_start, sweep_settings)
  _copy_evaluations(source, workdir, df_start, num_seeds, settings_here)
  with open(os.path.join(workdir, 'init_from.txt'), 'w') as f:
    f.write(f'steps 0-{df_start} copied from {os.path.abspath(source)}\n')


def _copy_metrics(source: str, workdir: str, df_start: int,
                  sweep_settings: int | None = None) -> None:
  """The source's rows up to `df_start`; for a sweep (`sweep_settings` settings), the first
  setting's rows once per setting (they shared the pre-training)."""
  path = os.path.join(source, 'metrics.csv')
  if not os.path.exists(path):
    return
  with open(path, newline='') as f:
    reader = csv.DictReader(f)
    rows = [r for r in reader if int(r['step']) <= df_start]
    columns = reader.fieldnames
  if sweep_settings:
    rows = [{**r, 'setting': k} for k in range(sweep_settings)
            for r in rows if r.get('setting') in (None, '', '0')]
    rows.sort(key=lambda r: int(r['step']))  # stable: setting-major within a step
    columns = ['step', 'setting'] + [c for c in columns if c not in ('step', 'setting')]
  with open(os.path.join(workdir, 'metrics.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    writer.writerows(rows)


def _copy_evaluations(source: str, workdir: str, df_start: int, num_seeds: int,
                      settings_here: int) -> None:
  """The source's evaluation records up to `df_start`, each seed's row once per setting of this
  run (a sweep's settings all hold the source's first seeds, as its checkpoint does)."""
  directory = os.path.join(source, EVAL_DIR)
  if not os.path.isdir(directory):
    return
  os.makedirs(os.path.join(workdir, EVAL_DIR), exist_ok=True)
  for name in os.listdir(directory):
    stem = name.removesuffix('.npz')
    if not (stem.startswith('step_') and stem[5:].isdigit() and int(stem[5:]) <= df_start):
      continue
    with np.load(os.path.join(directory, name)) as record:
      fields = {key: record[key] for key in record}
    for key, value in fields.items():
      if value.ndim:  # per-agent rows: [agents, episodes]
        fields[key] = np.concatenate([value[:num_seeds]] * settings_here)
    np.savez(os.path.join(workdir, EVAL_DIR, name), **fields)


def _num_settings(flat: dict) -> int:
  """Settings of a saved (flat) config's sweep."""
  from dflow_jax import sweep
  prefix = 'sweep.agent.'
  return len(sweep.grid(sweep.listed_values(
      {key[len(prefix):]: value for key, value in flat.items() if key.startswith(prefix)})))
