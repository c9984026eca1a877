"""FQL on the 4-mode bandit, against the public FQL code's figures (slow: `make test-slow`).

The public FQL code, run unmodified on this bandit (3 seeds, 3x128 networks, 8,000 updates from
scratch, batch 256, normalize_q_loss), puts 0.16-0.23 of the mass on each mode with 16-22% off the
data at alpha 3 to 30 (true reward 1.92-1.99), and at alpha 1 leaves 58-80% off the data with
0.20-0.22 on the optimal mode (reward 1.0-1.7). These tests train ours at FQL's settings, which
include its network's inputs: raw t for the flow's time (ours defaults to Fourier features) and
the behaviour flow's raw weights as the distillation target (ours defaults to their EMA). With
our defaults the behaviour flow leaves fewer samples off the data, and so does the one-step
policy distilled from it (6-9% at alpha 30, against 18-22% at FQL's settings). FQL stays local
here, where DF-div moves 0.95 or more of the mass to the best mode (tests/test_learning.py).
"""
import jax
import numpy as np
import pytest

from dflow_jax import sweep, train
from dflow_jax.data.toy import bandit_metrics
from dflow_jax.runtime import run
from experiments.toy import get_config

pytestmark = pytest.mark.slow
SEEDS = 3
ALPHAS = (1.0, 3.0, 10.0, 30.0)


@pytest.fixture(scope='module')
def fql_by_alpha():
  """{alpha: (masses [seed, mode], metrics)}: one sweep over ALPHAS, SEEDS seeds each, from
  scratch at the public code's settings."""
  config = get_config()
  config.num_seeds, config.bc_steps, config.df_steps = SEEDS, 0, 8000
  config.batch_size, config.chunk_size = 256, 1000
  config.sweep.agent.alpha = ','.join(str(a) for a in ALPHAS)
  agent = config.agent
  agent.variant, agent.learning_rate = 'fql', 3e-4
  # FQL's settings: mean of the heads, raw weights to act with and to distil, raw t as the input
  agent.q_agg, agent.policy_ema, agent.behavior_ema = 'mean', 0.0, 0.0
  agent.time_embedding = 'raw'
  agent.velocity_hidden = agent.critic_hidden = (128, 128, 128)
  dataset, agent = run.prepare(config)
  hparams = sweep.agent_hparams(config)
  states = train.init_states(agent, config.seed, SEEDS, num_settings=len(ALPHAS))
  states = train.start_decision_flow(agent, states)
  chunk = train.ChunkCache(agent, config.batch_size)(train.DECISION_FLOW, config.chunk_size)
  for _ in range(config.df_steps // config.chunk_size):
    states, _, _ = chunk(states, dataset, hparams)
  actions = train.sample_actions(agent, states, dataset.observations[0], 1000, False)
  m = jax.device_get(bandit_metrics(actions))
  results = {}
  for k, alpha in enumerate(ALPHAS):
    picked = {name: values[k * SEEDS:(k + 1) * SEEDS] for name, values in m.items()}
    masses = np.stack([picked[f'mass_mode{i}'] for i in range(4)], -1)
    print(f'\nFQL alpha {alpha}: masses {np.round(masses, 2).tolist()}, off the data '
          f'{np.round(picked["off_support"], 2)}, true reward '
          f'{np.round(picked["true_reward"], 2)}')
    results[alpha] = masses, picked
  return results


def test_fql_with_a_weak_distillation_leaves_the_data(fql_by_alpha):
  masses, m = fql_by_alpha[1.0]
  assert np.all(m['off_support'] >= 0.45), m['off_support']
  assert np.all(masses[:, 3] <= 0.3), masses
  assert np.mean(m['true_reward']) <= 1.9


@pytest.mark.parametrize('alpha', [3.0, 10.0, 30.0])
def test_fql_keeps_every_mode_near_its_data_share(fql_by_alpha, alpha):
  """The public code's 0.16-0.23 per mode, 16-22% off the data and reward 1.92-1.99, with room
  for the noise of 3 seeds."""
  masses, m = fql_by_alpha[alpha]
  assert np.all((masses >= 0.08) & (masses <= 0.32)), masses
  assert np.all((m['off_support'] >= 0.1) & (m['off_support'] <= 0.35)), m['off_support']
  assert 1.8 <= np.mean(m['true_reward']) <= 2.15
