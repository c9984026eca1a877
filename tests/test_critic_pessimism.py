"""agent.critic_pessimism: the critic's gap between the policy's actions and the data's."""
import jax
import jax.numpy as jnp
import numpy as np

from dflow_jax.agents import iql
from dflow_jax.runtime import run
from tests.conftest import tiny_config
from tests.test_train import assert_trees_close


def _setup(variant='div', **overrides):
  config = tiny_config(variant, **overrides)
  dataset, agent = run.prepare(config)
  batch = jax.tree.map(lambda x: x[:32], dataset)
  state = agent.start_decision_flow(agent.init(jax.random.PRNGKey(2)))
  return agent, state, batch


def test_the_gap_term_in_closed_form():
  agent, state, batch = _setup()
  loss = lambda actions, w: iql.critic_loss(  # noqa: E731
      agent.critic_net.apply, agent.value_net.apply, state.critic.params, state.value.params,
      batch, 0.99, None, 0.0, actions, w)
  plain, _ = iql.critic_loss(agent.critic_net.apply, agent.value_net.apply, state.critic.params,
                             state.value.params, batch, 0.99)
  # The policy acting as the data: no gap, the plain loss.
  same, info = loss(batch.actions, 3.0)
  np.testing.assert_allclose(same, plain, rtol=1e-6)
  assert float(info['critic/policy_gap']) == 0.0
  other = jnp.clip(batch.actions + 0.5, -1.0, 1.0)
  weighted, info = loss(other, 3.0)
  q_other = agent.critic_net.apply(state.critic.params, batch.observations, other)
  q_data = agent.critic_net.apply(state.critic.params, batch.observations, batch.actions)
  gap = float(jnp.mean(jnp.sum(q_other - q_data, axis=0)))
  sigma = float(jnp.mean(jnp.abs(jnp.mean(q_data, axis=0) - agent.value_net.apply(
      state.value.params, batch.observations))))
  np.testing.assert_allclose(info['critic/advantage_scale'], sigma, rtol=1e-5)
  np.testing.assert_allclose(weighted, plain + 3.0 * sigma * gap, rtol=1e-5)
  np.testing.assert_allclose(info['critic/policy_gap'], gap / q_data.shape[0], rtol=1e-5)


def test_pessimism_lowers_q_on_the_policys_actions_and_a_traced_zero_changes_nothing():
  agent, state, batch = _setup(**{'agent.learning_rate': 3e-3,  # Adam: a step of about lr
                                  'agent.critic_pessimism': 0.0})
  plain, _ = jax.jit(agent.update_decision_flow)(state, batch)
  update = jax.jit(lambda w, s: agent.with_hparams({'critic_pessimism': w})
                   .update_decision_flow(s, batch))
  zero, info = update(jnp.float32(0.0), state)
  assert_trees_close(plain, zero, rtol=1e-5, atol=1e-7)  # two programs: float rounding
  assert 'critic/policy_gap' in info
  # Moved off the data (the policy's weights perturbed), the policy's actions meet a critic
  # that, trained with the gap, values them below what the plain critic does.
  leaves, tree = jax.tree.flatten(state.policy.params)
  keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
  moved = [leaf + 0.3 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys,
                                                                           strict=True)]
  away = state.replace(policy=state.policy.replace(params=jax.tree.unflatten(tree, moved)))
  gaps = {}
  for weight in (0.0, 10.0):
    s = away
    for _ in range(40):
      s, info = update(jnp.float32(weight), s)
    gaps[weight] = float(info['critic/policy_gap'])
  assert gaps[10.0] < gaps[0.0] - 1.0, gaps
  assert not _setup('bc', **{'agent.critic_pessimism': 1.0})[0].uses_critic_pessimism
  assert not _setup('fql', **{'agent.critic_pessimism': 1.0})[0].uses_critic_pessimism
  assert _setup('div')[0].uses_critic_pessimism  # on by default (3)
