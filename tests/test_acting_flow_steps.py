"""agent.acting_flow_steps: the ODE's steps when acting, which no training update reads."""
import jax
import numpy as np

from dflow_jax.runtime import run
from tests.conftest import tiny_config
from tests.test_train import assert_trees_close


def _agent_and_state(**overrides):
  config = tiny_config('div', **overrides)
  dataset, agent = run.prepare(config)
  state = agent.start_decision_flow(agent.init(jax.random.PRNGKey(2)))
  return agent, state, jax.tree.map(lambda x: x[:32], dataset)


def test_acting_steps_change_the_actions_and_not_the_update():
  trained_with_3, state, batch = _agent_and_state(**{'agent.flow_steps': 3})
  acting_in_1, _, _ = _agent_and_state(**{'agent.flow_steps': 3, 'agent.acting_flow_steps': 1})
  one_step_flow, _, _ = _agent_and_state(**{'agent.flow_steps': 1})
  obs, key = batch.observations, jax.random.PRNGKey(5)
  acted = lambda agent: np.asarray(agent.sample_actions(state, obs, key))  # noqa: E731
  # Acting in 1 step is the 1-step flow's acting, and not the 3-step one's.
  np.testing.assert_allclose(acted(acting_in_1), acted(one_step_flow), rtol=1e-6)
  assert not np.allclose(acted(acting_in_1), acted(trained_with_3), atol=1e-3)
  # The behaviour flow acts the same way (pre-training's evaluations).
  behaviour = lambda agent: agent.sample_actions(state, obs, key, behavior=True)  # noqa: E731
  np.testing.assert_allclose(behaviour(acting_in_1), behaviour(one_step_flow), rtol=1e-6)
  # A Decision Flow update rolls the policy out with T = 3 either way.
  assert_trees_close(jax.jit(trained_with_3.update_decision_flow)(state, batch)[0],
                     jax.jit(acting_in_1.update_decision_flow)(state, batch)[0],
                     rtol=1e-5, atol=1e-7)
