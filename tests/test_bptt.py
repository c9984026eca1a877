"""The bptt baseline: its gradient really runs through the whole ODE."""
import jax
import jax.numpy as jnp
import numpy as np

from dflow_jax.agents import bptt
from dflow_jax.agents.common import Appliers
from dflow_jax.config import AgentConfig
from dflow_jax.data import Transitions
from dflow_jax.networks import VelocityField


def _velocity_and_params(dtype):
  net = VelocityField((8, 8), 2, 'gelu', 'fourier', 4, matmul_dtype=jnp.dtype(dtype).name)
  s, x, t = jnp.zeros((1, 3), dtype), jnp.zeros((1, 2), dtype), jnp.zeros((1,), dtype)
  params = net.init(jax.random.PRNGKey(0), s, x, t)
  return net, jax.tree.map(lambda p: p.astype(dtype), params)


def test_the_gradient_through_the_scan_matches_finite_differences():
  with jax.enable_x64(True):
    net, params = _velocity_and_params(jnp.float64)
    apply = Appliers(action_dim=2, velocity=net.apply, critic=None, value=None,
                                   flow_value=None)
    cfg = AgentConfig(variant='bptt', flow_steps=5)
    s = jax.random.normal(jax.random.PRNGKey(1), (4, 3), jnp.float64)
    w = jnp.array([0.7, -1.3])

    def f(p):  # a scalar of the finished actions only: the gradient must cross all T steps
      x_final = bptt.finished_action(cfg, apply, p, s, jax.random.PRNGKey(2))
      return jnp.sum(jnp.tanh(x_final @ w))

    direction = jax.tree.map(
        lambda p: jax.random.normal(jax.random.PRNGKey(3), p.shape, jnp.float64), params)
    analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(jax.grad(f)(params)),
                                                 jax.tree.leaves(direction), strict=True))
    eps = 1e-3  # the network returns float32, so a larger step keeps rounding below 1e-4
    shifted = lambda sign: jax.tree.map(lambda p, d: p + sign * eps * d, params, direction)
    numeric = (f(shifted(1.0)) - f(shifted(-1.0))) / (2 * eps)
    assert abs(float(analytic)) > 1e-3  # a real, non-vanishing signal
    np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-3)


def test_rematerialising_the_steps_changes_no_gradient():
  net, params = _velocity_and_params(jnp.float32)
  apply = Appliers(action_dim=2, velocity=net.apply, critic=None, value=None,
                                 flow_value=None)
  s = jax.random.normal(jax.random.PRNGKey(1), (4, 3))

  def grad(remat):
    cfg = AgentConfig(variant='bptt', flow_steps=5, bptt_remat=remat)
    return jax.grad(lambda p: jnp.sum(bptt.finished_action(cfg, apply, p, s,
                                                           jax.random.PRNGKey(2)) ** 2))(params)
  stored, recomputed = grad(False), grad(True)
  assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(stored)) > 1e-3
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), stored,
               recomputed)


def test_the_value_term_pushes_the_finished_action_up_the_critic():
  """One gradient step on the value term alone raises the critic's value of x_T."""
  net, params = _velocity_and_params(jnp.float32)
  target = jnp.array([0.5, -0.5])
  apply = Appliers(
      action_dim=2, velocity=net.apply,
      critic=lambda p, s, a: jnp.stack([-jnp.sum((a - target) ** 2, -1)] * 2),
      value=lambda p, s: jnp.zeros(s.shape[:-1]), flow_value=None)
  cfg = AgentConfig(variant='bptt', flow_steps=5, lambda_dir=0.0, alpha=1.0)
  s = jax.random.normal(jax.random.PRNGKey(1), (64, 3))
  batch = _batch(s)
  keys = jax.random.PRNGKey(4), jax.random.PRNGKey(5)
  loss = lambda p: bptt.policy_loss(cfg, apply, p, {}, {}, batch, *keys)[0]
  moved = jax.tree.map(lambda p, g: p - 0.05 * g, params, jax.grad(loss)(params))
  # The loss itself is scale-normalised (always -1 here); the critic's value is what must rise.
  value = lambda p: float(jnp.mean(apply.critic(
      None, s, jnp.clip(bptt.finished_action(cfg, apply, p, s, keys[0]), -1, 1))[0]))
  assert value(moved) > value(params) + 1e-3, (value(moved), value(params))


def _batch(s):
  n = s.shape[0]
  return Transitions(s, jnp.zeros((n, 2)), jnp.zeros(n), s, jnp.ones(n), jnp.zeros(n))
