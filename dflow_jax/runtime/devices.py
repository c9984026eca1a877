"""The agent axis over devices: a 1-D mesh, and where seed-stacked trees live on it.

With more than one device, every agent-stacked array (states, a sweep's per-agent values,
per-agent metrics) is split along its leading axis over a 1-D mesh named `agents`, and the
dataset is copied to every device. Agents never read each other, so the compiled chunk needs no
communication between devices (train.make_chunk maps it over the mesh with shard_map).
"""
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, SingleDeviceSharding
from jax.sharding import PartitionSpec as P

from dflow_jax.config import ConfigError

AXIS = 'agents'


def is_writer() -> bool:
  """Whether this process writes the run's files (logs, metrics, evaluations, figures): process 0
  of a multi-process run, and the one process otherwise. Checkpoints are Orbax's to coordinate."""
  return jax.process_index() == 0


def to_host(tree):
  """Every agent's values as host arrays: the chunk's one transfer. With several processes each
  holds only its own agents' parts, so they are gathered from all of them (every process must
  call this together)."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils
  return multihost_utils.process_allgather(tree, tiled=True)


def host_copy(states):
  """The states as arrays this process can read whole, for evaluating and plotting: themselves
  with one process, else gathered from every process (all must call this together)."""
  return states if jax.process_count() == 1 else to_host(states)


def local_agents(tree) -> tuple[int, object]:
  """(the index of its first agent, this process's agents as host arrays): the block of the agent
  axis that this process's devices hold (all of it with one process)."""
  if jax.process_count() == 1:
    return 0, tree
  leaves, treedef = jax.tree.flatten(tree)
  start = lambda shard: shard.index[0].start or 0
  first = min(start(shard) for shard in leaves[0].addressable_shards)
  blocks = [np.concatenate([np.asarray(shard.data) for shard in
                            sorted(leaf.addressable_shards, key=start)]) for leaf in leaves]
  return first, jax.tree.unflatten(treedef, blocks)


def agent_mesh(devices: int, num_agents: int) -> Mesh | None:
  """The mesh of the first `devices` devices (0: every visible one); None for one device.
  ConfigError when there are not that many, or when they do not split the agents evenly."""
  visible = jax.devices()
  count = devices or len(visible)
  if count > len(visible):
    raise ConfigError(f'config.devices = {devices} is invalid: JAX sees {len(visible)} '
                      f'device(s) ({visible[0].platform}); use at most {len(visible)} (0: all)')
  if count == 1:
    return None
  if num_agents % count:
    valid = [d for d in range(1, len(visible) + 1) if num_agents % d == 0]
    raise ConfigError(f'{num_agents} agents (num_seeds x sweep settings) do not split evenly '
                      f'over {count} devices; use --config.devices={" or ".join(map(str, valid))}'
                      f', or a num_seeds that {count} divides')
  return Mesh(np.array(visible[:count]), (AXIS,))


def per_agent(mesh: Mesh | None):
  """The sharding of an agent-stacked array: split over the mesh (one device: that device)."""
  if mesh is None:
    return SingleDeviceSharding(jax.devices()[0])
  return NamedSharding(mesh, P(AXIS))


def everywhere(mesh: Mesh | None):
  """The sharding of an array every agent reads (the dataset): a copy on each device."""
  if mesh is None:
    return SingleDeviceSharding(jax.devices()[0])
  return NamedSharding(mesh, P())


def place_agents(tree, mesh: Mesh | None):
  """On the device(s) once, so that no chunk carries host arrays (a sweep's values) over again."""
  return None if tree is None else jax.device_put(tree, per_agent(mesh))


def place_everywhere(tree, mesh: Mesh | None):
  return tree if mesh is None else jax.device_put(tree, everywhere(mesh))


def abstract_on(abstract, mesh: Mesh | None):
  """Shapes and dtypes of an agent-stacked tree with the sharding to restore it with, so that a
  checkpoint saved on any number of devices comes back split over this run's."""
  sharding = per_agent(mesh)
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                      abstract)
