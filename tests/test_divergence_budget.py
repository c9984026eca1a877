"""DF-div's divergence budget: rho's dual-ascent step, and its wiring into the update."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dflow_jax.agents import divergence_budget
from dflow_jax.config import ConfigError, validate
from dflow_jax.runtime import run
from tests.conftest import tiny_config
from tests.test_train import assert_trees_close

RATE = divergence_budget.DUAL_RATE


def test_rho_rises_above_the_budget_falls_below_it_and_stays_fixed_without_one():
  step = lambda divergence, target, scale=0.0: float(
      divergence_budget.dual_step(jnp.float32(scale), jnp.float32(divergence), 2, target))
  # Two action dimensions: path divergence 0.4 is 0.2 per dimension, twice a budget of 0.1.
  np.testing.assert_allclose(step(0.4, 0.1), RATE, rtol=1e-5)
  np.testing.assert_allclose(step(0.3, 0.1), 0.5 * RATE, rtol=1e-5)
  np.testing.assert_allclose(step(0.1, 0.1), -0.5 * RATE, rtol=1e-5)
  np.testing.assert_allclose(step(0.0, 0.1), -RATE, rtol=1e-5)
  np.testing.assert_allclose(step(100.0, 0.1), RATE, rtol=1e-5)  # the error is clipped
  assert step(0.4, 0.0, scale=0.5) == 0.5  # no budget: rho as configured
  bound = divergence_budget.LOG_SCALE_BOUND
  np.testing.assert_allclose(step(0.4, 0.1, scale=bound), bound, rtol=1e-6)
  np.testing.assert_allclose(float(divergence_budget.rho(2.0, jnp.float32(np.log(3.0)))), 6.0,
                             rtol=1e-6)
  with pytest.raises(ConfigError, match='divergence_target'):
    validate(tiny_config('div', **{'agent.divergence_target': -0.1}))


def _setup(**overrides):
  config = tiny_config('div', **overrides)
  dataset, agent = run.prepare(config)
  batch = jax.tree.map(lambda x: x[:16], dataset)
  state = agent.start_decision_flow(agent.init(jax.random.PRNGKey(5)))
  return agent, state, batch


def _moved_policy(state):
  """u_theta a little away from u_nu, so that its path divergence is not 0."""
  leaves, tree = jax.tree.flatten(state.policy.params)
  keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
  moved = [leaf + 0.3 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys, strict=True)]
  return state.replace(policy=state.policy.replace(params=jax.tree.unflatten(tree, moved)))


def test_the_update_moves_rho_toward_the_budget_and_reports_it():
  agent, state, batch = _setup()
  moved = _moved_policy(state)
  update = jax.jit(lambda target, s: agent.with_hparams(
      {'divergence_target': target}).update_decision_flow(s, batch))
  # A budget far below the moved policy's divergence raises rho, one far above lowers it.
  tight, info = update(jnp.float32(1e-6), moved)
  loose, _ = update(jnp.float32(1e6), moved)
  np.testing.assert_allclose(float(tight.rho_log_scale), RATE, rtol=1e-5)
  np.testing.assert_allclose(float(loose.rho_log_scale), -RATE, rtol=1e-5)
  assert float(info['df/divergence']) > 0 and float(info['df/rho']) == 1.0  # rho before the step
  # The next update's flow reward uses the moved rho.
  _, info = update(jnp.float32(1e-6), tight)
  np.testing.assert_allclose(float(info['df/rho']), np.exp(RATE), rtol=1e-5)


def test_a_traced_zero_budget_trains_as_a_fixed_rho():
  agent, state, batch = _setup()
  plain, _ = jax.jit(agent.update_decision_flow)(state, batch)
  traced, _ = jax.jit(lambda t: agent.with_hparams({'divergence_target': t})
                      .update_decision_flow(state, batch))(jnp.float32(0.0))
  assert float(traced.rho_log_scale) == 0.0
  assert_trees_close(plain, traced, rtol=1e-5, atol=1e-7)  # two programs: float rounding


def test_only_div_has_a_budget():
  agent, state, batch = _setup(**{'agent.variant': 'dir', 'agent.divergence_target': 0.1})
  after, info = jax.jit(agent.update_decision_flow)(_moved_policy(state), batch)
  assert float(after.rho_log_scale) == 0.0 and 'df/rho' not in info
