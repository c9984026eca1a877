"""Performance knobs change cost, not results: bf16 matmuls, buffer donation, their validation."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dflow_jax import train
from dflow_jax.config import ConfigError, validate
from dflow_jax.runtime import run
from tests.conftest import tiny_config


def one_decision_flow_update(config):
  dataset, agent = run.prepare(config)
  states = train.start_decision_flow(agent, train.init_states(agent, config.seed, 1))
  chunk = train.make_chunk(agent, train.DECISION_FLOW, config.batch_size, 1)
  return chunk(states, dataset)[:2]


@pytest.mark.slow  # two bf16 compiles; `make test` stays under 10 minutes
def test_a_bfloat16_update_runs_and_its_losses_are_close_to_float32():
  f32_states, f32 = one_decision_flow_update(tiny_config('dir'))
  bf16_states, bf16 = one_decision_flow_update(tiny_config('dir', **{
      'agent.matmul_dtype': 'bfloat16'}))
  # parameters (and so checkpoints) stay float32; only the matmuls' inputs are rounded
  assert all(leaf.dtype == np.float32 for leaf in jax.tree.leaves(bf16_states.policy.params))
  for name in ('critic/q_loss', 'critic/value_loss', 'policy/fm_loss', 'df/flow_value_loss'):
    assert np.all(np.isfinite(bf16[name])), name
    np.testing.assert_allclose(bf16[name], f32[name], rtol=0.05, atol=1e-3, err_msg=name)


def test_a_donating_chunk_gives_the_same_states_from_a_copy():
  config = tiny_config('div')
  dataset, agent = run.prepare(config)
  states = train.init_states(agent, config.seed, config.num_seeds)
  chunk = train.make_chunk(agent, train.BEHAVIOR, config.batch_size, 2)
  kept = chunk(jax.tree.map(jnp.copy, states), dataset)[0]
  donated = chunk(states, dataset)[0]
  jax.tree.map(np.testing.assert_array_equal, kept, donated)


@pytest.mark.parametrize('key, value', [('matmul_dtype', 'float16'), ('scan_unroll', 0)])
def test_bad_knob_values_are_refused(key, value):
  config = tiny_config('dir')
  # a fresh agent dict, since ConfigDict refuses a value of another type than the default's
  config.agent = ml_collections.ConfigDict({**config.agent.to_dict(), key: value})
  with pytest.raises(ConfigError, match=f'agent.{key}'):
    validate(config)
