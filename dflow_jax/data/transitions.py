"""The on-device dataset: a pytree of equally long arrays, sampled inside jitted code."""
import flax.struct
import jax
import jax.numpy as jnp


class Transitions(flax.struct.PyTreeNode):
  observations: jax.Array  # [N, obs_dim]
  actions: jax.Array  # [N, action_dim], in [-1, 1]
  rewards: jax.Array  # [N]
  next_observations: jax.Array  # [N, obs_dim]
  terminals: jax.Array  # [N] float: 1 where the episode truly ended (no bootstrap)
  timeouts: jax.Array  # [N] float: 1 where the episode was cut (bootstrap still applies)

  @property
  def size(self) -> int:
    return self.rewards.shape[0]

  @property
  def observation_dim(self) -> int:
    return self.observations.shape[-1]

  @property
  def action_dim(self) -> int:
    return self.actions.shape[-1]

  def sample(self, key, batch_size: int) -> 'Transitions':
    """Uniform minibatch with replacement; no host round trip."""
    idx = jax.random.randint(key, (batch_size,), 0, self.size)
    return jax.tree.map(lambda x: jnp.take(x, idx, axis=0), self)
