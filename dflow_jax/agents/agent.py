"""One seed's agent: its state, its updates for both training phases, and acting.

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
from dflow_jax.agents import behavior, bptt, decision_flow, divergence_budget, fql, iql
from dflow_jax.agents.common import TrainedNet, minimize, new_net, polyak
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
               observation_stats: ObservationStats | None = None):
    self.cfg = cfg
    self.observation_dim = observation_dim
    self.action_dim = action_dim
    # Only `init` reads these; afterwards the copy in the (checkpointed) state is the one used.
    self.observation_stats = observation_stats or identity(observation_dim)
    dtype = cfg.matmul_dtype
    self.velocity_net = VelocityField(cfg.velocity_hidden, action_dim, cfg.activation,
                                      cfg.time_embedding, cfg.time_dim, matmul_dtype=dtype)
    self.critic_net = CriticEnsemble(cfg.critic_hidden, 2, cfg.activation, matmul_dtype=dtype)
    self.value_net = ValueNet(cfg.critic_hidden, cfg.activation, matmul_dtype=dtype)
    self.flow_value_net = FlowValue(cfg.critic_hidden, cfg.activation, True,
                                    cfg.time_embedding, cfg.time_dim, matmul_dtype=dtype)
    self.optimizer = optax.adam(cfg.learning_rate)
    self.apply = decision_flow.Appliers(
        action_dim=action_dim, velocity=self.velocity_net.apply, critic=self.critic_net.apply,
        value=self.value_net.apply, flow_value=self._flow_value_apply)

  # Equal configs and dims give identical pure functions (the observation statistics are read
  # from the state, not from here), so jit caches keyed on the agent are shared between them.
  def _identity(self):
    return (self.cfg, self.observation_dim, self.action_dim)

  def __eq__(self, other):
    return isinstance(other, Agent) and self._identity() == other._identity()

  def __hash__(self):
    return hash(self._identity())

  def _flow_value_apply(self, params, s, x, t, prev_action):
    return self.flow_value_net.apply(params, s, x, t, prev_action)

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

  @property
  def uses_prev_action(self) -> bool:
    return self.cfg.variant == 'div' and self.cfg.use_prev_action

  def init(self, key) -> AgentState:
    keys = jax.random.split(key, 5)
    s = jnp.zeros((1, self.observation_dim))
    a = jnp.zeros((1, self.action_dim))
    t = jnp.zeros((1,))
    velocity = self.velocity_net.init(keys[0], s, a, t)
    critic = self.critic_net.init(keys[1], s, a)
    flow_value = self.flow_value_net.init(keys[3], s, a, t,
                                          a if self.uses_prev_action else None)
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
  def _normalized(state: AgentState, batch):
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
    return self.cfg.variant in ('dir', 'div', 'bptt') and not static_zero

  @property
  def uses_critic_pessimism(self) -> bool:
    """Whether the critic's loss reads the policy's actions at s (iql.critic_loss's gap): for the
    flow policies improved against the critic, unless `critic_pessimism` is a constant 0."""
    weight = self.cfg.critic_pessimism
    return self.cfg.variant in ('dir', 'div', 'bptt') and not (
        isinstance(weight, numbers.Number) and weight == 0)

  @property
  def uses_flow_reversal(self) -> bool:
    """Whether the flow value also regresses on flows reversed from dataset actions: unless
    `flow_reversal` is a constant 0 (a swept value is traced: computed for every setting)."""
    weight = self.cfg.flow_reversal
    return self.cfg.variant in ('dir', 'div') and not (
        isinstance(weight, numbers.Number) and weight == 0)

  def _policy_next_q(self, state: AgentState, batch, key):
    """Q_target(s', a'), a' = clip(x_T) of one rollout of the current u_theta at s' (stop-gradient
    throughout: it is part of a TD target)."""
    next_actions = decision_flow.rollout(self.cfg, self.apply, state.policy.params,
                                         batch.next_observations, key).xs[-1]
    return decision_flow.finished_value(self.cfg, self.apply, state.critic_target,
                                        batch.next_observations, next_actions)

  def _update_critic(self, state: AgentState, batch, policy_key=None):
    """IQL's value and critic steps; with `policy_key`, the critic's target also reads the current
    policy's next actions (`bootstraps_from_policy`) and its loss the gap between the policy's
    actions at s and the data's (`uses_critic_pessimism`; iql.critic_loss)."""
    cfg = self.cfg
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
    state, info = self._update_critic(state, self._normalized(state, batch))
    return state.replace(step=state.step + 1), info

  def _update_behavior_flow(self, state: AgentState, batch, key):
    """One flow-matching step of u_nu and its weight EMA (batch already normalised)."""
    behavior_net, info = minimize(
        lambda p: behavior.behavior_loss(self.velocity_net.apply, p, key, batch),
        state.behavior, self.optimizer)
    # Averaging the weights damps the step-to-step wobble of the basin boundaries that decide
    # how much mass each mode gets (measured: per-mode mass then moves by about 0.03).
    ema = _ema(state.behavior_ema, behavior_net.params, self.cfg.behavior_ema, state.step)
    return state.replace(behavior=behavior_net, behavior_ema=ema), info

  def update_behavior(self, state: AgentState, batch):
    batch = self._normalized(state, batch)
    rng, key = jax.random.split(state.rng)
    state, info = self._update_behavior_flow(state.replace(rng=rng), batch, key)
    state, critic_info = self._update_critic(state, batch)
    return state.replace(step=state.step + 1), {**info, **critic_info}

  def start_decision_flow(self, state: AgentState) -> AgentState:
    """u_theta starts as a copy of the (now frozen) u_nu, with a fresh optimiser. FQL's one-step
    policy is another kind of map (noise to action), so it keeps its own initialisation."""
    if self.cfg.variant == 'fql':
      return state.replace(policy_ema=state.policy.params,
                           policy_updates=jnp.zeros((), jnp.int32))
    return state.replace(policy=new_net(state.behavior_ema, self.optimizer),
                         policy_ema=state.behavior_ema,
                         policy_updates=jnp.zeros((), jnp.int32))

  # ---- phase 2: Decision Flow (or, for `bc`, more flow matching) ----

  def _budgeted(self, state: AgentState):
    """The config with DF-div's current rho (the divergence budget's; cfg.rho when it is off)."""
    if self.cfg.variant != 'div':
      return self.cfg
    return dataclasses.replace(self.cfg,
                               rho=divergence_budget.rho(self.cfg.rho, state.rho_log_scale))

  def _flow_value_step(self, state: AgentState, batch):
    """The part both Decision Flow updates share: the critic's step, one rollout of u_theta with
    its flow-value targets, and the flow value's step on them.

    Returns (state, the policy loss's inputs, metrics).
    """
    cfg, variant = self._budgeted(state), decision_flow.VARIANTS[self.cfg.variant]
    batch = self._normalized(state, batch)
    rng, rollout_key, fm_key = jax.random.split(state.rng, 3)
    state, critic_info = self._update_critic(state.replace(rng=rng), batch,
                                             _next_action_key(rollout_key))
    params = decision_flow.DFParams(
        policy=state.policy.params, behavior=state.behavior_ema, critic=state.critic.params,
        value=state.value.params, flow_value=None, flow_value_target=state.flow_value_target)
    steps, scale, rollout_info = variant.targets(cfg, self.apply, params, batch, rollout_key)
    reversal = None
    if self.uses_flow_reversal:
      reversal = decision_flow.reversal_targets(cfg, self.apply, params, batch, scale,
                                                _reversal_key(rollout_key))

    def flow_value_loss(p):
      loss, info = variant.flow_value_loss(cfg, self.apply, p, steps)
      if reversal is None:
        return loss, info
      reversed_loss, _ = variant.flow_value_loss(cfg, self.apply, p, reversal)
      return loss + cfg.flow_reversal * reversed_loss, {
          **info, 'df/reversal_value_loss': reversed_loss}

    flow_value, fv_info = minimize(flow_value_loss, state.flow_value, self.optimizer)
    state = state.replace(
        flow_value=flow_value, step=state.step + 1,
        flow_value_target=polyak(state.flow_value_target, flow_value.params, cfg.tau))
    policy_inputs = (params._replace(flow_value=flow_value.params), batch, steps, scale, fm_key)
    return state, policy_inputs, {**critic_info, **rollout_info, **fv_info}

  def warm_up_flow_value(self, state: AgentState, batch):
    """The flow value learns the behaviour flow's rollouts before the policy follows it (u_theta
    is still the copy of u_nu), so the first policy steps do not climb a random network."""
    if self.cfg.variant == 'bc':
      return self.update_behavior(state, batch)
    if self.cfg.variant in ('bptt', 'fql'):  # no flow value: the critic alone trains on
      return self.update_critic_only(state, batch)
    state, _, info = self._flow_value_step(state, batch)
    return state, info

  def update_decision_flow(self, state: AgentState, batch):
    if self.cfg.variant == 'bc':
      return self.update_behavior(state, batch)
    if self.cfg.variant == 'bptt':
      return self._update_bptt(state, batch)
    if self.cfg.variant == 'fql':
      return self._update_fql(state, batch)
    cfg, variant = self._budgeted(state), decision_flow.VARIANTS[self.cfg.variant]
    state, (params, batch, steps, scale, fm_key), info = self._flow_value_step(state, batch)
    policy, policy_info = minimize(
        lambda p: variant.policy_loss(cfg, self.apply, p, params, batch, steps, scale, fm_key),
        state.policy, self.optimizer)
    if cfg.variant == 'div':  # the budget moves with the policy, not during a warm-up
      state = state.replace(rho_log_scale=divergence_budget.dual_step(
          state.rho_log_scale, info['df/divergence'], self.action_dim, cfg.divergence_target))
      info['df/rho'] = cfg.rho
    return self._with_policy(state, policy), {**info, **policy_info}

  def _update_bptt(self, state: AgentState, batch):
    """The critic's step, then u_theta's step through the whole ODE (agents/bptt.py)."""
    cfg = self.cfg
    batch = self._normalized(state, batch)
    rng, noise_key, fm_key = jax.random.split(state.rng, 3)
    state, critic_info = self._update_critic(state.replace(rng=rng), batch,
                                             _next_action_key(noise_key))
    policy, policy_info = minimize(
        lambda p: bptt.policy_loss(cfg, self.apply, p, state.critic.params, state.value.params,
                                   batch, noise_key, fm_key),
        state.policy, self.optimizer)
    return self._with_policy(state.replace(step=state.step + 1), policy), \
        {**critic_info, **policy_info}

  def _update_fql(self, state: AgentState, batch):
    """FQL's three losses (agents/fql.py), each read at the parameters before this update, as
    FQL's one joint step reads them: behaviour flow, TD critic, one-step policy."""
    cfg = self.cfg
    batch = self._normalized(state, batch)
    rng, flow_key, critic_key, policy_key = jax.random.split(state.rng, 4)
    policy, policy_info = minimize(
        lambda p: fql.policy_loss(cfg, self.apply, p, state.behavior_ema, state.critic.params,
                                  batch, policy_key),
        state.policy, self.optimizer)
    critic, critic_info = minimize(
        lambda p: fql.critic_loss(cfg, self.apply, p, state.critic_target, state.policy.params,
                                  batch, critic_key),
        state.critic, self.optimizer)
    state, flow_info = self._update_behavior_flow(state.replace(rng=rng), batch, flow_key)
    state = state.replace(critic=critic, step=state.step + 1,
                          critic_target=polyak(state.critic_target, critic.params, cfg.tau))
    return self._with_policy(state, policy), {**flow_info, **critic_info, **policy_info}

  def _with_policy(self, state: AgentState, policy: TrainedNet) -> AgentState:
    return state.replace(
        policy=policy, policy_updates=state.policy_updates + 1,
        policy_ema=_ema(state.policy_ema, policy.params, self.cfg.policy_ema, state.policy_updates))

  # ---- acting ----

  def acting_params(self, state: AgentState):
    return state.behavior_ema if self.cfg.variant == 'bc' else state.policy_ema

  def sample_actions(self, state: AgentState, observations, key, behavior: bool = False):
    """One action per observation; with num_samples > 1 the candidate with the highest Q."""
    params = state.behavior_ema if behavior else self.acting_params(state)
    observations = state.observation_stats.normalize(observations)
    n = self.cfg.num_samples
    s = jnp.repeat(observations[None], n, axis=0)  # [n, B, obs]
    if self.cfg.variant == 'fql' and not behavior:
      actions = fql.sample_one_step(self.apply, params, s, key)
    else:
      velocity = lambda x, t: self.velocity_net.apply(params, s, x, t)
      actions = flow.sample(velocity, key, s.shape[:-1], self.action_dim, self.cfg.flow_steps,
                            self.cfg.solver, self.cfg.scan_unroll)
    if n == 1:
      return actions[0]
    q = iql.aggregate(self.critic_net.apply(state.critic.params, s, actions), self.cfg.q_agg)
    best = jnp.argmax(q, axis=0)  # [B]
    return jnp.take_along_axis(actions, best[None, :, None], axis=0)[0]

  def divergence_from_behavior(self, state: AgentState, observations, key):
    """The path divergence 0.5 * int |u_theta - u_nu|^2 dt along the acting policy's own flow
    trajectories (the sum of DF-div's D_tau), averaged over them."""
    policy, behavior_params = self.acting_params(state), state.behavior_ema
    observations = state.observation_stats.normalize(observations)
    traj = flow.from_noise(lambda x, t: self.velocity_net.apply(policy, observations, x, t), key,
                           observations.shape[:-1], self.action_dim, self.cfg.flow_steps,
                           self.cfg.solver)
    u_nu = flow.velocities_along(
        lambda x, t: self.velocity_net.apply(behavior_params, observations, x, t), traj)
    u_theta = flow.velocities_along(
        lambda x, t: self.velocity_net.apply(policy, observations, x, t), traj)
    per_step = decision_flow.step_divergence(u_theta, u_nu, 1.0 / self.cfg.flow_steps)
    return jnp.mean(jnp.sum(per_step, axis=0))


# The policy's next actions for the critic's target draw their noise from a stream folded off the
# rollout key, so turning `policy_bootstrap` on leaves every other random draw of an update as it is.
_NEXT_ACTION_STREAM = 13


def _next_action_key(key):
  return jax.random.fold_in(key, _NEXT_ACTION_STREAM)


# Likewise the steps drawn on the reversed flows (flow_reversal): a stream of their own.
_REVERSAL_STREAM = 17


def _reversal_key(key):
  return jax.random.fold_in(key, _REVERSAL_STREAM)


# And the policy's actions at s for the critic's pessimism (critic_pessimism), folded off the key
# of the next actions, so that turning it on changes no other draw.
_PESSIMISM_STREAM = 19


def _pessimism_key(key):
  return jax.random.fold_in(key, _PESSIMISM_STREAM)


def _ema(average, params, decay: float, updates):
  """One step of a weight EMA whose decay ramps up as (1 + n) / (10 + n) after n updates, so that
  the starting weights wash out early; decay 0 keeps the raw weights."""
  n = updates.astype(jnp.float32)
  return polyak(average, params, 1.0 - jnp.minimum(decay, (1.0 + n) / (10.0 + n)))
