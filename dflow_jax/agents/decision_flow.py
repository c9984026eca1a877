"""Decision Flow: policy improvement at every step of the action-generating flow.

The flow MDP: state (s, x_tau, t_tau), action the velocity u, transition x + dt * u, terminal
reward Q(s, clip(x_T)), flow discount 1. Each update rolls the current policy out once (no
gradient), trains a flow value on the visited flow states, and improves the velocity at those
states against it. `x_tau` is always a stop-gradient input: no back-propagation through the ODE.

DF-dir (direction-oriented): V^f(s, x, t) regresses the finished action's value R (Monte Carlo)
or its own target at the next flow state (TD); the policy maximises V^f after one step along the
*unit* direction u / |u| with the magnitude |u| held fixed (stop-gradient), plus flow matching.
DF-div (divergence-oriented): per-step flow reward -rho * dt/2 * |u_theta - u_nu|^2, a flow value
V^chi fitted to Monte Carlo returns, and a per-step flow Q maximised by the full velocity.
"""
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dflow_jax import flow
from dflow_jax.agents.iql import aggregate
from dflow_jax.config import AgentConfig

_EPS = 1e-6


class Appliers(NamedTuple):
  action_dim: int
  velocity: Callable  # (params, s, x, t) -> u
  critic: Callable  # (params, s, a) -> [heads, ...]
  flow_value: Callable  # (params, s, x, t, prev_action or None) -> V


class FlowSteps(NamedTuple):
  """The flow states of one rollout at which the losses are evaluated, flattened to [B * k]."""
  observations: jax.Array
  prev_actions: jax.Array
  x: jax.Array  # x_tau
  tau: jax.Array  # int step index
  value_target: jax.Array  # regression target of the flow value at (s, x_tau, t_tau)
  behavior_velocity: jax.Array  # u_nu(s, x_tau, t_tau) (zeros for DF-dir)


def choose_steps(key, batch_size: int, num_steps: int, steps_per_state: int):
  """For each state, `steps_per_state` distinct flow steps drawn uniformly; [B, k] indices."""
  if steps_per_state >= num_steps:
    return jnp.broadcast_to(jnp.arange(num_steps), (batch_size, num_steps))
  keys = jax.random.uniform(key, (batch_size, num_steps))
  return jnp.argsort(keys, axis=-1)[:, :steps_per_state]


def _gather_steps(per_step, steps):
  """per_step [T, B, ...] at steps [B, k] -> [B * k, ...]."""
  per_state = jnp.swapaxes(per_step, 0, 1)
  picked = jnp.take_along_axis(per_state, steps.reshape(steps.shape + (1,) * (per_state.ndim - 2)),
                               axis=1)
  return picked.reshape((-1,) + per_state.shape[2:])


def _repeat_states(x, k):
  return jnp.repeat(x, k, axis=0)


def rollout(cfg: AgentConfig, apply: Appliers, policy_params, observations, key):
  """x_0 .. x_T and the velocities of the current policy, gradients stopped."""
  params = jax.lax.stop_gradient(policy_params)
  velocity = lambda x, t: apply.velocity(params, observations, x, t)
  x0 = jax.random.normal(key, observations.shape[:-1] + (apply.action_dim,))
  traj = flow.integrate(velocity, x0, cfg.flow_steps, cfg.solver, cfg.scan_unroll)
  return jax.lax.stop_gradient(traj)


def finished_value(cfg, apply: Appliers, critic_params, observations, x_final):
  """R = Q(s, clip(x_T)): the flow MDP's terminal reward (critic parameters stop-gradient)."""
  q = apply.critic(jax.lax.stop_gradient(critic_params), observations,
                   jnp.clip(x_final, -1.0, 1.0))
  return aggregate(q, cfg.q_agg)


