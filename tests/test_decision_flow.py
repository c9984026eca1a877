"""The Decision Flow losses against closed-form cases."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dflow_jax.agents import decision_flow
from dflow_jax.agents.common import Appliers
from dflow_jax.agents.registry import VARIANTS
from dflow_jax.config import VARIANTS as config_variants
from dflow_jax.config import AgentConfig
from dflow_jax.data import Transitions

T = 5
W = jnp.array([3.0, -1.0, 2.0])  # the linear flow value V(x) = W . x


def constant_velocity(params, s, x, t):
  return jnp.broadcast_to(params['u'], x.shape)


def appliers(critic_value=2.0, state_value=1.0):
  return Appliers(
      action_dim=3, velocity=constant_velocity,
      critic=lambda p, s, a: jnp.full((2,) + a.shape[:-1], critic_value),
      value=lambda p, s: jnp.full(s.shape[:-1], state_value),
      flow_value=lambda p, s, x, t: x @ W)


def df_params(**params):
  fields = {name: {} for name in decision_flow.DFParams._fields}
  return decision_flow.DFParams(**{**fields, **params})


def flow_steps_at(tau, batch=4):
  return decision_flow.FlowSteps(
      observations=jnp.zeros((batch, 1)),
      x=jnp.ones((batch, 3)) * 0.1, tau=jnp.full((batch,), tau),
      value_target=jnp.zeros(batch), baseline=jnp.zeros(batch),
      behavior_velocity=jnp.zeros((batch, 3)))


def batch_of(n=4):
  return Transitions(jnp.zeros((n, 1)), jnp.zeros((n, 3)), jnp.zeros(n), jnp.zeros((n, 1)),
                     jnp.ones(n), jnp.zeros(n))


def dir_value_gradient(u, **cfg_changes):
  """Gradient of the DF-dir policy loss (value term only: lambda_dir = 0) w.r.t. the velocity."""
  cfg = AgentConfig(variant='dir', flow_steps=T, alpha=1.0, lambda_dir=0.0, **cfg_changes)
  loss = lambda p: VARIANTS['dir'].policy_loss(cfg, appliers(), p, df_params(), batch_of(),
                                               flow_steps_at(1), 1.0, jax.random.PRNGKey(0))[0]
  return jax.grad(loss)({'u': u})['u']


def test_lemma_4_2_direction_gradient_vanishes_iff_aligned_with_the_value_gradient():
  aligned = dir_value_gradient(2.5 * W / jnp.linalg.norm(W))
  assert float(jnp.linalg.norm(aligned)) < 1e-5
  for u in (jnp.array([1.0, 0.0, 0.0]), -W, jnp.array([0.3, 2.0, -1.0])):
    g = dir_value_gradient(u)
    # not aligned: a clearly non-zero gradient, tangent to the sphere (the magnitude is fixed)
    if float(jnp.abs(jnp.dot(u, W)) / (jnp.linalg.norm(u) * jnp.linalg.norm(W))) < 0.999:
      assert float(jnp.linalg.norm(g)) > 1e-2
    assert abs(float(jnp.dot(g, u))) < 1e-5


def test_lemma_4_2_gradient_matches_the_projected_value_gradient():
  """d/du of -V(x + dt |u|_sg u/|u|) is -dt (I - d d^T) W (for |u| = 1)."""
  u = jnp.array([0.6, 0.8, 0.0])
  d = u / jnp.linalg.norm(u)
  expected = -(1.0 / T) * (W - d * jnp.dot(d, W))
  np.testing.assert_allclose(dir_value_gradient(u), expected, atol=1e-5)


def test_choose_steps_draws_distinct_steps_uniformly():
  steps = decision_flow.choose_steps(jax.random.PRNGKey(0), 4000, 10, 3)
  assert steps.shape == (4000, 3)
  assert all(len(set(row)) == 3 for row in np.asarray(steps[:100]))
  counts = np.bincount(np.asarray(steps).ravel(), minlength=10) / steps.size
  np.testing.assert_allclose(counts, 0.1, atol=0.01)
  full = decision_flow.choose_steps(jax.random.PRNGKey(0), 2, 10, 10)
  np.testing.assert_array_equal(full, np.tile(np.arange(10), (2, 1)))


def prepared(variant, critic_value=2.0, **cfg_changes):
  """The variant's targets with a policy velocity of 1s, a behaviour velocity of 0s, Q = 2
  and V_psi = 1."""
  cfg = AgentConfig(variant=variant, flow_steps=T, rho=0.5, **cfg_changes)
  params = df_params(policy={'u': jnp.ones(3)}, behavior={'u': jnp.zeros(3)})
  return VARIANTS[variant].targets(cfg, appliers(critic_value), params, batch_of(2),
                                   jax.random.PRNGKey(0))


def test_div_monte_carlo_target_is_the_remaining_divergence_penalty_plus_final_value():
  steps, sigma, _ = prepared('div')
  assert float(sigma) == pytest.approx(1.0)  # mean |Q - V_psi| = |2 - 1|
  reward = 1.0
  per_step_penalty = 0.5 * 0.5 / T * 3.0  # rho * dt / 2 * |1 - 0|^2 summed over 3 dims
  expected = reward - per_step_penalty * (T - np.asarray(steps.tau))  # + (R - b) / sigma
  np.testing.assert_allclose(steps.value_target, expected, atol=1e-6)


def test_advantage_scale_ignores_a_constant_reward_offset():
  """Q and V_psi both shift with a reward offset; (Q - V) / mean |Q - V| does not:
  A = (-1.5, 0.5, -0.5) and mean |A| = 5/6 either way."""
  cfg = AgentConfig(variant='dir', flow_steps=T)
  R = jnp.array([3.0, 5.0, 4.0])
  for offset in (0.0, 100.0):
    app = appliers(state_value=offset + 4.5)
    baseline, scale = decision_flow.normalizer(cfg, app, {}, jnp.zeros((3, 1)), R + offset)
    np.testing.assert_allclose((R + offset - baseline) / scale, [-1.8, 0.6, -0.6], atol=1e-4)


def test_dir_target_is_the_finished_actions_value_at_every_step():
  steps, _, _ = prepared('dir')
  np.testing.assert_allclose(steps.value_target, 1.0, rtol=1e-5)  # (Q - V_psi) / mean |Q - V_psi|

def div_value_gradient(u, rho, tau=1):
  """Gradient of the DF-div policy loss (flow Q only: lambda_div = 0) w.r.t. the velocity, with
  u_nu = 0 and the linear flow value V^chi(x) = W . x."""
  cfg = AgentConfig(variant='div', flow_steps=T, rho=rho, lambda_div=0.0)
  loss = lambda p: VARIANTS['div'].policy_loss(cfg, appliers(), p, df_params(), batch_of(),
                                               flow_steps_at(tau), 1.0, jax.random.PRNGKey(0))[0]
  return jax.grad(loss)({'u': u})['u']


def test_div_policy_gradient_is_the_closed_form_flow_q_gradient():
  """-d/du [-rho dt/2 |u - u_nu|^2 + W . (x + dt u)] = dt (rho (u - u_nu) - W): zero exactly at
  u = u_nu + W / rho, the KL-regularised optimum of one flow step."""
  dt = 1.0 / T
  for rho in (0.5, 2.0):
    u = jnp.array([0.3, -0.7, 1.1])
    np.testing.assert_allclose(div_value_gradient(u, rho), dt * (rho * u - W), atol=1e-5)
    optimum = div_value_gradient(W / rho, rho)
    assert float(jnp.linalg.norm(optimum)) < 1e-5


def test_step_divergence_is_the_one_divergence_everywhere():
  u, u_nu = jnp.array([[1.0, 2.0, 0.0]]), jnp.zeros((1, 3))
  np.testing.assert_allclose(decision_flow.step_divergence(u, u_nu, 0.1), [0.25])
  steps, _, metrics = prepared('div')
  # u_theta = 1s, u_nu = 0s on every step: the path divergence is T * dt / 2 * 3 = 1.5
  assert float(metrics['df/divergence']) == pytest.approx(1.5)


def test_every_configured_variant_has_its_file_in_the_registry():
  assert tuple(VARIANTS) == config_variants
  assert {type(VARIANTS[v]).__module__.rsplit('.', 1)[1] for v in VARIANTS} == set(VARIANTS)
