"""Observation normalisation: statistics from the dataset that travel in the agent's state.

The agent normalises every observation it sees (training batches and acting alike) with the
statistics stored in its own state, so a restored checkpoint evaluates exactly as it trained.
"""
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

# Added to the std so that constant features (a bandit's state) map to 0 instead of dividing by 0.
STD_FLOOR = 1e-3


class ObservationStats(flax.struct.PyTreeNode):
  mean: jax.Array  # [obs_dim]
  std: jax.Array  # [obs_dim], already includes STD_FLOOR

  def normalize(self, observations):
    return (observations - self.mean) / self.std


def identity(observation_dim: int) -> ObservationStats:
  return ObservationStats(jnp.zeros(observation_dim), jnp.ones(observation_dim))


def from_observations(observations) -> ObservationStats:
  observations = np.asarray(observations, np.float64)
  return ObservationStats(jnp.asarray(observations.mean(0), jnp.float32),
                          jnp.asarray(observations.std(0) + STD_FLOOR, jnp.float32))
