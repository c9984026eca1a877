"""Flow matching, the ODE solvers and sampling, on cases with known answers."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dflow_jax import flow


def test_euler_integrates_a_constant_field_exactly():
  x0 = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
  c = jnp.array([0.3, -1.2, 2.0])
  traj = flow.integrate(lambda x, t: jnp.broadcast_to(c, x.shape), x0, 7, 'euler')
  chex.assert_shape(traj.xs, (8, 5, 3))
  chex.assert_shape(traj.velocities, (7, 5, 3))
  np.testing.assert_allclose(traj.xs[-1], x0 + c, atol=1e-6)
  np.testing.assert_allclose(traj.xs[3], x0 + 3 / 7 * c, atol=1e-6)


def linear_in_t(x, t):
  """dx/dt = a + b t, so x(1) = x(0) + a + b / 2."""
  return jnp.broadcast_to(1.0 + 4.0 * t[..., None], x.shape)


def test_midpoint_integrates_a_field_linear_in_t_exactly():
  x0 = jnp.zeros((4, 2))
  traj = flow.integrate(linear_in_t, x0, 5, 'midpoint')
  np.testing.assert_allclose(traj.xs[-1], 3.0, atol=1e-5)


def test_euler_is_not_exact_on_a_field_linear_in_t():
  """The midpoint test can fail: Euler's known error on the same field is dt * b / 2."""
  traj = flow.integrate(linear_in_t, jnp.zeros((1, 1)), 5, 'euler')
  np.testing.assert_allclose(traj.xs[-1], 3.0 - 0.2 * 4.0 / 2, atol=1e-5)


@pytest.mark.parametrize('solver, tol', [('euler', 0.2), ('midpoint', 1e-2), ('rk4', 1e-5)])
def test_solvers_converge_on_exponential_growth(solver, tol):
  traj = flow.integrate(lambda x, t: x, jnp.ones((1, 1)), 10, solver)
  assert abs(float(traj.xs[-1, 0, 0]) - np.e) < tol


def test_flow_matching_loss_vanishes_for_the_exact_field_of_a_point_mass():
  action = jnp.array([[0.5, -0.25]])
  exact = lambda s, x, t: (action - x) / (1.0 - t[..., None])
  states = jnp.zeros((256, 1))
  actions = jnp.broadcast_to(action, (256, 2))
  loss = flow.flow_matching_loss(exact, jax.random.PRNGKey(0), states, actions)
  zero = flow.flow_matching_loss(lambda s, x, t: jnp.zeros_like(x), jax.random.PRNGKey(0),
                                 states, actions)
  assert float(loss) < 1e-6
  assert float(zero) > 1.0


def test_linear_path_interpolates_noise_and_action():
  x, target = flow.linear_path(jnp.zeros((2, 2)), jnp.ones((2, 2)), jnp.array([0.25, 1.0]))
  np.testing.assert_allclose(x, [[0.25, 0.25], [1.0, 1.0]])
  np.testing.assert_allclose(target, 1.0)


def test_sample_is_clipped_to_the_action_box():
  actions = flow.sample(lambda x, t: 10.0 * jnp.ones_like(x), jax.random.PRNGKey(1), (64,), 3, 4)
  chex.assert_shape(actions, (64, 3))
  assert float(jnp.max(jnp.abs(actions))) <= 1.0
  np.testing.assert_allclose(actions, 1.0)
