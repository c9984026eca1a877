"""Many seeds at once: the seed-stacked state and the compiled training chunk.

This is the one place that vmaps over seeds (`over_seeds`). A chunk is
`jit(scan_K(vmap_S(update(state, dataset.sample(key)))))`: batches are drawn on the device
inside the scan and the metrics come back once per chunk, averaged over its K updates, with a
per-seed flag of whether the metrics and the updated state stayed finite (`finite_per_seed`).
(`seeds_per_vmap` > 0 runs groups of seeds one after another instead of one vmap_S; it is an
execution setting, passed beside the agent so that the agent, and what is compiled for it, stay
the same.)
"""
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dflow_jax.agents import Agent, AgentState
from dflow_jax.data import Transitions

CRITIC, BEHAVIOR = 'critic', 'behavior'
FLOW_VALUE_WARMUP, DECISION_FLOW = 'flow_value_warmup', 'decision_flow'
PHASES = (CRITIC, BEHAVIOR, FLOW_VALUE_WARMUP, DECISION_FLOW)
# Streams folded into a seed's rng (`fold_in`) for end-of-run measurements: distinct from each
# other and from the training stream, so that measuring consumes no training randomness.
# Sampled actions (`sample_actions`): the noise behind the toy tasks' action metrics.
SAMPLING_STREAM = 7
# Divergence from the behaviour flow (`divergence_from_behavior`): its own noise draws.
DIVERGENCE_STREAM = 11


def over_seeds(fn, seeds_per_vmap: int = 0):
  """Maps a single-seed function over the leading seed axis of every argument.

  seeds_per_vmap = 0 vmaps all seeds at once: one wide batched computation, the shape an
  accelerator wants. n > 0 vmaps n seeds at a time and runs the groups one after another
  (lax.map): on XLA:CPU a batched matmul of wide layers runs slower than plain ones (4x256
  networks, 16 seeds: 1.6x faster with n = 1; see docs/performance.md). A single seed, or a
  group of one, calls `fn` without vmap, which XLA:CPU also runs faster. Same values either way.
  """
  def mapped(*args):
    num_seeds = jax.tree.leaves(args)[0].shape[0]
    group = min(seeds_per_vmap or num_seeds, num_seeds)
    if num_seeds == 1:
      out = fn(*jax.tree.map(lambda x: x[0], args))
      return jax.tree.map(lambda x: x[None], out)
    if group == num_seeds:
      return jax.vmap(fn)(*args)
    return jax.lax.map(lambda a: fn(*a), args, batch_size=None if group == 1 else group)
  return mapped


# `seeds_per_vmap = 'auto'`: on a CPU, networks this wide or wider run seed after seed (4x256
# networks, 16 seeds: 1.53x the total updates/s of one vmap on our 2-core CPU,
# docs/performance.md); narrower ones, and every accelerator, take all seeds in one vmap.
AUTO_GROUPS_OF_ONE_FROM_WIDTH = 256


def seeds_per_vmap(config) -> int:
  """The config's seed grouping as over_seeds takes it: an integer as given, or for 'auto' the
  rule above, read from the networks' widest layer and the backend JAX runs on."""
  value = config.seeds_per_vmap
  if value != 'auto':
    return int(value)
  if jax.default_backend() != 'cpu':
    return 0
  widest = max(*config.agent.velocity_hidden, *config.agent.critic_hidden)
  return 1 if widest >= AUTO_GROUPS_OF_ONE_FROM_WIDTH else 0


def seed_keys(seed: int, num_seeds: int, num_settings: int = 1):
  """One key per agent: a sweep's settings (setting-major) all start from the keys of a plain
  run's seeds, so setting k's seeds start where a separate run of setting k would."""
  return jnp.tile(jax.random.split(jax.random.PRNGKey(seed), num_seeds), (num_settings, 1))


def init_states(agent: Agent, seed: int, num_seeds: int, num_settings: int = 1) -> AgentState:
  return jax.jit(over_seeds(agent.init, agent.seeds_per_vmap))(
      seed_keys(seed, num_seeds, num_settings))


