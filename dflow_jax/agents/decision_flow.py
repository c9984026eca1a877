"""Decision Flow (Hu et al., 2025): policy improvement at every step of the flow.

The flow MDP: state (s, x_tau, t_tau), action the velocity u, transition x + dt * u, terminal
reward the critic's value of the finished action, flow discount 1. Each update rolls the current
policy out once (no gradient), regresses a flow value on the visited flow states, and improves
the velocity at those states against it (`DecisionFlow.update`, top to bottom). `x_tau` is a
stop-gradient input everywhere: no back-propagation through the ODE.

Units: both variants work with the normalised terminal reward
`R~ = (Q(s, clip(x_T)) - b(s)) / sigma` (see `normalizer`), so that their weights transfer across
tasks and a constant reward offset changes nothing (with the advantage scale).

This file holds what DF-dir (agents/dir.py) and DF-div (agents/div.py) share: the rollout and its
reward, the flow states the losses read, the flows reversed from dataset actions, and the update.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from dflow_jax import flow
from dflow_jax.agents.behavior import flow_matching
from dflow_jax.agents.common import Appliers, minimize, polyak
from dflow_jax.agents.iql import aggregate
from dflow_jax.agents.variant import Variant
from dflow_jax.config import AgentConfig

_EPS = 1e-6


class DFParams(NamedTuple):
  """What one Decision Flow update reads. Only `policy` and `flow_value` are trained by it."""
  policy: Any  # u_theta
  behavior: Any  # u_nu (frozen)
  critic: Any  # Q_phi
  value: Any  # V_psi
  flow_value: Any  # V^f (DF-dir) or V^chi (DF-div)
  flow_value_target: Any  # its Polyak average (DF-dir TD targets)


class FlowSteps(NamedTuple):
  """The flow states of one rollout at which the losses are evaluated, flattened to [B * k]."""
  observations: jax.Array
  x: jax.Array  # x_tau
  tau: jax.Array  # int step index
  value_target: jax.Array  # the flow value's regression target at (s, x_tau, t_tau), in R~ units
  baseline: jax.Array  # b(s), to put the critic's value of a finished action in R~ units
  behavior_velocity: jax.Array  # u_nu(s, x_tau, t_tau) (DF-div; zeros for DF-dir)


# ---- the flow states the losses read ----

def choose_steps(key, batch_size: int, num_steps: int, steps_per_state: int):
  """For each state, `steps_per_state` distinct flow steps drawn uniformly; [B, k] indices."""
  if steps_per_state >= num_steps:
    return jnp.broadcast_to(jnp.arange(num_steps), (batch_size, num_steps))
  keys = jax.random.uniform(key, (batch_size, num_steps))
  return jnp.argsort(keys, axis=-1)[:, :steps_per_state]


def gather_steps(per_step, steps):
  """per_step [T, B, ...] at steps [B, k] -> [B * k, ...]."""
  per_state = jnp.swapaxes(per_step, 0, 1)
  picked = jnp.take_along_axis(per_state, steps.reshape(steps.shape + (1,) * (per_state.ndim - 2)),
                               axis=1)
  return picked.reshape((-1,) + per_state.shape[2:])


def repeat_states(x, k):
  return jnp.repeat(x, k, axis=0)


def flow_steps(batch, traj, steps, value_target, baseline, behavior_velocity):
  """FlowSteps at the chosen steps [B, k] of a trajectory of the batch's states."""
  k = steps.shape[1]
  return FlowSteps(
      observations=repeat_states(batch.observations, k),
      x=gather_steps(traj.xs[:-1], steps), tau=steps.reshape(-1),
      value_target=jax.lax.stop_gradient(value_target),
      baseline=repeat_states(baseline, k),
      behavior_velocity=jax.lax.stop_gradient(behavior_velocity))


# ---- the rollout and its reward ----

def rollout(cfg: AgentConfig, apply: Appliers, policy_params, observations, key):
  """x_0 .. x_T and the velocities of the current policy, gradients stopped."""
  params = jax.lax.stop_gradient(policy_params)
  velocity = lambda x, t: apply.velocity(params, observations, x, t)
  traj = flow.from_noise(velocity, key, observations.shape[:-1], apply.action_dim,
                         cfg.flow_steps, cfg.solver, cfg.scan_unroll)
  return jax.lax.stop_gradient(traj)


def finished_value(cfg, apply: Appliers, critic_params, observations, x_final):
  """Q_phi(s, clip(x_T)): the flow MDP's terminal reward (critic parameters stop-gradient)."""
  q = apply.critic(jax.lax.stop_gradient(critic_params), observations,
                   jnp.clip(x_final, -1.0, 1.0))
  return aggregate(q, cfg.q_agg)


