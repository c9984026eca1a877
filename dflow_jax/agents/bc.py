"""`bc`: the behaviour flow alone. Its second phase is more flow-matching updates (with the
critic beside them, as in pre-training), so it has as many updates as every other variant."""
from dflow_jax.agents.variant import Variant


class BehaviorCloning(Variant):

  def warm_up(self, agent, state, batch):
    return agent.update_behavior(state, batch)

  def update(self, agent, state, batch):
    return agent.update_behavior(state, batch)

  def acting_params(self, state):
    return state.behavior_ema


VARIANT = BehaviorCloning()