def abstract_states(agent: Agent, num_seeds: int):
  """Shapes and dtypes of the seed-stacked state, without computing it (the same however the
  seeds are grouped)."""
  return jax.eval_shape(over_seeds(agent.init), seed_keys(0, num_seeds))


class Schedule(NamedTuple):
  """The phases of a run, in order: critic alone, behaviour flow + critic, flow-value warm-up
  (the first `flow_value_warmup` of the `df_steps`), Decision Flow."""
  critic_steps: int = 0
  bc_steps: int = 0
  flow_value_warmup: int = 0
  df_steps: int = 0

  @classmethod
  def of(cls, config) -> 'Schedule':
    return cls(config.critic_steps, config.bc_steps, config.flow_value_warmup, config.df_steps)

  @property
  def df_start(self) -> int:
    """The step at which u_theta is copied from u_nu (the end of the pre-training phases)."""
    return self.critic_steps + self.bc_steps

  @property
  def total(self) -> int:
    return self.df_start + self.df_steps

  def _ends(self):
    return ((CRITIC, self.critic_steps), (BEHAVIOR, self.df_start),
            (FLOW_VALUE_WARMUP, self.df_start + self.flow_value_warmup),
            (DECISION_FLOW, self.total))

  def phase_of(self, step: int) -> str:
    """The phase the update after `step` belongs to."""
    return next((phase for phase, end in self._ends() if step < end), DECISION_FLOW)

  def phase_end(self, step: int) -> int:
    """The step at which the phase of `step` ends."""
    return dict(self._ends())[self.phase_of(step)]


def _update_fn(agent: Agent, phase: str):
  return {CRITIC: agent.update_critic_only, BEHAVIOR: agent.update_behavior,
          FLOW_VALUE_WARMUP: agent.warm_up_flow_value,
          DECISION_FLOW: agent.update_decision_flow}[phase]


