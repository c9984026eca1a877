"""The critic's check on the policy's own episodes: recording, returns-to-go, and its agreement
with the evaluation it shadows."""
import gymnasium as gym
import numpy as np

from dflow_jax.envs.critic_on_policy import play_recorded, returns_to_go
from tests.test_evaluation import Countdown


def test_each_envs_first_episode_is_recorded_and_nothing_after_it():
  envs = gym.vector.SyncVectorEnv([Countdown] * 4)
  played = play_recorded(envs, lambda obs, step: np.full((len(obs), 1), 0.5, np.float32),
                         env_seed=10)  # lengths 4 5 2 3
  lengths = np.array([4, 5, 2, 3])
  np.testing.assert_array_equal(played.alive.sum(axis=1), lengths)
  assert played.observations.shape == (4, 5, 1) and played.actions.shape == (4, 5, 1)
  assert np.all(played.terminated)
  # Step t of an episode earns 1.5 (t + 1); the autoreset step and the episode after it earn 0.
  expected = np.where(played.alive, 1.5 * np.arange(1, 6), 0.0)
  np.testing.assert_allclose(played.rewards, expected)
  np.testing.assert_array_equal(played.observations[:, 0, 0], lengths)  # each env's first state
  returns, left = returns_to_go(played.rewards, played.alive, 0.5)
  np.testing.assert_allclose(returns[2], [1.5 + 0.5 * 3.0, 3.0, 0, 0, 0])
  np.testing.assert_array_equal(left[0], [4, 3, 2, 1, 0])
  np.testing.assert_allclose(returns_to_go(played.rewards, played.alive, 1.0)[0][:, 0],
                             1.5 * lengths * (lengths + 1) / 2)
