"""Hyper-parameter sweeps in one compiled program: settings x seeds as one axis of agents.

`--config.sweep.agent.rho=0.01,0.1,1 --config.sweep.agent.alpha=1,10` trains the grid of the
listed values (3 x 2 = 6 settings), `num_seeds` seeds each. Agent `a` is seed `a % num_seeds` of
setting `a // num_seeds` (setting-major), and every setting's seeds start from the same keys as a
separate run of that setting would. The swept values reach the compiled updates as per-agent
arrays (`agent_hparams`), traced inputs beside the state, so the whole grid is one program.

Only values that change neither array shapes nor the program can be swept (SWEEPABLE); a
network width, T, the solver or the variant needs a run of its own.
"""
import copy
import itertools
import math

import jax
import numpy as np

from dflow_jax.errors import ConfigError

# The agent keys a sweep may list: numbers the updates multiply by, never a shape or a branch of
# the program. num_samples changes the shape of acting, so it is not among them.
SWEEPABLE = ('alpha', 'lambda_dir', 'rho', 'lambda_div', 'learning_rate', 'expectile',
             'discount', 'tau', 'behavior_ema', 'policy_ema', 'policy_bootstrap',
             'divergence_target', 'flow_reversal', 'critic_pessimism')


def _parse(key: str, text) -> list:
  if not isinstance(text, str):
    raise ConfigError(f'config.sweep.agent.{key} = {text!r} is invalid: must be a comma-separated '
                     'list of numbers, e.g. "0.1,1,10"')
  parts = [part.strip() for part in text.split(',')]
  if not any(parts):
    raise ConfigError(f'config.sweep.agent.{key} = {text!r} lists no value: give a comma-separated '
                     'list of numbers, e.g. "0.1,1,10"')
  values = []
  for part in parts:
    try:
      value = float(part)
    except ValueError:
      raise ConfigError(f'config.sweep.agent.{key} = {text!r}: {part!r} is not a number') from None
    if not math.isfinite(value):
      raise ConfigError(f'config.sweep.agent.{key} = {text!r}: {part!r} is not finite')
    if value in values:
      raise ConfigError(f'config.sweep.agent.{key} = {text!r} lists {part} twice')
    values.append(value)
  return values


def swept_values(config) -> dict:
  """{key: [values]} of the keys the sweep lists, in SWEEPABLE order ({} for a plain run)."""
  return listed_values(config.sweep.agent)


def listed_values(section) -> dict:
  """{key: [values]} of a `sweep.agent` mapping (key -> text); '' means the key is not swept."""
  return {key: _parse(key, section[key]) for key in SWEEPABLE
          if key in section and section[key] != ''}


def grid(values: dict) -> list:
  """One {key: value} per setting, the first key varying slowest ([{}]: a plain run's one)."""
  return [dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())]


def settings(config) -> list:
  """The grid of a config's sweep, keys in SWEEPABLE order, the first varying slowest."""
  return grid(swept_values(config))


def num_settings(config) -> int:
  return len(settings(config))


def num_agents(config) -> int:
  """Agents trained together: settings x seeds."""
  return num_settings(config) * config.num_seeds


def is_sweep(config) -> bool:
  return bool(swept_values(config))


def label(setting: dict) -> str:
  return ' '.join(f'{key}={value:g}' for key, value in setting.items()) or 'the config'


def setting_config(config, setting: dict):
  """The plain-run config of one setting: its values set, the sweep cleared."""
  one = copy.deepcopy(config)
  with one.unlocked():
    for key, value in setting.items():
      one.agent[key] = value
    for key in SWEEPABLE:
      one.sweep.agent[key] = ''
  return one


def agent_hparams(config) -> dict | None:
  """Per agent, the swept values as float32 arrays [A] (setting-major), the traced inputs of the
  compiled updates; None for a plain run, whose values stay constants of the program."""
  combos = settings(config)
  if not combos[0]:
    return None
  return {key: np.repeat(np.array([s[key] for s in combos], np.float32), config.num_seeds)
          for key in combos[0]}


def take_setting(per_agent, setting: int, num_seeds: int):
  """Setting `setting`'s seeds of a per-agent pytree ([A, ...] leaves -> [num_seeds, ...])."""
  return jax.tree.map(lambda x: x[setting * num_seeds:(setting + 1) * num_seeds], per_agent)