def finite_per_seed(metrics: dict, states: AgentState) -> dict:
  """{'metrics': bool [S], 'parameters': bool [S]}: per seed, whether every metric (averaged
  over a chunk, so nan or inf at any update shows) and every float leaf of the state is finite.

  A nan in a parameter stays nan through later updates, so the state at the chunk's end tells
  whether it appeared anywhere in the chunk. One reduction each, computed where the values are.
  """
  def all_finite(tree):
    leaves = [jnp.isfinite(x).reshape(x.shape[0], -1).all(axis=1) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.stack(leaves).all(axis=0)
  return {'metrics': all_finite(metrics), 'parameters': all_finite(states)}


def make_chunk(agent: Agent, phase: str, batch_size: int, length: int, mesh=None):
  """A jitted function (states, dataset, hparams=None) -> (states, per-seed metrics averaged
  over the chunk, per-seed finiteness of those metrics and of the new states:
  `finite_per_seed`). `hparams`: a sweep's per-agent values ({key: [A]}, sweep.agent_hparams),
  traced, so one compiled chunk serves every setting; None keeps the config's constants.

  The input states are donated: their buffers are reused for the output, so the states are not
  held twice (the caller must not read the states it passed in; pass a copy to keep them).

  `mesh` (devices.agent_mesh): the chunk runs on each device for the agents it holds
  (shard_map over the agent axis, the dataset copied to each), so no device waits on another.
  """
  def per_seed(state: AgentState, hparams, dataset: Transitions):
    rng, key = jax.random.split(state.rng)
    update = _update_fn(agent.with_hparams(hparams), phase)
    return update(state.replace(rng=rng), dataset.sample(key, batch_size))

  def chunk(states: AgentState, dataset: Transitions, hparams=None):
    def one_update(states, _):
      per_agent = over_seeds(lambda s, h: per_seed(s, h, dataset), agent.seeds_per_vmap)
      return per_agent(states, hparams)
    states, metrics = jax.lax.scan(one_update, states, None, length=length)
    metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
    return states, metrics, finite_per_seed(metrics, states)

  if mesh is None:
    return jax.jit(chunk, donate_argnums=0)
  from jax.sharding import PartitionSpec

  from dflow_jax.runtime.devices import AXIS
  agents, everywhere = PartitionSpec(AXIS), PartitionSpec()

  def on_mesh(states, dataset, hparams=None):
    if hparams is None:
      return jax.shard_map(lambda s, d: chunk(s, d), mesh=mesh, in_specs=(agents, everywhere),
                           out_specs=agents)(states, dataset)
    return jax.shard_map(chunk, mesh=mesh, in_specs=(agents, everywhere, agents),
                         out_specs=agents)(states, dataset, hparams)
  return jax.jit(on_mesh, donate_argnums=0)


# Compiled chunks of this process. Agents compare by (config, dims), so a resumed or repeated
# run in the same process reuses the compiled chunk instead of compiling it again.
_COMPILED_CHUNKS = {}


class ChunkCache:
  """Compiled chunks by (phase, length): each shape compiles once per process."""

  def __init__(self, agent: Agent, batch_size: int, mesh=None):
    self.agent, self.batch_size, self.mesh = agent, batch_size, mesh

  def __call__(self, phase: str, length: int):
    key = (self.agent, phase, self.batch_size, length, self.mesh)
    if key not in _COMPILED_CHUNKS:
      _COMPILED_CHUNKS[key] = make_chunk(self.agent, phase, self.batch_size, length, self.mesh)
    return _COMPILED_CHUNKS[key]


def start_decision_flow(agent: Agent, states: AgentState) -> AgentState:
  return jax.jit(over_seeds(agent.start_decision_flow, agent.seeds_per_vmap))(states)


def metric_names(agent: Agent, batch_size: int, dataset: Transitions, hparams: dict | None = None):
  """Names of the metrics each phase reports, from shapes alone (nothing is computed). A sweep's
  `hparams` are bound as traced values, as the chunks bind them: a swept weight whose base value
  is 0 still switches on the metrics of what it weighs."""
  traced = {key: jax.ShapeDtypeStruct((), jnp.float32) for key in hparams} if hparams else None
  state = jax.eval_shape(agent.init, jax.random.PRNGKey(0))
  batch = jax.eval_shape(lambda d: d.sample(jax.random.PRNGKey(0), batch_size), dataset)
  names = {}
  for phase in PHASES:
    def update(state, batch, values, phase=phase):
      return _update_fn(agent.with_hparams(values), phase)(state, batch)
    names[phase] = sorted(jax.eval_shape(update, state, batch, traced)[1])
  return names


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def sample_actions(agent: Agent, states: AgentState, observations, num: int,
                   behavior: bool = False):
  """`num` actions per seed for one observation: [S, num, action_dim]."""
  def per_seed(state):
    key = jax.random.fold_in(state.rng, SAMPLING_STREAM)
    obs = jnp.broadcast_to(observations, (num,) + observations.shape)
    return agent.sample_actions(state, obs, key, behavior=behavior)
  return over_seeds(per_seed, agent.seeds_per_vmap)(states)


@functools.partial(jax.jit, static_argnums=(0, 3))
def divergence_from_behavior(agent: Agent, states: AgentState, observations, num: int):
  """Per seed, mean |u_theta - u_nu|^2 along the policy's flow, from `num` noise draws."""
  def per_seed(state):
    obs = jnp.broadcast_to(observations, (num,) + observations.shape)
    key = jax.random.fold_in(state.rng, DIVERGENCE_STREAM)
    return agent.divergence_from_behavior(state, obs, key)
  return over_seeds(per_seed, agent.seeds_per_vmap)(states)


@functools.partial(jax.jit, static_argnums=(0, 4, 5, 6))
def act(agent: Agent, states: AgentState, observations, key, behavior: bool = False,
        first_seed: int = 0, of_seeds: int | None = None):
  """One action per raw observation of each seed: [S, E, obs_dim] -> [S, E, action_dim].

  Each seed gets its own key split from `key`; the agent normalises the observations itself.
  `first_seed`, `of_seeds`: these S seeds are seeds first_seed.. of a run of `of_seeds`, and get
  the keys they would get there (a host evaluating its own share of the seeds).
  """
  count = observations.shape[0]
  keys = jax.random.split(key, of_seeds or count)[first_seed:first_seed + count]
  return over_seeds(lambda state, obs, k: agent.sample_actions(state, obs, k, behavior),
                    agent.seeds_per_vmap)(states, observations, keys)