def prepare_steps(cfg: AgentConfig, apply: Appliers, params, batch, key):
  """Rolls out the policy and builds the flow states, targets and q-scale for both losses.

  `params` holds policy, behavior, critic and flow_value_target parameters.
  Returns (FlowSteps, q_scale, rollout metrics).
  """
  rollout_key, step_key = jax.random.split(key)
  s = batch.observations
  T, k = cfg.flow_steps, cfg.steps_used
  traj = rollout(cfg, apply, params['policy'], s, rollout_key)
  R = finished_value(cfg, apply, params['critic'], s, traj.xs[-1])
  q_scale = jax.lax.stop_gradient(jnp.mean(jnp.abs(R)) + _EPS)
  steps = choose_steps(step_key, s.shape[0], T, k)
  times = flow.flow_times(T)
  metrics = {'df/R_mean': jnp.mean(R), 'df/q_scale': q_scale}

  if cfg.variant == 'div':
    behavior = jax.lax.stop_gradient(params['behavior'])
    t_grid = jnp.broadcast_to(times[:T, None], traj.velocities.shape[:2])
    u_nu = jax.vmap(lambda x, t: apply.velocity(behavior, s, x, t))(traj.xs[:-1], t_grid)
    if cfg.solver == 'euler':
      u_theta = traj.velocities
    else:  # the flow action is the policy's velocity at the flow state, not the solver's blend
      policy = jax.lax.stop_gradient(params['policy'])
      u_theta = jax.vmap(lambda x, t: apply.velocity(policy, s, x, t))(traj.xs[:-1], t_grid)
    # Flow rewards in units of q_scale, so that rho weighs divergence against the normalised
    # value whatever the task's reward scale.
    divergence = 0.5 / T * jnp.sum((u_theta - u_nu) ** 2, axis=-1)  # [T, B]
    rewards = -cfg.rho * divergence
    reward_to_go = jnp.cumsum(rewards[::-1], axis=0)[::-1]
    returns = reward_to_go + (R / q_scale)[None]  # G_tau, Eq. 21
    value_target = _gather_steps(returns, steps)
    behavior_velocity = _gather_steps(u_nu, steps)
    metrics['df/divergence'] = jnp.mean(jnp.sum((u_theta - u_nu) ** 2, axis=-1))
  else:
    behavior_velocity = jnp.zeros(s.shape[:1] + (k,) + traj.xs.shape[-1:]).reshape(
        -1, traj.xs.shape[-1])
    if cfg.dir_target == 'mc':
      value_target = jnp.repeat(R, k)
    else:
      next_x = _gather_steps(traj.xs[1:], steps)
      next_tau = steps.reshape(-1) + 1
      bootstrap = apply.flow_value(jax.lax.stop_gradient(params['flow_value_target']),
                                   _repeat_states(s, k), next_x, times[next_tau], None)
      value_target = jnp.where(next_tau == T, jnp.repeat(R, k), bootstrap)

  flow_steps = FlowSteps(
      observations=_repeat_states(s, k), prev_actions=_repeat_states(batch.prev_actions, k),
      x=_gather_steps(traj.xs[:-1], steps), tau=steps.reshape(-1),
      value_target=jax.lax.stop_gradient(value_target),
      behavior_velocity=jax.lax.stop_gradient(behavior_velocity))
  return flow_steps, q_scale, metrics


def _prev_action_input(cfg: AgentConfig, steps: FlowSteps):
  return steps.prev_actions if (cfg.variant == 'div' and cfg.use_prev_action) else None


def flow_value_loss(cfg: AgentConfig, apply: Appliers, flow_value_params, steps: FlowSteps):
  t = steps.tau / cfg.flow_steps
  v = apply.flow_value(flow_value_params, steps.observations, steps.x, t,
                       _prev_action_input(cfg, steps))
  loss = jnp.mean((v - steps.value_target) ** 2)
  return loss, {'df/flow_value_loss': loss}


def _value_after_step(cfg, apply: Appliers, params, steps: FlowSteps, x_next):
  """Flow value at (x_next, t_{tau+1}); the critic of the finished action after the last step."""
  flow_value = jax.lax.stop_gradient(params['flow_value'])
  t_next = (steps.tau + 1) / cfg.flow_steps
  v = apply.flow_value(flow_value, steps.observations, x_next, t_next,
                       _prev_action_input(cfg, steps))
  q = finished_value(cfg, apply, params['critic'], steps.observations, x_next)
  return jnp.where(steps.tau == cfg.flow_steps - 1, q, v), q


def policy_loss(cfg: AgentConfig, apply: Appliers, policy_params, params, batch,
                steps: FlowSteps, q_scale, key):
  """DF-dir or DF-div objective of the policy velocity field, at the given flow states."""
  velocity = lambda s, x, t: apply.velocity(policy_params, s, x, t)
  fm = flow.flow_matching_loss(velocity, key, batch.observations, batch.actions)
  dt = 1.0 / cfg.flow_steps
  u = velocity(steps.observations, steps.x, steps.tau * dt)

  if cfg.variant == 'dir':
    if cfg.dir_objective == 'direction':
      norm = jnp.sqrt(jnp.sum(u ** 2, axis=-1, keepdims=True) + _EPS ** 2)
      step = jax.lax.stop_gradient(norm) * (u / norm)  # |u| fixed, only u / |u| can move
    else:  # 'velocity': the ablation without the normalisation
      step = u
    value, q = _value_after_step(cfg, apply, params, steps, steps.x + dt * step)
    value_term = jnp.mean(value) / q_scale
    loss = cfg.lam * fm - cfg.alpha * value_term
    return loss, {'policy/fm_loss': fm, 'policy/value_term': value_term}

  # DF-div: Q^f = r^f(u) + V^chi(x + dt u); the last step uses R = Q(s, clip(x_T)) instead.
  divergence = 0.5 * dt * jnp.sum((u - steps.behavior_velocity) ** 2, axis=-1)
  value, _ = _value_after_step(cfg, apply, params, steps, steps.x + dt * u)
  is_last = steps.tau == cfg.flow_steps - 1
  value = jnp.where(is_last, value / q_scale, value)  # V^chi is already in units of q_scale
  flow_q = -cfg.rho * divergence + value
  value_term = jnp.mean(flow_q)
  loss = cfg.lambda_div * fm - value_term
  return loss, {'policy/fm_loss': fm, 'policy/value_term': value_term,
                'policy/divergence': jnp.mean(divergence) / dt}
