"""Shared fixtures: tiny configs that compile in seconds on 2 CPU cores."""
import hashlib
import os

os.environ.setdefault('XLA_FLAGS', '')

import pytest  # noqa: E402
from absl import logging  # noqa: E402

from dflow_jax.config import base_config  # noqa: E402
from dflow_jax.presets import override  # noqa: E402

logging.set_verbosity(logging.WARNING)


def tiny_config(variant='div', **overrides):
  """A bandit run small enough for unit tests (not for learning); `overrides` take dotted keys."""
  tiny = {'dataset': 'toy/bandit', 'num_seeds': 2, 'batch_size': 32, 'bc_steps': 20,
          'df_steps': 20, 'chunk_size': 10, 'save_interval': 10, 'eval_samples': 50,
          'progress_bar': False, 'agent.variant': variant, 'agent.velocity_hidden': (16, 16),
          'agent.critic_hidden': (16, 16), 'agent.flow_steps': 3, 'validation_episodes': 1,
          'toy_curves': False}  # one test follows them (test_plots); the rest need not pay
  return override(base_config(), {**tiny, **overrides})


@pytest.fixture
def tiny():
  return tiny_config


def file_hashes(directory) -> dict:
  """{relative path: sha256} of every file under `directory` ({} when it does not exist)."""
  hashes = {}
  for parent, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(parent, name)
      with open(path, 'rb') as f:
        hashes[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
  return hashes
