"""Orbax checkpoints of the seed-stacked agent state: save, resume the latest, restore exactly.

`checkpoints/config.json` beside them is a copy of the config of the run that wrote them (their
owner), which resumption and evaluation check a config against.
"""
import json
import math
import os

import jax
import orbax.checkpoint as ocp

CHECKPOINT_DIR = 'checkpoints'
OWNER_CONFIG = os.path.join(CHECKPOINT_DIR, 'config.json')


def saved_steps(workdir: str) -> list:
  """The steps of the checkpoints in `workdir`, read from the directory listing alone (nothing
  is created or opened)."""
  try:
    names = os.listdir(os.path.join(workdir, CHECKPOINT_DIR))
  except OSError:
    return []
  return sorted(int(name) for name in names if name.isdigit()
                and os.path.isdir(os.path.join(workdir, CHECKPOINT_DIR, name)))


def write_owner(workdir: str, config_json: str) -> None:
  """Records `config_json` as the config of the run that writes `workdir`'s checkpoints (written
  whole, then renamed, so a crash leaves the old copy or the new one)."""
  os.makedirs(os.path.join(workdir, CHECKPOINT_DIR), exist_ok=True)
  path = os.path.join(workdir, OWNER_CONFIG)
  with open(path + '.tmp', 'w') as f:
    f.write(config_json)
  os.replace(path + '.tmp', path)


class Checkpointer:
  """A CheckpointManager under `workdir/checkpoints`, restored against an abstract target.

  Restoring against `jax.eval_shape` of a fresh state keeps every pytree node type (optax
  states stay NamedTuples) and every dtype, so a restored run continues bit for bit.
  """

  def __init__(self, workdir: str, max_to_keep: int = 2, keep_steps=()):
    """Keeps the latest `max_to_keep` checkpoints and, beside them, those at `keep_steps`."""
    self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
    keep = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(max_to_keep),
        ocp.checkpoint_managers.CustomSteps([int(s) for s in keep_steps if s > 0])])
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(preservation_policy=keep, create=True,
                                             enable_async_checkpointing=False))

  def latest_step(self):
    return self.manager.latest_step()

  def all_steps(self):
    return list(self.manager.all_steps())

  def save(self, step: int, state) -> None:
    self.manager.save(int(step), args=ocp.args.StandardSave(state), force=True)
    self.manager.wait_until_finished()

  @staticmethod
  def shapes_of(abstract_state):
    return sorted(tuple(leaf.shape) for leaf in jax.tree.leaves(abstract_state))

  def restore(self, abstract_state, step: int | None = None):
    """The state saved at `step` (default: the latest), shaped and typed like the target."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'no checkpoint in {self.directory}')
    # Leaves without a sharding come back on the default device, whatever devices saved them.
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                       sharding=getattr(x, 'sharding', None) or default),
        abstract_state)
    return self.manager.restore(step, args=ocp.args.StandardRestore(target))

  def stored_shapes(self, step: int):
    """Sorted leaf shapes recorded in the checkpoint at `step`, read from Orbax's metadata file
    without restoring anything (None if the layout is not the one we know)."""
    path = os.path.join(self.directory, str(step), 'default', '_METADATA')
    try:
      with open(path) as f:
        leaves = json.load(f)['tree_metadata'].values()
      # Empty optimiser states are recorded as None leaves without a shape; pytrees drop them.
      shapes = [tuple(leaf['value_metadata']['write_shape']) for leaf in leaves
                if leaf['value_metadata']['value_type'] != 'None']
    except (OSError, KeyError, TypeError, ValueError):
      return None
    # A state split over devices records each device's part: its agent axis times the devices.
    devices = self._agent_devices(step)
    return sorted((shape[0] * devices,) + shape[1:] if shape else shape for shape in shapes)

  def _agent_devices(self, step: int) -> int:
    """Over how many devices the checkpoint at `step` split the agent axis (1: not split)."""
    path = os.path.join(self.directory, str(step), 'default', '_sharding')
    try:
      with open(path) as f:
        shardings = [json.loads(text) for text in json.load(f).values()]
    except (OSError, TypeError, ValueError):
      return 1
    counts = {math.prod(sharding['shape']) for sharding in shardings
              if isinstance(sharding, dict) and sharding.get('partition_spec', [None])[:1]
              == ['agents']}
    return counts.pop() if len(counts) == 1 else 1

  def close(self):
    self.manager.close()
