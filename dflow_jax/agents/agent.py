"""One seed's agent: its state, the IQL critic, the behaviour flow, and acting.

The second phase's policy update is the variant's (agents/registry.py: one file per variant).
Everything here is written for a single seed; train.py vmaps it over seeds.
"""
import copy
import dataclasses
import numbers

import flax.struct
import jax
import jax.numpy as jnp
import optax

from dflow_jax import flow
from dflow_jax.agents import behavior, decision_flow, iql
from dflow_jax.agents.common import Appliers, TrainedNet, ema, minimize, new_net, polyak
from dflow_jax.agents.registry import VARIANTS
from dflow_jax.config import AgentConfig
from dflow_jax.data.normalization import ObservationStats, identity
from dflow_jax.networks import CriticEnsemble, FlowValue, ValueNet, VelocityField


class AgentState(flax.struct.PyTreeNode):
  step: jax.Array  # updates done, both phases together
  rng: jax.Array
  observation_stats: ObservationStats  # from the dataset; applied to every observation seen
  behavior: TrainedNet  # u_nu while it trains
  behavior_ema: dict  # the EMA of u_nu's params: the behaviour flow everything else uses
  policy: TrainedNet  # u_theta (a copy of u_nu until Decision Flow starts)
  policy_ema: dict  # the EMA of u_theta's params: the weights Decision Flow acts with
  policy_updates: jax.Array  # Decision Flow policy updates so far (the EMA's ramp reads it)
  critic: TrainedNet
  critic_target: dict
  value: TrainedNet
  flow_value: TrainedNet  # V^f (DF-dir) or V^chi (DF-div)
  flow_value_target: dict
  rho_log_scale: jax.Array  # DF-div: rho = cfg.rho * exp(this), moved by the divergence budget


