"""The two problem sizes, their datasets, and the update cases measured at each.

toy: experiments/toy.py (2-D state and action, 3x64 networks, the bandit's own data).
door: Adroit-door-sized (39-dim state, 28-dim action, 4x256 velocity and critic networks) on a
synthetic dataset generated on the device.
"""
import dataclasses

import jax
import jax.numpy as jnp

from benchmarks.settings import Settings
from dflow_jax import data
from dflow_jax.agents import Agent
from dflow_jax.config import AgentConfig, agent_config
from dflow_jax.data import Transitions
from experiments.toy import get_config as toy_config


@dataclasses.dataclass(frozen=True)
class Size:
  name: str
  agent: AgentConfig  # variant, flow steps and the rest are set per case
  observation_dim: int
  action_dim: int
  batch_size: int


def make_size(name: str, settings: Settings) -> Size:
  if name == 'toy':
    config = toy_config()
    cfg, dims, batch = agent_config(config.agent), (2, 2), config.batch_size
  elif name == 'door':
    cfg = AgentConfig(velocity_hidden=(256,) * 4, critic_hidden=(256,) * 4)
    dims, batch = (39, 28), 256
  else:
    raise ValueError(f'unknown size {name!r}; expected toy or door')
  if settings.hidden is not None:
    cfg = dataclasses.replace(cfg, velocity_hidden=settings.hidden, critic_hidden=settings.hidden)
  return Size(name, cfg, *dims, settings.batch_size or batch)


def synthetic_dataset(observation_dim: int, action_dim: int, size: int, seed: int = 0):
  """Random transitions of the right shapes, made on the device (their values do not matter)."""
  keys = jax.random.split(jax.random.PRNGKey(seed), 3)
  observations = jax.random.normal(keys[0], (size, observation_dim))
  actions = jnp.tanh(jax.random.normal(keys[1], (size, action_dim)))
  return Transitions(observations, actions, jax.random.normal(keys[2], (size,)),
                     observations + 0.01, jnp.zeros(size), jnp.zeros(size),
                     jnp.roll(actions, 1, axis=0))


def make_dataset(size: Size, settings: Settings) -> Transitions:
  if size.name == 'toy':
    return data.load('toy/bandit')
  return synthetic_dataset(size.observation_dim, size.action_dim, settings.door_dataset_size)


@dataclasses.dataclass(frozen=True)
class UpdateCase:
  """One measured configuration of the compiled training chunk (Decision Flow phase; for the
  `bc` variant that phase is the flow-matching + critic update)."""
  size: str
  variant: str
  seeds: int
  flow_steps: int
  steps_per_state: int
  chunk: int
  scan_unroll: int = 1
  seeds_per_vmap: int = 0  # how the seeds are batched (config.seeds_per_vmap), not the agent
  matmul_dtype: str = 'float32'
  remat: bool = False  # bptt: agent.bptt_remat

  def label(self) -> str:
    knobs = [name for name, on in [
        ('remat', self.remat),
        (f'unroll={self.scan_unroll}', self.scan_unroll != 1),
        (f'seeds_per_vmap={self.seeds_per_vmap}', self.seeds_per_vmap != 0),
        (self.matmul_dtype, self.matmul_dtype != 'float32')] if on]
    return (f'{self.size:4s} {self.variant:3s} S={self.seeds:<3d} T={self.flow_steps:<2d} '
            f'k={self.steps_per_state:<2d} K={self.chunk:<4d} {" ".join(knobs)}').rstrip()


def agent_config_of(size: Size, case: UpdateCase) -> AgentConfig:
  return dataclasses.replace(
      size.agent, variant=case.variant, flow_steps=case.flow_steps,
      steps_per_state=case.steps_per_state, scan_unroll=case.scan_unroll,
      matmul_dtype=case.matmul_dtype, bptt_remat=case.remat)


def agent_factory(size: Size):
  """cfg -> agent of this size."""
  return lambda cfg: Agent(cfg, size.observation_dim, size.action_dim)


def make_agent(size: Size, case: UpdateCase) -> Agent:
  return Agent(agent_config_of(size, case), size.observation_dim, size.action_dim,
               seeds_per_vmap=case.seeds_per_vmap)


def _steps_per_state(token, flow_steps: int) -> int:
  return flow_steps if str(token) == 'T' else min(int(token), flow_steps)


def default_case(size: Size, variant: str, settings: Settings) -> UpdateCase:
  T = settings.default_flow_steps
  return UpdateCase(size.name, variant, settings.default_seeds[size.name], T,
                    _steps_per_state(settings.default_steps_per_state, T), settings.default_chunk)


def _with_flow_steps(case: UpdateCase, T: int, settings: Settings) -> UpdateCase:
  """The case at T flow steps, with the default steps per state resolved at that T."""
  return dataclasses.replace(
      case, flow_steps=T, steps_per_state=_steps_per_state(settings.default_steps_per_state, T))


def _unique(cases):
  return list(dict.fromkeys(cases))


def sweep(size: Size, variant: str, settings: Settings) -> list[UpdateCase]:
  """The default point, then one axis at a time: seeds, flow steps, steps per state, chunk.

  `bc` sweeps only seeds and chunk length: its update never integrates the flow.
  """
  base = default_case(size, variant, settings)
  cases = [base] + [dataclasses.replace(base, seeds=s) for s in sorted(settings.seeds)]
  if variant != 'bc':
    cases += [_with_flow_steps(base, T, settings) for T in sorted(settings.flow_steps)]
    for token in settings.steps_per_state:
      cases.append(dataclasses.replace(
          base, steps_per_state=_steps_per_state(token, base.flow_steps)))
  cases += [dataclasses.replace(base, chunk=k) for k in sorted(settings.chunks)]
  return _unique(cases)


def lever_cases(size: Size, variant: str, lever: str, settings: Settings):
  """[(setting, case, reference case)] of one lever; empty where it cannot matter (a `bc`
  update has no flow rollout to unroll). `chunk` and `steps_per_state` are not speed-ups to
  adopt but the comparisons two targets are about; they are timed the same paired way."""
  base = default_case(size, variant, settings)
  if lever == 'bf16':
    return [('bfloat16 matmuls', dataclasses.replace(base, matmul_dtype='bfloat16'), base)]
  if lever == 'seeds_per_vmap':  # seeds one after another instead of one wide vmap
    many = dataclasses.replace(base, seeds=settings.seed_group_seeds)
    return [(f'seeds_per_vmap=1 at S={many.seeds}', dataclasses.replace(many, seeds_per_vmap=1),
             many)]
  if lever == 'chunk':  # the host round trip (and metrics read-back) after every update
    return [] if base.chunk == 1 else [('K=1', dataclasses.replace(base, chunk=1), base)]
  if variant == 'bc':
    return []
  if lever == 'unroll':
    unrolls = sorted({2, base.flow_steps} - {1})
    return [(f'scan_unroll={u}', dataclasses.replace(base, scan_unroll=u), base)
            for u in unrolls if u <= base.flow_steps]
  if lever == 'steps_per_state':  # every flow step of a state in the DF losses, against k
    every = dataclasses.replace(base, steps_per_state=base.flow_steps)
    return [] if every == base else [(f'k=T={base.flow_steps}', every, base)]
  raise ValueError(f'unknown lever {lever!r}')
