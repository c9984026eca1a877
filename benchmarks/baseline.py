"""The like-for-like baseline: a per-step training loop, as common flow-policy code trains.

One jitted single-seed update per call; each batch drawn on the host with numpy from a host
copy of the dataset and transferred to the device; seeds trained one after another in a
Python loop. Metrics stay on the device (no per-step read-back), which favours the baseline.
Same agent, config, batch size and update as ours; only the driving loop differs.
"""
import jax
import numpy as np

from dflow_jax import train


def _host_sampler(dataset, batch_size: int, seed: int = 0):
  host = jax.device_get(dataset)  # the replay buffer in host memory
  rng = np.random.default_rng(seed)

  def sample():
    idx = rng.integers(0, host.size, batch_size)
    return jax.device_put(jax.tree.map(lambda x: x[idx], host))

  return sample


class PerStepBaseline:
  """`call()` trains every seed `updates_per_seed` updates, one seed after another: the same work
  as one of our chunks with K = updates_per_seed."""

  def __init__(self, agent, dataset, batch_size: int, seeds: int, updates_per_seed: int):
    self.update = jax.jit(agent.update_decision_flow)  # for `bc`: flow matching + critic
    self.sample = _host_sampler(dataset, batch_size)
    states = train.start_decision_flow(agent, train.init_states(agent, 0, seeds))
    self.per_seed = [jax.tree.map(lambda x, i=i: x[i], states) for i in range(seeds)]
    self.updates_per_seed = updates_per_seed
    self.steps_per_call = updates_per_seed * seeds

  def call(self):
    for i, state in enumerate(self.per_seed):
      for _ in range(self.updates_per_seed):
        state, _ = self.update(state, self.sample())
      self.per_seed[i] = state
    jax.block_until_ready(self.per_seed)
