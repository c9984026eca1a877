"""The critic's TD target with a share bootstrapped from the flow policy's own next action."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dflow_jax.agents import iql
from dflow_jax.config import ConfigError, validate
from dflow_jax.data import Transitions
from dflow_jax.runtime import run
from tests.conftest import tiny_config
from tests.test_train import assert_trees_close

REWARD, DISCOUNT, NEXT_V, NEXT_POLICY_Q, Q_NOW = 1.0, 0.5, 2.0, 6.0, 0.0


def _critic_loss(beta, terminal=0.0, policy_next_q=NEXT_POLICY_Q):
  n = 4
  batch = Transitions(jnp.zeros((n, 1)), jnp.zeros((n, 2)), jnp.full(n, REWARD),
                      jnp.zeros((n, 1)), jnp.full(n, terminal), jnp.zeros(n))
  critic = lambda p, s, a: jnp.full((2,) + a.shape[:-1], p['q'])
  value = lambda p, s: jnp.full(s.shape[:-1], NEXT_V)
  next_q = None if policy_next_q is None else jnp.full(n, policy_next_q)
  loss, _ = iql.critic_loss(critic, value, {'q': jnp.array(Q_NOW)}, {}, batch, DISCOUNT,
                            next_q, beta)
  return float(loss)


@pytest.mark.parametrize('beta', [0.0, 0.25, 1.0])
def test_the_target_mixes_iqls_next_value_with_the_policys_next_q(beta):
  target = REWARD + DISCOUNT * ((1 - beta) * NEXT_V + beta * NEXT_POLICY_Q)
  np.testing.assert_allclose(_critic_loss(beta), 2 * (target - Q_NOW) ** 2, rtol=1e-6)


def test_iqls_target_needs_no_policy_and_a_terminal_step_bootstraps_from_nothing():
  iql_target = REWARD + DISCOUNT * NEXT_V
  np.testing.assert_allclose(_critic_loss(0.0, policy_next_q=None), 2 * iql_target ** 2,
                             rtol=1e-6)
  np.testing.assert_allclose(_critic_loss(1.0, terminal=1.0), 2 * REWARD ** 2, rtol=1e-6)


def _agent(variant, **overrides):
  _, agent = run.prepare(tiny_config(variant, **overrides))
  return agent


def test_only_the_flow_policies_improved_against_the_critic_bootstrap_from_it():
  assert not _agent('div').bootstraps_from_policy  # the default, 0: IQL alone
  for variant in ('dir', 'div', 'bptt'):
    assert _agent(variant, **{'agent.policy_bootstrap': 1.0}).bootstraps_from_policy
  for variant in ('bc', 'fql'):  # bc has no improved policy; fql has its own TD critic
    assert not _agent(variant, **{'agent.policy_bootstrap': 1.0}).bootstraps_from_policy
  # A swept (traced) value may be 0 or not: its program reads the policy's next actions.
  traced = _agent('div').with_hparams({'policy_bootstrap': jnp.float32(0.0)})
  assert traced.bootstraps_from_policy
  with pytest.raises(ConfigError, match='policy_bootstrap'):
    validate(tiny_config('div', **{'agent.policy_bootstrap': 1.5}))


def _one_update(agent, batch, beta=None):
  """One Decision Flow update from a fresh state; `beta` given: as a traced per-agent value."""
  state = agent.start_decision_flow(agent.init(jax.random.PRNGKey(3)))
  if beta is None:
    return jax.jit(agent.update_decision_flow)(state, batch)
  update = lambda b: agent.with_hparams({'policy_bootstrap': b}).update_decision_flow(state, batch)
  return jax.jit(update)(jnp.float32(beta))


# dir shares div's critic step; bptt's own update reads it too (slow)
@pytest.mark.parametrize('variant', ['div', pytest.param('bptt', marks=pytest.mark.slow)])
def test_a_zero_share_in_the_program_trains_as_iql_and_a_full_share_changes_the_critic(variant):
  """With beta traced at 0 the program draws the policy's next actions but weighs them by 0:
  every parameter ends as IQL's update leaves it, so the draws took no noise from any other
  step of the update. beta = 1 gives the critic another target (its loss reads it; Adam's
  first step is about the learning rate times the gradient's sign, so the weights show it less).
  """
  dataset, _ = run.prepare(tiny_config(variant))
  batch = jax.tree.map(lambda x: x[:16], dataset)
  batch = batch.replace(terminals=jnp.zeros_like(batch.terminals))  # the target reads s'
  plain = _agent(variant)
  iql_only, iql_info = _one_update(plain, batch)
  zero, _ = _one_update(plain, batch, beta=0.0)
  assert_trees_close(zero, iql_only, rtol=1e-6, atol=1e-7)
  full, full_info = _one_update(plain, batch, beta=1.0)  # the same compiled program
  q_loss = float(iql_info['critic/q_loss'])
  assert abs(float(full_info['critic/q_loss']) - q_loss) > 1e-3 * q_loss
  assert_trees_close(full.value.params, iql_only.value.params, rtol=1e-6, atol=1e-7)
