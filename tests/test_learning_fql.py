"""FQL on the 4-mode bandit, against the public FQL code's figures (slow: `make test-slow`).

The public FQL code, run unmodified on this bandit (3 seeds, 3x128 networks, 8,000 updates from
scratch, batch 256, normalize_q_loss), puts 0.16-0.23 of the mass on each mode with 16-22% off the
data at alpha 3 to 30 (true reward 1.92-1.99), and at alpha 1 leaves 58-80% off the data with
0.20-0.22 on the optimal mode (reward 1.0-1.7). Ours at the same settings, measured 2026-11-26:
alpha 1: 56-79% off, 0.21-0.22 on the optimal mode, reward 1.06-1.75; alpha 3: 0.11-0.25 per
mode, 13-19% off, reward 2.10-2.27. FQL stays local here, where DF-div moves 0.95 or more of the
mass to the best mode (tests/test_learning.py).
"""
import jax
import numpy as np
import pytest

from dflow_jax import run, train
from dflow_jax.data.toy import bandit_metrics
from experiments.toy import get_config

pytestmark = pytest.mark.slow
SEEDS = 3


def train_fql(alpha):
  config = get_config()
  config.num_seeds, config.bc_steps, config.df_steps = SEEDS, 0, 8000
  config.batch_size, config.chunk_size = 256, 1000
  agent = config.agent
  agent.variant, agent.alpha, agent.learning_rate = 'fql', alpha, 3e-4
  agent.q_agg, agent.policy_ema = 'mean', 0.0  # FQL's defaults: mean of the heads, raw weights
  agent.velocity_hidden = agent.critic_hidden = (128, 128, 128)
  dataset, agent = run.prepare(config)
  states = train.start_decision_flow(agent, train.init_states(agent, config.seed, SEEDS))
  chunk = train.ChunkCache(agent, config.batch_size)(train.DECISION_FLOW, config.chunk_size)
  for _ in range(config.df_steps // config.chunk_size):
    states, _, _ = chunk(states, dataset)
  actions = train.sample_actions(agent, states, dataset.observations[0], 1000, False)
  m = jax.device_get(bandit_metrics(actions))
  masses = np.stack([m[f'mass_mode{i}'] for i in range(4)], -1)
  print(f'\nFQL alpha {alpha}: masses {np.round(masses, 2).tolist()}, off the data '
        f'{np.round(m["off_support"], 2)}, true reward {np.round(m["true_reward"], 2)}')
  return masses, m


def test_fql_with_a_weak_distillation_leaves_the_data():
  masses, m = train_fql(1.0)
  assert np.all(m['off_support'] >= 0.45), m['off_support']
  assert np.all(masses[:, 3] <= 0.3), masses
  assert np.mean(m['true_reward']) <= 1.9


def test_fql_keeps_every_mode_near_its_data_share():
  masses, m = train_fql(3.0)
  assert np.all((masses >= 0.05) & (masses <= 0.35)), masses
  assert np.all(m['off_support'] <= 0.3), m['off_support']
  assert 1.8 <= np.mean(m['true_reward']) <= 2.5