def normalizer(cfg: AgentConfig, apply: Appliers, value_params, observations, R):
  """Baseline b(s) = V_psi(s) [B] and scale sigma = mean |R - V_psi(s)| (scalar, the policy's
  mean absolute advantage) of the normalised reward (R - b(s)) / sigma: invariant to a constant
  reward offset and to the reward's scale, where TD3+BC's mean |Q| is not (docs/design-notes.md).
  Both are stop-gradient: they set units, they are not optimised.
  """
  baseline = apply.value(jax.lax.stop_gradient(value_params), observations)
  scale = jnp.mean(jnp.abs(R - baseline)) + _EPS
  return jax.lax.stop_gradient(baseline), jax.lax.stop_gradient(scale)


def rollout_and_reward(cfg, apply: Appliers, params: DFParams, observations, key):
  """The policy's rollout, its normalised terminal reward R~ [B], b(s), sigma, and the steps."""
  rollout_key, step_key = jax.random.split(key)
  traj = rollout(cfg, apply, params.policy, observations, rollout_key)
  R = finished_value(cfg, apply, params.critic, observations, traj.xs[-1])
  baseline, scale = normalizer(cfg, apply, params.value, observations, R)
  steps = choose_steps(step_key, observations.shape[0], cfg.flow_steps, cfg.steps_used)
  metrics = {'df/R_mean': jnp.mean(R), 'df/value_scale': scale}
  return traj, (R - baseline) / scale, baseline, scale, steps, metrics


def step_divergence(u, u_behavior, dt):
  """D_tau = dt / 2 * |u - u_nu|^2: one flow step's share of the path divergence
  0.5 * int |u_theta - u_nu|^2 dt (the Girsanov/KL form); DF-div's flow reward is -rho * D_tau."""
  return 0.5 * dt * jnp.sum((u - u_behavior) ** 2, axis=-1)


def divergence_along(cfg, apply: Appliers, policy_params, behavior_params, s, traj,
                     velocities_at_states: bool):
  """u_nu at a flow trajectory's states [T, B, d] and D_tau there [T, B] (stop-gradient).
  `velocities_at_states`: the trajectory's velocities are u_theta at its states (a forward Euler
  rollout of u_theta); else u_theta is evaluated there (the flow action is the policy's velocity
  at the flow state, not the solver's blend)."""
  behavior = jax.lax.stop_gradient(behavior_params)
  u_nu = flow.velocities_along(lambda x, t: apply.velocity(behavior, s, x, t), traj)
  if velocities_at_states:
    u_theta = traj.velocities
  else:
    policy = jax.lax.stop_gradient(policy_params)
    u_theta = flow.velocities_along(lambda x, t: apply.velocity(policy, s, x, t), traj)
  return u_nu, step_divergence(u_theta, u_nu, 1.0 / cfg.flow_steps)


# ---- the losses' shared pieces ----

def regress_flow_value(cfg, apply: Appliers, flow_value_params, steps: FlowSteps):
  """The flow value's regression on its targets (V^f or V^chi, whose targets differ)."""
  t = steps.tau / cfg.flow_steps
  v = apply.flow_value(flow_value_params, steps.observations, steps.x, t)
  loss = jnp.mean((v - steps.value_target) ** 2)
  return loss, {'df/flow_value_loss': loss}


def value_after_step(cfg, apply: Appliers, params: DFParams, steps: FlowSteps, x_next, scale):
  """V(x_{tau+1}) in R~ units: the flow value at (x_next, t_{tau+1}), or after the last step the
  finished action's (Q(s, clip(x_next)) - b(s)) / sigma (one unit convention, so both pieces
  compare). Critic and flow value are stop-gradient: only x_next carries the policy's gradient."""
  t_next = (steps.tau + 1) / cfg.flow_steps
  v_next = apply.flow_value(jax.lax.stop_gradient(params.flow_value), steps.observations, x_next,
                            t_next)
  q_next = finished_value(cfg, apply, params.critic, steps.observations, x_next)
  finished = (q_next - steps.baseline) / scale
  return jnp.where(steps.tau == cfg.flow_steps - 1, finished, v_next)


def policy_velocity(cfg, apply: Appliers, policy_params, steps: FlowSteps):
  """u_theta at the flow states (the policy loss's only path to theta besides flow matching)."""
  dt = 1.0 / cfg.flow_steps
  return apply.velocity(policy_params, steps.observations, steps.x, steps.tau * dt)


def regularizer(apply: Appliers, policy_params, batch, key):
  """L_FM(u_theta): flow matching on the data, the policy loss's anchor."""
  return flow_matching(apply.velocity, policy_params, batch, key)


# ---- flow states reversed from the data ----

