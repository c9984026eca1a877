"""The critic's check against the data's Monte Carlo returns."""
import numpy as np
import pytest

from dflow_jax import train
from dflow_jax.reporting import critic_check
from dflow_jax.runtime import run
from tests.conftest import tiny_config


def test_monte_carlo_returns_stop_at_terminals_and_timeouts():
  rewards = [1.0, 1.0, 1.0, 1.0, 1.0]
  terminals, timeouts = [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]
  returns, left = critic_check.monte_carlo_returns(rewards, terminals, timeouts, 0.5)
  np.testing.assert_allclose(returns, [1.75, 1.5, 1.0, 1.5, 1.0])
  np.testing.assert_array_equal(left, [3, 2, 1, 2, 1])
  np.testing.assert_array_equal(
      critic_check._ends_in_terminal(np.array(terminals), np.array(timeouts)),
      [True, True, True, False, False])


@pytest.mark.slow  # a learning check; keeps `make test` under 10 minutes
def test_a_trained_critic_tracks_the_returns_better_than_a_fresh_one():
  """On the bandit every transition is its own episode, so the return is the reward: a critic
  trained for a few hundred steps correlates with it, a fresh one hardly."""
  config = tiny_config('bc', num_seeds=2, batch_size=128)
  dataset, agent = run.prepare(config)
  fresh = train.init_states(agent, config.seed, 2)
  before = critic_check.q_against_returns(agent, fresh, dataset, config.agent.discount, 2000)
  states, _, _ = train.make_chunk(agent, train.CRITIC, config.batch_size, 300)(fresh, dataset)
  after = critic_check.q_against_returns(agent, states, dataset, config.agent.discount, 2000)
  assert after['transitions'] == 2000 and after['correlation'].shape == (2,)
  assert np.all(after['correlation'] > 0.8), after['correlation']
  assert np.all(np.abs(before['correlation']) < 0.5), before['correlation']
