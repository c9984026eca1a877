"""The critic-ensemble lever's OFF side: the two Q heads as separate MLPs called in a Python
loop, as an alternative to the library's `nn.vmap` ensemble (CriticEnsemble). Benchmark only."""
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from dflow_jax.agents import Agent
from dflow_jax.networks import MLP


class CriticHeadsInALoop(nn.Module):
  """Q_i(s, a) for `num_heads` heads, each its own MLP traced one after another."""
  hidden_dims: Sequence[int]
  num_heads: int = 2
  activation: str = 'gelu'
  layer_norm: bool = True
  matmul_dtype: str = 'float32'

  @nn.compact
  def __call__(self, state, action):
    inputs = jnp.concatenate([state, action], -1)
    return jnp.stack([
        MLP(self.hidden_dims, 1, self.activation, self.layer_norm, self.matmul_dtype,
            name=f'head_{i}')(inputs)[..., 0] for i in range(self.num_heads)])


class LoopCriticAgent(Agent):
  """The library's agent with CriticHeadsInALoop in place of the vmapped ensemble."""

  def __init__(self, cfg, observation_dim, action_dim, observation_stats=None):
    super().__init__(cfg, observation_dim, action_dim, observation_stats)
    self.critic_net = CriticHeadsInALoop(cfg.critic_hidden, 2, cfg.activation,
                                         matmul_dtype=cfg.matmul_dtype)
    self.apply = self.apply._replace(critic=self.critic_net.apply)

  # Not equal to a library agent of the same config: jit caches keyed on agents stay apart.
  def _identity(self):
    return super()._identity() + ('critic heads in a loop',)
