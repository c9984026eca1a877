"""Flax (linen) modules: pure `init`/`apply` functions over explicit parameters."""
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {'gelu': nn.gelu, 'relu': nn.relu, 'tanh': nn.tanh, 'silu': nn.silu}
TIME_EMBEDDINGS = ('fourier', 'raw')
MATMUL_DTYPES = ('float32', 'bfloat16')


class MLP(nn.Module):
  """Dense layers; `matmul_dtype` is the dtype they compute in (parameters stay float32)."""
  hidden_dims: Sequence[int]
  output_dim: int
  activation: str = 'gelu'
  layer_norm: bool = False
  matmul_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x):
    act = ACTIVATIONS[self.activation]
    dtype = jnp.dtype(self.matmul_dtype)
    for width in self.hidden_dims:
      x = nn.Dense(width, dtype=dtype)(x)
      if self.layer_norm:
        x = nn.LayerNorm()(x)
      x = act(x)
    # Losses, targets and the ODE are computed in float32 whatever the matmuls ran in.
    return nn.Dense(self.output_dim, dtype=dtype)(x).astype(jnp.float32)


def embed_time(t, kind: str, dim: int):
  """Fixed Fourier features of t in [0, 1] (frequencies 1..2^(dim/2 - 1) cycles), or raw t."""
  t = t[..., None]
  if kind == 'raw':
    return t
  freqs = 2.0 * np.pi * 2.0 ** np.arange(dim // 2, dtype=np.float32) / 4.0
  return jnp.concatenate([jnp.sin(freqs * t), jnp.cos(freqs * t)], axis=-1)


class VelocityField(nn.Module):
  """u(s, x, t): the velocity of the action-generating flow."""
  hidden_dims: Sequence[int]
  action_dim: int
  activation: str = 'gelu'
  time_embedding: str = 'fourier'
  time_dim: int = 16
  matmul_dtype: str = 'float32'

  @nn.compact
  def __call__(self, state, x, t):
    inputs = jnp.concatenate([state, x, embed_time(t, self.time_embedding, self.time_dim)], -1)
    return MLP(self.hidden_dims, self.action_dim, self.activation,
               matmul_dtype=self.matmul_dtype)(inputs)


class CriticEnsemble(nn.Module):
  """Q_i(s, a) for `num_heads` independent heads; returns [num_heads, ...]."""
  hidden_dims: Sequence[int]
  num_heads: int = 2
  activation: str = 'gelu'
  layer_norm: bool = True
  matmul_dtype: str = 'float32'

  @nn.compact
  def __call__(self, state, action):
    heads = nn.vmap(MLP, variable_axes={'params': 0}, split_rngs={'params': True},
                    in_axes=None, out_axes=0, axis_size=self.num_heads)
    q = heads(self.hidden_dims, 1, self.activation, self.layer_norm, self.matmul_dtype)(
        jnp.concatenate([state, action], -1))
    return q[..., 0]


class ValueNet(nn.Module):
  """V(s) for IQL."""
  hidden_dims: Sequence[int]
  activation: str = 'gelu'
  layer_norm: bool = True
  matmul_dtype: str = 'float32'

  @nn.compact
  def __call__(self, state):
    return MLP(self.hidden_dims, 1, self.activation, self.layer_norm,
               self.matmul_dtype)(state)[..., 0]


class FlowValue(nn.Module):
  """V^f(s, x, t): value of the flow state (s, x) at flow time t (DF-dir's V^f, DF-div's V^chi)."""
  hidden_dims: Sequence[int]
  activation: str = 'gelu'
  layer_norm: bool = True
  time_embedding: str = 'fourier'
  time_dim: int = 16
  matmul_dtype: str = 'float32'

  @nn.compact
  def __call__(self, state, x, t):
    parts = [state, x, embed_time(t, self.time_embedding, self.time_dim)]
    return MLP(self.hidden_dims, 1, self.activation, self.layer_norm, self.matmul_dtype)(
        jnp.concatenate(parts, -1))[..., 0]