def reversal_targets(cfg: AgentConfig, apply: Appliers, params: DFParams, batch, scale, key,
                     value_targets_on_reversed):
  """Flow-value training states grounded in the data: the current policy's ODE integrated
  backwards from each dataset action a (flow.integrate(backwards=True)), so that the flow from
  every state (s, x_tau, t_tau) leads to about a, an action whose value the critic has learnt
  from the data itself (the flow reversal of Reversal Q-Learning). The targets are what a rollout
  ending at a would give (`value_targets_on_reversed`, the variant's). Everything is
  stop-gradient; `scale` is the rollout's sigma, so both sets of targets share units.
  Returns FlowSteps."""
  T = cfg.flow_steps
  s = batch.observations
  policy = jax.lax.stop_gradient(params.policy)
  traj = jax.lax.stop_gradient(flow.integrate(
      lambda x, t: apply.velocity(policy, s, x, t), batch.actions, T, cfg.solver,
      cfg.scan_unroll, backwards=True))
  q_data = finished_value(cfg, apply, params.critic, s, batch.actions)
  baseline, _ = normalizer(cfg, apply, params.value, s, q_data)
  steps = choose_steps(key, s.shape[0], T, cfg.steps_used)
  value_target, behavior = value_targets_on_reversed(cfg, apply, params, s, traj,
                                                     (q_data - baseline) / scale, steps)
  return flow_steps(batch, traj, steps, value_target, baseline, behavior)


# ---- the update ----

class DecisionFlow(Variant):
  """The update both variants share; dir.py and div.py supply the targets and the policy loss."""
  improves_against_critic = True
  has_flow_value = True
  reports_divergence = True

  def targets(self, cfg, apply, params: DFParams, batch, key):
    """(FlowSteps of one rollout of u_theta with the flow value's targets, sigma, metrics)."""
    raise NotImplementedError

  def policy_loss(self, cfg, apply, policy_params, params: DFParams, batch, steps: FlowSteps,
                  scale, key):
    raise NotImplementedError

  def value_targets_on_reversed(self, cfg, apply, params: DFParams, s, traj, reward, steps):
    """(value targets [B * k], u_nu [B * k, d]) at the chosen steps of a reversed flow whose
    end, a dataset action, has normalised reward `reward` [B]."""
    raise NotImplementedError

  def reversal_targets(self, cfg, apply, params: DFParams, batch, scale, key):
    return reversal_targets(cfg, apply, params, batch, scale, key,
                            self.value_targets_on_reversed)

  def with_rho(self, cfg, state):
    """The config this update uses (DF-div's divergence budget moves rho in it)."""
    return cfg

  def after_policy_step(self, cfg, state, info, action_dim: int):
    """State changes that follow the policy's step (DF-div's divergence budget)."""
    return state, info

  def warm_up(self, agent, state, batch):
    """The flow value learns the behaviour flow's rollouts before the policy follows it (u_theta
    is still the copy of u_nu), so the first policy steps do not climb a random network."""
    return self._step(agent, state, batch, improve_policy=False)

  def update(self, agent, state, batch):
    return self._step(agent, state, batch, improve_policy=True)

  def _step(self, agent, state, batch, improve_policy: bool):
    """The critic's step, one rollout of u_theta with its flow-value targets, the flow value's
    step on them and, unless warming up, the policy's step against the new flow value."""
    cfg = self.with_rho(agent.cfg, state)
    batch = agent.normalized(state, batch)
    rng, rollout_key, fm_key = jax.random.split(state.rng, 3)
    state, critic_info = agent.update_critic(state.replace(rng=rng), batch, rollout_key)
    params = DFParams(
        policy=state.policy.params, behavior=state.behavior_ema, critic=state.critic.params,
        value=state.value.params, flow_value=None, flow_value_target=state.flow_value_target)
    steps, scale, rollout_info = self.targets(cfg, agent.apply, params, batch, rollout_key)
    reversal = None
    if agent.uses_flow_reversal:
      reversal = self.reversal_targets(cfg, agent.apply, params, batch, scale,
                                       reversal_key(rollout_key))

    def flow_value_loss(p):
      loss, info = regress_flow_value(cfg, agent.apply, p, steps)
      if reversal is None:
        return loss, info
      reversed_loss, _ = regress_flow_value(cfg, agent.apply, p, reversal)
      return loss + cfg.flow_reversal * reversed_loss, {
          **info, 'df/reversal_value_loss': reversed_loss}

    flow_value, fv_info = minimize(flow_value_loss, state.flow_value, agent.optimizer)
    state = state.replace(
        flow_value=flow_value, step=state.step + 1,
        flow_value_target=polyak(state.flow_value_target, flow_value.params, cfg.tau))
    info = {**critic_info, **rollout_info, **fv_info}
    if not improve_policy:
      return state, info

    params = params._replace(flow_value=flow_value.params)
    policy, policy_info = minimize(
        lambda p: self.policy_loss(cfg, agent.apply, p, params, batch, steps, scale, fm_key),
        state.policy, agent.optimizer)
    state, info = self.after_policy_step(cfg, state, info, agent.action_dim)
    return agent.with_policy(state, policy), {**info, **policy_info}


# The steps drawn on the reversed flows (flow_reversal) take a noise stream of their own, so
# turning it on leaves every other random draw of an update as it is.
_REVERSAL_STREAM = 17


def reversal_key(key):
  return jax.random.fold_in(key, _REVERSAL_STREAM)
