"""Flow states reversed from dataset actions: the backwards ODE and the flow-value targets on it."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dflow_jax import flow
from dflow_jax.agents import decision_flow
from dflow_jax.agents.registry import VARIANTS
from dflow_jax.runtime import run
from tests.conftest import tiny_config
from tests.test_train import assert_trees_close


@pytest.mark.parametrize('solver', flow.SOLVERS)
def test_backwards_integration_ends_at_the_given_point_in_forward_order(solver):
  end = jnp.array([[0.5, -0.25], [1.0, 0.0]])
  constant = lambda x, t: jnp.ones_like(x) * jnp.array([2.0, -1.0])
  traj = flow.integrate(constant, end, 4, solver, backwards=True)
  assert traj.xs.shape == (5, 2, 2) and traj.velocities.shape == (4, 2, 2)
  np.testing.assert_allclose(traj.xs[-1], end)
  np.testing.assert_allclose(traj.xs[0], end - jnp.array([2.0, -1.0]), rtol=1e-6)
  np.testing.assert_allclose(jnp.diff(traj.xs, axis=0), traj.velocities / 4, rtol=1e-5, atol=1e-7)
  # The time input steps down from 1: a field that reads t integrates to a known end.
  timed = lambda x, t: jnp.broadcast_to(t[..., None], x.shape)  # dx/dt = t: x(0) = x(1) - 1/2
  start = flow.integrate(timed, end, 400, solver, backwards=True).xs[0]
  np.testing.assert_allclose(start, end - 0.5, atol=2e-3)


def test_the_forward_flow_from_a_reversed_start_comes_back_to_the_end():
  field = lambda x, t: -x + jnp.sin(3 * t)[..., None]
  end = jax.random.normal(jax.random.PRNGKey(0), (8, 3))
  start = flow.integrate(field, end, 200, backwards=True).xs[0]
  np.testing.assert_allclose(flow.integrate(field, start, 200).xs[-1], end, atol=2e-2)


def _setup(variant, **overrides):
  config = tiny_config(variant, **overrides)
  dataset, agent = run.prepare(config)
  batch = jax.tree.map(lambda x: x[:16], dataset)
  state = agent.start_decision_flow(agent.init(jax.random.PRNGKey(2)))
  return agent, state, batch


def _params(state):
  return decision_flow.DFParams(
      policy=state.policy.params, behavior=state.behavior_ema, critic=state.critic.params,
      value=state.value.params, flow_value=state.flow_value.params,
      flow_value_target=state.flow_value_target)


@pytest.mark.parametrize('variant', ['dir', 'div'])
def test_reversed_targets_value_the_dataset_action_the_flow_leads_to(variant):
  agent, state, batch = _setup(variant)
  cfg, scale = agent.cfg, jnp.float32(0.7)
  steps = VARIANTS[variant].reversal_targets(cfg, agent.apply, _params(state), batch, scale,
                                         jax.random.PRNGKey(0))
  q = decision_flow.finished_value(cfg, agent.apply, state.critic.params, batch.observations,
                                   batch.actions)
  reward = (q - agent.value_net.apply(state.value.params, batch.observations)) / scale
  k = cfg.flow_steps
  assert steps.x.shape == (16 * k, agent.action_dim)
  if variant == 'dir':  # no flow reward: every state's target is the data action's R~
    np.testing.assert_allclose(steps.value_target, jnp.repeat(reward, k), rtol=1e-5)
  else:  # u_theta = u_nu at the start: no divergence to pay yet
    np.testing.assert_allclose(steps.value_target, jnp.repeat(reward, k), rtol=1e-5, atol=1e-6)
  # The last reversed state is one Euler step back from the dataset action, along u_theta at it.
  last = np.asarray(steps.tau) == k - 1
  velocity = agent.apply.velocity(state.policy.params, batch.observations, batch.actions,
                                  jnp.ones(16))
  np.testing.assert_allclose(steps.x[last], batch.actions - velocity / k, rtol=1e-5, atol=1e-6)


def test_reversal_trains_the_flow_value_and_a_traced_zero_weight_changes_nothing():
  agent, state, batch = _setup('div')
  plain, _ = jax.jit(agent.update_decision_flow)(state, batch)
  update = jax.jit(lambda w: agent.with_hparams({'flow_reversal': w})
                   .update_decision_flow(state, batch))
  zero, info = update(jnp.float32(0.0))
  assert_trees_close(plain, zero, rtol=1e-5, atol=1e-7)  # two programs: float rounding
  assert float(info['df/reversal_value_loss']) > 0
  weighted, _ = update(jnp.float32(1.0))
  moved = jax.tree.leaves(jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                                       weighted.flow_value.params, plain.flow_value.params))
  assert max(moved) > 1e-5
  assert not _setup('bc', **{'agent.flow_reversal': 1.0})[0].uses_flow_reversal
