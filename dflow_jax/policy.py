"""A trained run as a Python object: `dflow_jax.load(workdir)` restores it for a notebook or a
controller.

  import jax, dflow_jax
  policy = dflow_jax.load('runs/door')             # the latest checkpoint (or step=N)
  actions = policy.act(observations, jax.random.PRNGKey(0))          # every seed: [A, E, act_dim]
  actions = policy.act(observations, jax.random.PRNGKey(0), seed=2)  # one seed: [E, act_dim]

Observations are raw env observations ([E, obs_dim], or [A, E, obs_dim] one batch per agent);
the agent normalises them with the statistics its checkpoint holds, as in training. Before the
Decision Flow phase starts, a run acts with its behaviour flow, as its evaluations did.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dflow_jax import train


@dataclasses.dataclass(frozen=True)
class Policy:
  """A restored run: `act` samples its actions; `config`, `step` and `states` (every network of
  every agent, seed-stacked) are what the checkpoint holds."""
  agent: object
  states: train.AgentState
  config: object
  step: int
  behavior: bool  # acts with the behaviour flow u_nu (a checkpoint before Decision Flow starts)

  @property
  def num_agents(self) -> int:
    return int(np.shape(self.states.step)[0])

  @property
  def params(self):
    """The velocity field's weights it acts with, seed-stacked: u_theta's EMA (u_nu's EMA
    before Decision Flow starts). Every other network's are in `states`."""
    return self.states.behavior_ema if self.behavior else self.states.policy_ema

  def act(self, observations, key, seed: int | None = None):
    """Actions for raw observations, not clipped (a flow is unbounded; clip to the env's bounds).

    seed=None: every agent (each seed, each sweep setting) acts, [A, E, action_dim], each with
    its own key split from `key` (without a sweep, the keys the evaluator gives its seeds).
    seed=i: agent i alone, [E, action_dim], the actions it takes among all.
    """
    observations = jnp.asarray(observations, jnp.float32)
    if observations.ndim == 1:
      observations = observations[None]
    if observations.ndim == 2:
      observations = jnp.broadcast_to(observations, (self.num_agents,) + observations.shape)
    if seed is None:
      return train.act(self.agent, self.states, observations, key, self.behavior)
    if not 0 <= seed < self.num_agents:
      raise ValueError(f'seed {seed} is not one of the run\'s {self.num_agents} agents')
    one = jax.tree.map(lambda x: x[seed:seed + 1], self.states)
    return train.act(self.agent, one, observations[seed:seed + 1], key, self.behavior,
                     seed, self.num_agents)[0]


def load(workdir: str, step: int | None = None) -> Policy:
  """The run in `workdir` at checkpoint `step` (default: the latest).

  Raises ConfigError (a workdir that holds no run, a missing step) or DatasetError (a run whose
  agent's dimensions must come from a dataset that is not here).
  """
  from dflow_jax import data, evaluate
  from dflow_jax.reporting import evaluator
  from dflow_jax.runtime import run
  config = evaluate.load_config(workdir)
  recipe = None
  if config.dataset not in data.IN_MEMORY:
    recipe, _ = evaluator.eval_recipe(config.dataset, data.metadata(config.dataset)) \
        if data.is_local(config.dataset) else (None, None)
  # The agent's dimensions: from its eval env where there is one, else from the dataset.
  agent = evaluate.build_agent(config, recipe) if recipe else run.prepare(config)[1]
  step, states = evaluate.restore_states(workdir, config, agent, step)
  return Policy(agent, states, config, step, step < evaluator.decision_flow_start(config))
