"""Toy tasks generated in memory from a seed.

The 4-mode bandit (Diffusion-QL): a constant state, a 2-D action drawn from four Gaussians of
equal weight, each with its own reward distribution. A good policy must find the best mode;
a behaviour-cloning flow must keep all four.
"""
import jax.numpy as jnp
import numpy as np

from dflow_jax.data.transitions import Transitions

BANDIT_CENTRES = np.array([[-0.8, 0.8], [-0.8, -0.8], [0.8, 0.8], [0.8, -0.8]], np.float32)
BANDIT_REWARD_MEANS = np.array([3.0, 0.0, 1.5, 5.0], np.float32)
BANDIT_REWARD_STD = 0.5
BANDIT_ACTION_STD = 0.05
BANDIT_MODE_RADIUS = 0.2  # "near a mode" means within this distance of its centre
BANDIT_OPTIMAL_MODE = int(np.argmax(BANDIT_REWARD_MEANS))


def bandit(seed: int = 0, num_samples: int = 10_000, state_dim: int = 2) -> Transitions:
  """`num_samples / 4` clipped Gaussian actions per mode; one-step episodes."""
  rng = np.random.default_rng(seed)
  mode = np.repeat(np.arange(4), num_samples // 4)
  actions = BANDIT_CENTRES[mode] + BANDIT_ACTION_STD * rng.standard_normal((mode.size, 2))
  actions = np.clip(actions, -1.0, 1.0).astype(np.float32)
  rewards = BANDIT_REWARD_MEANS[mode] + BANDIT_REWARD_STD * rng.standard_normal(mode.size)
  states = np.zeros((mode.size, state_dim), np.float32)
  return Transitions(
      observations=jnp.asarray(states), actions=jnp.asarray(actions),
      rewards=jnp.asarray(rewards, jnp.float32), next_observations=jnp.asarray(states),
      terminals=jnp.ones(mode.size, jnp.float32), timeouts=jnp.zeros(mode.size, jnp.float32))


def bandit_true_reward(actions):
  """Expected reward of actions: the mean reward of the mode within the radius, 0 off-support."""
  dist = jnp.linalg.norm(actions[..., None, :] - BANDIT_CENTRES, axis=-1)
  near = dist <= BANDIT_MODE_RADIUS
  return jnp.sum(near * BANDIT_REWARD_MEANS, axis=-1)


def bandit_metrics(actions) -> dict:
  """Fraction of actions near each mode, the off-support fraction and the mean true reward."""
  dist = jnp.linalg.norm(actions[..., None, :] - BANDIT_CENTRES, axis=-1)
  near = (dist <= BANDIT_MODE_RADIUS).astype(jnp.float32)
  mass = jnp.mean(near, axis=-2)
  return {
      **{f'mass_mode{i}': mass[..., i] for i in range(4)},
      'off_support': 1.0 - jnp.sum(mass, axis=-1),
      'true_reward': jnp.mean(bandit_true_reward(actions), axis=-1),
  }
