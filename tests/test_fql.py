"""The FQL baseline's losses against closed-form cases."""
import jax
import jax.numpy as jnp
import numpy as np

from dflow_jax.agents import fql
from dflow_jax.agents.common import Appliers
from dflow_jax.config import AgentConfig
from dflow_jax.data import Transitions

W = jnp.array([0.8, -0.6])  # the linear critic Q(s, a) = W . a
CONTRACTION = 0.9 ** 10  # x_T of dx/dt = -x after 10 Euler steps of 0.1


def linear_velocity(params, s, x, t):
  return params['a'] * x + params['b']


def appliers():
  return Appliers(
      action_dim=2, velocity=linear_velocity,
      critic=lambda p, s, a: jnp.stack([a @ W, a @ W]), value=None, flow_value=None)


def batch_of(n=8):
  return Transitions(jnp.zeros((n, 1)), jnp.zeros((n, 2)), jnp.zeros(n), jnp.zeros((n, 1)),
                     jnp.zeros(n), jnp.zeros(n))


BEHAVIOR = {'a': jnp.array(-1.0), 'b': jnp.zeros(2)}  # x_T = 0.9^10 z: well inside the box


def loss_terms(policy, alpha):
  cfg = AgentConfig(variant='fql', flow_steps=10, alpha=alpha)
  return fql.policy_loss(cfg, appliers(), policy, BEHAVIOR, {}, batch_of(), jax.random.PRNGKey(0))


def test_distillation_is_zero_when_the_one_step_policy_equals_the_flow_on_the_same_noise():
  _, info = loss_terms({'a': jnp.array(CONTRACTION), 'b': jnp.zeros(2)}, alpha=1.0)
  assert float(info['policy/distill_loss']) < 1e-10
  _, info = loss_terms({'a': jnp.array(1.0), 'b': jnp.zeros(2)}, alpha=1.0)
  assert float(info['policy/distill_loss']) > 1e-2


def test_the_q_term_moves_the_actions_along_grad_a_q():
  policy = {'a': jnp.array(CONTRACTION), 'b': jnp.zeros(2)}
  grads = jax.grad(lambda p: loss_terms(p, alpha=0.0)[0])(policy)
  step = -grads['b']  # the bias shifts every action: its descent direction is the actions' own
  cosine = jnp.dot(step, W) / (jnp.linalg.norm(step) * jnp.linalg.norm(W))
  np.testing.assert_allclose(float(cosine), 1.0, atol=1e-5)


def test_the_critic_bootstraps_from_the_one_step_policys_next_action():
  cfg = AgentConfig(variant='fql', discount=0.5, q_agg='min')
  batch = batch_of().replace(rewards=jnp.ones(8))
  policy = {'a': jnp.array(0.0), 'b': jnp.array([0.5, 0.5])}  # mu(s', z') = (0.5, 0.5)
  critic = lambda p, s, a: jnp.stack([a @ W + p['c'], a @ W + p['c']])
  apply = appliers()._replace(critic=critic)
  loss, _ = fql.critic_loss(cfg, apply, {'c': jnp.array(0.0)}, {'c': jnp.array(0.0)}, policy,
                            batch, jax.random.PRNGKey(0))
  # target = 1 + 0.5 * W . (0.5, 0.5) = 1.05; Q(s, a = 0) = 0: two heads of (0 - 1.05)^2
  np.testing.assert_allclose(float(loss), 2 * 1.05 ** 2, rtol=1e-6)
