"""The critic's check against the data's Monte Carlo returns."""
import types

import numpy as np
import pytest

from dflow_jax import train
from dflow_jax.data.transitions import Transitions
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


def test_the_advantage_ranking_completes_cut_returns_with_the_value_where_the_data_stops(
    monkeypatch):
  """Two episodes, the second cut by a timeout: a critic whose Q - V is exactly the advantage
  that followed, with the cut return completed by V at the state where the data stops, scores
  a correlation of 1; the same critic against returns left cut would not."""
  discount = 0.5
  rewards = np.array([1.0, 2.0, 0.0, 1.0, 3.0], np.float32)
  terminals = np.array([0, 1, 0, 0, 0], np.float32)
  timeouts = np.array([0, 0, 0, 0, 1], np.float32)
  observations = np.array([[0.1], [0.4], [0.3], [0.9], [0.2]], np.float32)
  next_observations = np.array([[0.4], [0.0], [0.9], [0.2], [2.0]], np.float32)
  dataset = Transitions(observations=observations, actions=np.zeros((5, 1), np.float32),
                        rewards=rewards, next_observations=next_observations,
                        terminals=terminals, timeouts=timeouts)
  value = lambda obs: 10.0 * obs[..., 0]  # V(s) of a one-number state
  completed = np.array([1 + 0.5 * 2, 2, 0 + 0.5 * 1 + 0.25 * 3 + 0.125 * 20,
                        1 + 0.5 * 3 + 0.25 * 20, 3 + 0.5 * 20])
  advantage = completed - value(observations)
  index = {tuple(o): i for i, o in enumerate(observations.tolist())}
  rows = lambda obs: np.array([index[tuple(o)] for o in np.asarray(obs)[0].tolist()])
  monkeypatch.setattr(critic_check, 'state_values',
                      lambda agent, states, obs: value(np.asarray(obs)))
  monkeypatch.setattr(critic_check, 'q_values', lambda agent, states, obs, act:
                      (value(np.asarray(obs))[0] + advantage[rows(obs)])[None])
  states = types.SimpleNamespace(step=np.zeros(1))
  check = critic_check.advantage_against_returns(None, states, dataset, discount, num=5)
  np.testing.assert_allclose(check['correlation'], [1.0], atol=1e-6)
  cut_returns, _ = critic_check.monte_carlo_returns(rewards, terminals, timeouts, discount)
  assert np.corrcoef(advantage, cut_returns - value(observations))[0, 1] < 0.99
  np.testing.assert_array_equal(critic_check.episode_last_index(terminals, timeouts),
                                [1, 1, 4, 4, 4])


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
  # One state, so V is a constant and the advantage ranks as Q does.
  ranking = critic_check.advantage_against_returns(agent, states, dataset, config.agent.discount,
                                                   2000)
  assert np.all(ranking['correlation'] > 0.8), ranking['correlation']