class Agent:
  """Static wiring of networks and optimisers for one config; all methods are pure."""

  def __init__(self, cfg: AgentConfig, observation_dim: int, action_dim: int,
               observation_stats: ObservationStats | None = None, seeds_per_vmap: int = 0):
    self.cfg = cfg
    # How train.over_seeds batches this agent's seeds (train.seeds_per_vmap): it changes the
    # compiled program, not what a seed computes.
    self.seeds_per_vmap = seeds_per_vmap
    self.variant = VARIANTS[cfg.variant]
    self.observation_dim = observation_dim
    self.action_dim = action_dim
    # Only `init` reads these; afterwards the copy in the (checkpointed) state is the one used.
    self.observation_stats = observation_stats or identity(observation_dim)
    dtype = cfg.matmul_dtype
    self.velocity_net = VelocityField(cfg.velocity_hidden, action_dim,
                                      time_embedding=cfg.time_embedding, matmul_dtype=dtype)
    self.critic_net = CriticEnsemble(cfg.critic_hidden, 2, matmul_dtype=dtype)
    self.value_net = ValueNet(cfg.critic_hidden, matmul_dtype=dtype)
    self.flow_value_net = FlowValue(cfg.critic_hidden, time_embedding=cfg.time_embedding,
                                    matmul_dtype=dtype)
    self.optimizer = optax.adam(cfg.learning_rate)
    self.apply = Appliers(
        action_dim=action_dim, velocity=self.velocity_net.apply, critic=self.critic_net.apply,
        value=self.value_net.apply, flow_value=self.flow_value_net.apply)

  # Equal configs, dims and seed batching give identical programs (the observation statistics
  # are read from the state, not from here), so jit caches keyed on the agent are shared.
  def _identity(self):
    return (self.cfg, self.observation_dim, self.action_dim, self.seeds_per_vmap)

  def __eq__(self, other):
    return isinstance(other, Agent) and self._identity() == other._identity()

  def __hash__(self):
    return hash(self._identity())

  def with_hparams(self, hparams: dict | None) -> 'Agent':
    """This agent with some hyper-parameters read from `hparams` ({config key: traced scalar},
    a sweep's per-agent values) instead of the config's constants. Only keys that no shape or
    branch depends on may be given (config.SWEEPABLE); the learning rate reaches the optimiser,
    whose state has the same structure for any value."""
    if not hparams:
      return self
    bound = copy.copy(self)
    bound.cfg = dataclasses.replace(self.cfg, **hparams)
    bound.optimizer = optax.adam(bound.cfg.learning_rate)
    return bound

  def init(self, key) -> AgentState:
    keys = jax.random.split(key, 5)
    s = jnp.zeros((1, self.observation_dim))
    a = jnp.zeros((1, self.action_dim))
    t = jnp.zeros((1,))
    velocity = self.velocity_net.init(keys[0], s, a, t)
    critic = self.critic_net.init(keys[1], s, a)
    flow_value = self.flow_value_net.init(keys[3], s, a, t)
    return AgentState(
        step=jnp.zeros((), jnp.int32), rng=keys[4], observation_stats=self.observation_stats,
        behavior=new_net(velocity, self.optimizer), behavior_ema=velocity,
        policy=new_net(velocity, self.optimizer), policy_ema=velocity,
        policy_updates=jnp.zeros((), jnp.int32),
        critic=new_net(critic, self.optimizer), critic_target=critic,
        value=new_net(self.value_net.init(keys[2], s), self.optimizer),
        flow_value=new_net(flow_value, self.optimizer), flow_value_target=flow_value,
        rho_log_scale=jnp.zeros((), jnp.float32))

  @staticmethod
  def normalized(state: AgentState, batch):
    stats = state.observation_stats
    return batch.replace(observations=stats.normalize(batch.observations),
                         next_observations=stats.normalize(batch.next_observations))

  # ---- the ordinary critic (both phases) ----

  @property
  def bootstraps_from_policy(self) -> bool:
    """Whether the critic's TD target reads the flow policy's next actions: on for the flow
    policies improved against the critic, unless `policy_bootstrap` is a constant 0 (a swept
    value is traced, so its program computes them for every setting)."""
    beta = self.cfg.policy_bootstrap
    static_zero = isinstance(beta, numbers.Number) and beta == 0
    return self.variant.improves_against_critic and not static_zero

  @property
  def uses_critic_pessimism(self) -> bool:
    """Whether the critic's loss reads the policy's actions at s (iql.critic_loss's gap): for the
    flow policies improved against the critic, unless `critic_pessimism` is a constant 0."""
    weight = self.cfg.critic_pessimism
    return self.variant.improves_against_critic and not (
        isinstance(weight, numbers.Number) and weight == 0)

  @property
  def uses_flow_reversal(self) -> bool:
    """Whether the flow value also regresses on flows reversed from dataset actions: unless
    `flow_reversal` is a constant 0 (a swept value is traced: computed for every setting)."""
    weight = self.cfg.flow_reversal
    return self.variant.has_flow_value and not (
        isinstance(weight, numbers.Number) and weight == 0)

  def _policy_next_q(self, state: AgentState, batch, key):
    """Q_target(s', a'), a' = clip(x_T) of one rollout of the current u_theta at s' (stop-gradient
    throughout: it is part of a TD target)."""
    next_actions = decision_flow.rollout(self.cfg, self.apply, state.policy.params,
                                         batch.next_observations, key).xs[-1]
    return decision_flow.finished_value(self.cfg, self.apply, state.critic_target,
                                        batch.next_observations, next_actions)

  def update_critic(self, state: AgentState, batch, rollout_key=None):
    """IQL's value and critic steps (batch already normalised); with the update's `rollout_key`,
    the critic's target also reads the current policy's next actions (`bootstraps_from_policy`)
    and its loss the gap between the policy's actions at s and the data's
    (`uses_critic_pessimism`; iql.critic_loss), each from a noise stream of its own."""
    cfg = self.cfg
    policy_key = None if rollout_key is None else _next_action_key(rollout_key)
    value, value_info = minimize(
        lambda p: iql.value_loss(self.value_net.apply, self.critic_net.apply, p,
                                 state.critic_target, batch, cfg.expectile, cfg.q_agg),
        state.value, self.optimizer)
    policy_next_q = policy_actions = None
    if policy_key is not None and self.bootstraps_from_policy:
      policy_next_q = self._policy_next_q(state, batch, policy_key)
    if policy_key is not None and self.uses_critic_pessimism:
      policy_actions = jnp.clip(decision_flow.rollout(
          cfg, self.apply, state.policy.params, batch.observations,
          _pessimism_key(policy_key)).xs[-1], -1.0, 1.0)
    critic, critic_info = minimize(
        lambda p: iql.critic_loss(self.critic_net.apply, self.value_net.apply, p,
                                  value.params, batch, cfg.discount, policy_next_q,
                                  cfg.policy_bootstrap, policy_actions, cfg.critic_pessimism),
        state.critic, self.optimizer)
    state = state.replace(value=value, critic=critic,
                          critic_target=polyak(state.critic_target, critic.params, cfg.tau))
    return state, {**value_info, **critic_info}

  # ---- pre-training: critic alone, then behaviour flow + critic ----

  def update_critic_only(self, state: AgentState, batch):
    """IQL alone: needs no flow rollout, so it costs a fraction of the other updates."""
    state, info = self.update_critic(state, self.normalized(state, batch))
    return state.replace(step=state.step + 1), info

  def update_behavior_flow(self, state: AgentState, batch, key):
    """One flow-matching step of u_nu and its weight EMA (batch already normalised)."""
    behavior_net, info = minimize(
        lambda p: behavior.behavior_loss(self.velocity_net.apply, p, key, batch),
        state.behavior, self.optimizer)
    # Averaging the weights damps the step-to-step wobble of the basin boundaries that decide
    # how much mass each mode gets (measured: per-mode mass then moves by about 0.03).
    average = ema(state.behavior_ema, behavior_net.params, self.cfg.behavior_ema, state.step)
    return state.replace(behavior=behavior_net, behavior_ema=average), info

  def update_behavior(self, state: AgentState, batch):
    batch = self.normalized(state, batch)
    rng, key = jax.random.split(state.rng)
    state, info = self.update_behavior_flow(state.replace(rng=rng), batch, key)
    state, critic_info = self.update_critic(state, batch)
    return state.replace(step=state.step + 1), {**info, **critic_info}

  # ---- phase 2: the variant's (for `bc`, more flow matching) ----

  def start_decision_flow(self, state: AgentState) -> AgentState:
    return self.variant.start(self, state)

  def warm_up_flow_value(self, state: AgentState, batch):
    return self.variant.warm_up(self, state, batch)

  def update_decision_flow(self, state: AgentState, batch):
    return self.variant.update(self, state, batch)

  def with_policy(self, state: AgentState, policy: TrainedNet) -> AgentState:
    """The state after a policy step: the new weights and their EMA (the acting weights)."""
    return state.replace(
        policy=policy, policy_updates=state.policy_updates + 1,
        policy_ema=ema(state.policy_ema, policy.params, self.cfg.policy_ema, state.policy_updates))

  # ---- acting ----

  def acting_params(self, state: AgentState):
    return self.variant.acting_params(state)

  def flow_sample(self, params, observations, key):
    """x_T of the acting flow (`acting_steps` ODE steps) with velocity-field weights `params` at
    normalised observations."""
    velocity = lambda x, t: self.velocity_net.apply(params, observations, x, t)
    return flow.sample(velocity, key, observations.shape[:-1], self.action_dim,
                       self.cfg.acting_steps, self.cfg.solver, self.cfg.scan_unroll)

  def sample_actions(self, state: AgentState, observations, key, behavior: bool = False):
    """One action per observation; with num_samples > 1 the candidate with the highest Q."""
    observations = state.observation_stats.normalize(observations)
    n = self.cfg.num_samples
    s = jnp.repeat(observations[None], n, axis=0)  # [n, B, obs]
    if behavior:
      actions = self.flow_sample(state.behavior_ema, s, key)
    else:
      actions = self.variant.sample(self, self.acting_params(state), s, key)
    if n == 1:
      return actions[0]
    q = iql.aggregate(self.critic_net.apply(state.critic.params, s, actions), self.cfg.q_agg)
    best = jnp.argmax(q, axis=0)  # [B]
    return jnp.take_along_axis(actions, best[None, :, None], axis=0)[0]

  def divergence_from_behavior(self, state: AgentState, observations, key):
    """The path divergence 0.5 * int |u_theta - u_nu|^2 dt along the acting policy's own flow
    trajectories (the sum of DF-div's D_tau), averaged over them."""
    policy = self.acting_params(state)
    observations = state.observation_stats.normalize(observations)
    traj = decision_flow.rollout(self.cfg, self.apply, policy, observations, key)
    _, per_step = decision_flow.divergence_along(self.cfg, self.apply, policy,
                                                 state.behavior_ema, observations, traj,
                                                 self.cfg.solver == 'euler')
    return jnp.mean(jnp.sum(per_step, axis=0))


# The policy's next actions for the critic's target draw their noise from a stream folded off the
# rollout key, so turning `policy_bootstrap` on leaves every other random draw of an update as it is.
_NEXT_ACTION_STREAM = 13


def _next_action_key(key):
  return jax.random.fold_in(key, _NEXT_ACTION_STREAM)


# And the policy's actions at s for the critic's pessimism (critic_pessimism), folded off the key
# of the next actions, so that turning it on changes no other draw.
_PESSIMISM_STREAM = 19


def _pessimism_key(key):
  return jax.random.fold_in(key, _PESSIMISM_STREAM)
