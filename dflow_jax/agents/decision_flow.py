"""Decision Flow's losses (Hu et al., 2025): policy improvement at every step of the flow.

The flow MDP: state (s, x_tau, t_tau), action the velocity u, transition x + dt * u, terminal
reward the critic's value of the finished action, flow discount 1. Each update rolls the current
policy out once (no gradient), regresses a flow value on the visited flow states, and improves
the velocity at those states against it. `x_tau` is a stop-gradient input everywhere: no
back-propagation through the ODE.

Units: both variants work with the normalised terminal reward
`R~ = (Q(s, clip(x_T)) - b(s)) / sigma` (see `normalizer`), so that their weights transfer across
tasks and a constant reward offset changes nothing (with the advantage scale).

The file reads: shared pieces, DF-dir targets and losses, DF-div targets and losses.
"""
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from dflow_jax import flow
from dflow_jax.agents.iql import aggregate
from dflow_jax.config import AgentConfig

_EPS = 1e-6


class Appliers(NamedTuple):
  action_dim: int
  velocity: Callable  # (params, s, x, t) -> u
  critic: Callable  # (params, s, a) -> [heads, ...]: Q_phi
  value: Callable  # (params, s) -> V_psi(s), IQL's state value
  flow_value: Callable  # (params, s, x, t, prev_action or None) -> V^f / V^chi


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
  prev_actions: jax.Array
  x: jax.Array  # x_tau
  tau: jax.Array  # int step index
  value_target: jax.Array  # the flow value's regression target at (s, x_tau, t_tau), in R~ units
  baseline: jax.Array  # b(s), to put the critic's value of a finished action in R~ units
  behavior_velocity: jax.Array  # u_nu(s, x_tau, t_tau) (DF-div; zeros for DF-dir)


# ---- shared pieces ----

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
  traj = flow.from_noise(velocity, key, observations.shape[:-1], apply.action_dim,
                         cfg.flow_steps, cfg.solver, cfg.scan_unroll)
  return jax.lax.stop_gradient(traj)


def finished_value(cfg, apply: Appliers, critic_params, observations, x_final):
  """Q_phi(s, clip(x_T)): the flow MDP's terminal reward (critic parameters stop-gradient)."""
  q = apply.critic(jax.lax.stop_gradient(critic_params), observations,
                   jnp.clip(x_final, -1.0, 1.0))
  return aggregate(q, cfg.q_agg)


def normalizer(cfg: AgentConfig, apply: Appliers, value_params, observations, R):
  """Baseline b(s) [B] and scale sigma (scalar) of the normalised reward (R - b(s)) / sigma.

  'advantage': b = V_psi(s), sigma = mean |R - V_psi(s)|, the policy's mean absolute advantage.
    Invariant to a constant reward offset and to the reward's scale.
  'q': b = 0, sigma = mean |R| (TD3+BC's normalisation). An offset in the rewards changes the
    effective weights, and where Q varies little between actions relative to its size (long
    horizons, door's Q of order 1e3) the value term is weak.
  Both are stop-gradient: they set units, they are not optimised.
  """
  if cfg.value_scale == 'advantage':
    baseline = apply.value(jax.lax.stop_gradient(value_params), observations)
  else:
    baseline = jnp.zeros_like(R)
  scale = jnp.mean(jnp.abs(R - baseline)) + _EPS
  return jax.lax.stop_gradient(baseline), jax.lax.stop_gradient(scale)


def step_divergence(u, u_behavior, dt):
  """D_tau = dt / 2 * |u - u_nu|^2: one flow step's share of the path divergence
  0.5 * int |u_theta - u_nu|^2 dt (the Girsanov/KL form); DF-div's flow reward is -rho * D_tau."""
  return 0.5 * dt * jnp.sum((u - u_behavior) ** 2, axis=-1)


def _rollout_and_reward(cfg, apply: Appliers, params: DFParams, observations, key):
  """The policy's rollout, its normalised terminal reward R~ [B], b(s), sigma, and the steps."""
  rollout_key, step_key = jax.random.split(key)
  traj = rollout(cfg, apply, params.policy, observations, rollout_key)
  R = finished_value(cfg, apply, params.critic, observations, traj.xs[-1])
  baseline, scale = normalizer(cfg, apply, params.value, observations, R)
  steps = choose_steps(step_key, observations.shape[0], cfg.flow_steps, cfg.steps_used)
  metrics = {'df/R_mean': jnp.mean(R), 'df/value_scale': scale}
  return traj, (R - baseline) / scale, baseline, scale, steps, metrics


def _flow_steps(batch, traj, steps, k, value_target, baseline, behavior_velocity):
  return FlowSteps(
      observations=_repeat_states(batch.observations, k),
      prev_actions=_repeat_states(batch.prev_actions, k),
      x=_gather_steps(traj.xs[:-1], steps), tau=steps.reshape(-1),
      value_target=jax.lax.stop_gradient(value_target),
      baseline=_repeat_states(baseline, k),
      behavior_velocity=jax.lax.stop_gradient(behavior_velocity))


def _regress_flow_value(cfg, apply: Appliers, flow_value_params, steps: FlowSteps, prev_action):
  t = steps.tau / cfg.flow_steps
  v = apply.flow_value(flow_value_params, steps.observations, steps.x, t, prev_action)
  loss = jnp.mean((v - steps.value_target) ** 2)
  return loss, {'df/flow_value_loss': loss}


def _value_after_step(cfg, apply: Appliers, params: DFParams, steps: FlowSteps, x_next,
                      prev_action):
  """The flow value at (x_next, t_{tau+1}) in R~ units; after the last step the finished
  action's normalised value (Q(s, clip(x_next)) - b(s)) / sigma. Critic and flow value are
  stop-gradient: only x_next carries the policy's gradient."""
  t_next = (steps.tau + 1) / cfg.flow_steps
  v = apply.flow_value(jax.lax.stop_gradient(params.flow_value), steps.observations, x_next,
                       t_next, prev_action)
  return v, finished_value(cfg, apply, params.critic, steps.observations, x_next)


def _in_flow_units(cfg, steps: FlowSteps, v_next, q_next, scale):
  """V(x_{tau+1}) in R~ units: the flow value, or the finished action's (Q - b) / sigma after
  the last step (one unit convention, so both pieces compare)."""
  finished = (q_next - steps.baseline) / scale
  return jnp.where(steps.tau == cfg.flow_steps - 1, finished, v_next)


def _flow_matching(cfg, apply: Appliers, policy_params, batch, key):
  velocity = lambda s, x, t: apply.velocity(policy_params, s, x, t)
  return flow.flow_matching_loss(velocity, key, batch.observations, batch.actions)


# ---- DF-dir: targets ----

def dir_targets(cfg: AgentConfig, apply: Appliers, params: DFParams, batch, key):
  """Flow states and V^f targets of one rollout of u_theta.

  V^f(s, x_tau, t_tau) is the value of the action the current policy finishes from there. The
  intermediate flow rewards are 0 and gamma_f = 1, so the Monte Carlo target at every step is
  R~ ('mc'); 'td' bootstraps V^f_target(s, x_{tau+1}, t_{tau+1}) instead (R~ after the last step).
  Returns (FlowSteps, sigma, metrics).
  """
  T, k = cfg.flow_steps, cfg.steps_used
  traj, reward, baseline, scale, steps, metrics = _rollout_and_reward(
      cfg, apply, params, batch.observations, key)
  if cfg.dir_target == 'mc':
    value_target = jnp.repeat(reward, k)
  else:
    next_tau = steps.reshape(-1) + 1
    bootstrap = apply.flow_value(
        jax.lax.stop_gradient(params.flow_value_target), _repeat_states(batch.observations, k),
        _gather_steps(traj.xs[1:], steps), flow.flow_times(T)[next_tau], None)
    value_target = jnp.where(next_tau == T, jnp.repeat(reward, k), bootstrap)
  no_behavior = jnp.zeros((value_target.shape[0], apply.action_dim))
  return _flow_steps(batch, traj, steps, k, value_target, baseline, no_behavior), scale, metrics


# ---- DF-dir: losses ----

def dir_flow_value_loss(cfg: AgentConfig, apply: Appliers, flow_value_params, steps: FlowSteps):
  """Regression of V^f on its targets (V^f does not read the previous action)."""
  return _regress_flow_value(cfg, apply, flow_value_params, steps, None)


def dir_policy_loss(cfg: AgentConfig, apply: Appliers, policy_params, params: DFParams, batch,
                    steps: FlowSteps, scale, key):
  """L(theta) = lambda_dir * L_FM(u_theta) - alpha * E_tau[ Q^f(s, x_tau, t_tau, d_theta) ].

  Q^f(s, x, t, d) = V^f(s, x + dt * |u| * d, t + dt) is the flow direction value (the finished
  action's R~ after the last step). With `dir_objective='direction'` the magnitude |u| is a
  stop-gradient, so the value term only turns the direction d = u / |u|; its gradient
  (I - d d^T) grad V^f vanishes iff d is parallel to grad V^f (Lemma 4.2).
  """
  fm = _flow_matching(cfg, apply, policy_params, batch, key)
  dt = 1.0 / cfg.flow_steps
  u = apply.velocity(policy_params, steps.observations, steps.x, steps.tau * dt)
  if cfg.dir_objective == 'direction':
    norm = jnp.sqrt(jnp.sum(u ** 2, axis=-1, keepdims=True) + _EPS ** 2)
    step = jax.lax.stop_gradient(norm) * (u / norm)
  else:  # 'velocity': the ablation without the normalisation
    step = u
  v_next, q_next = _value_after_step(cfg, apply, params, steps, steps.x + dt * step, None)
  direction_value = _in_flow_units(cfg, steps, v_next, q_next, scale)
  value_term = jnp.mean(direction_value)
  loss = cfg.lambda_dir * fm - cfg.alpha * value_term
  return loss, {'policy/fm_loss': fm, 'policy/value_term': value_term}


# ---- DF-div: targets ----

def _div_returns(cfg: AgentConfig, apply: Appliers, params: DFParams, s, traj, reward,
                 velocities_at_states: bool):
  """Along a flow trajectory of u_theta: u_nu at its states [T, B, d], D_tau [T, B] and the
  Monte Carlo returns G_tau = sum_{j >= tau} -rho * D_j + R~ [T, B]. `velocities_at_states`:
  the trajectory's velocities are u_theta at its states (an Euler rollout); else they are
  evaluated there."""
  T = cfg.flow_steps
  behavior = jax.lax.stop_gradient(params.behavior)
  u_nu = flow.velocities_along(lambda x, t: apply.velocity(behavior, s, x, t), traj)
  if velocities_at_states:
    u_theta = traj.velocities
  else:  # the flow action is the policy's velocity at the flow state, not the solver's blend
    policy = jax.lax.stop_gradient(params.policy)
    u_theta = flow.velocities_along(lambda x, t: apply.velocity(policy, s, x, t), traj)
  divergence = step_divergence(u_theta, u_nu, 1.0 / T)  # [T, B]
  reward_to_go = jnp.cumsum((-cfg.rho * divergence)[::-1], axis=0)[::-1]
  return u_nu, divergence, reward_to_go + reward[None]


def div_targets(cfg: AgentConfig, apply: Appliers, params: DFParams, batch, key):
  """Flow states, behaviour velocities and V^chi targets of one rollout of u_theta.

  Flow reward r^f_tau = -rho * D_tau (`step_divergence`, in R~ units) and the finished action's R~
  at the end: the Monte Carlo target at step tau is G_tau = sum_{j >= tau} r^f_j + R~ (Eq. 21).
  Returns (FlowSteps, sigma, metrics).
  """
  k = cfg.steps_used
  s = batch.observations
  traj, reward, baseline, scale, steps, metrics = _rollout_and_reward(cfg, apply, params, s, key)
  u_nu, divergence, returns = _div_returns(cfg, apply, params, s, traj, reward,
                                           cfg.solver == 'euler')
  metrics['df/divergence'] = jnp.mean(jnp.sum(divergence, axis=0))
  flow_steps = _flow_steps(batch, traj, steps, k, _gather_steps(returns, steps), baseline,
                           _gather_steps(u_nu, steps))
  return flow_steps, scale, metrics


# ---- DF-div: losses ----

def _prev_action(cfg: AgentConfig, steps: FlowSteps):
  return steps.prev_actions if cfg.use_prev_action else None


def div_flow_value_loss(cfg: AgentConfig, apply: Appliers, flow_value_params, steps: FlowSteps):
  """Regression of V^chi on G_tau (reading the previous action when `use_prev_action`)."""
  return _regress_flow_value(cfg, apply, flow_value_params, steps, _prev_action(cfg, steps))


def div_policy_loss(cfg: AgentConfig, apply: Appliers, policy_params, params: DFParams, batch,
                    steps: FlowSteps, scale, key):
  """L(theta) = lambda_div * L_FM(u_theta) - E_tau[ Q^f(s^f_tau, u_theta) ], with the flow Q
  Q^f(s^f_tau, u) = -rho * D_tau(u) + V^chi(s, x_tau + dt * u, t_{tau+1}) (R~ after the last
  step). The full velocity moves; rho keeps it near u_nu at every step."""
  fm = _flow_matching(cfg, apply, policy_params, batch, key)
  dt = 1.0 / cfg.flow_steps
  u = apply.velocity(policy_params, steps.observations, steps.x, steps.tau * dt)
  divergence = step_divergence(u, steps.behavior_velocity, dt)
  v_next, q_next = _value_after_step(cfg, apply, params, steps, steps.x + dt * u,
                                     _prev_action(cfg, steps))
  flow_q = -cfg.rho * divergence + _in_flow_units(cfg, steps, v_next, q_next, scale)
  value_term = jnp.mean(flow_q)
  loss = cfg.lambda_div * fm - value_term
  # D_tau averaged over the sampled steps, times T: the path divergence's estimate.
  return loss, {'policy/fm_loss': fm, 'policy/value_term': value_term,
                'policy/divergence': jnp.mean(divergence) * cfg.flow_steps}


# ---- flow states reversed from the data (both variants) ----

def reversal_targets(cfg: AgentConfig, apply: Appliers, params: DFParams, batch, scale, key):
  """Flow-value training states grounded in the data: the current policy's ODE integrated
  backwards from each dataset action a (flow.integrate(backwards=True)), so that the flow from
  every state (s, x_tau, t_tau) leads to about a, an action whose value the critic has learnt
  from the data itself (the flow reversal of Reversal Q-Learning). The targets are those a
  rollout ending at a would give: R~(a) = (Q(s, a) - b(s)) / sigma for V^f; for V^chi, R~(a)
  minus rho times the divergence from u_nu still to come along the reversed path. Everything is
  stop-gradient; `scale` is the rollout's sigma, so both sets of targets share units.
  Returns FlowSteps."""
  T, k = cfg.flow_steps, cfg.steps_used
  s = batch.observations
  policy = jax.lax.stop_gradient(params.policy)
  traj = jax.lax.stop_gradient(flow.integrate(
      lambda x, t: apply.velocity(policy, s, x, t), batch.actions, T, cfg.solver,
      cfg.scan_unroll, backwards=True))
  q_data = finished_value(cfg, apply, params.critic, s, batch.actions)
  baseline, _ = normalizer(cfg, apply, params.value, s, q_data)
  reward = (q_data - baseline) / scale
  steps = choose_steps(key, s.shape[0], T, k)
  if cfg.variant == 'div':
    # the reversed path's velocities were read at the next state: evaluate u_theta at each one
    u_nu, _, returns = _div_returns(cfg, apply, params, s, traj, reward, False)
    value_target, behavior = _gather_steps(returns, steps), _gather_steps(u_nu, steps)
  else:
    value_target = jnp.repeat(reward, k)
    behavior = jnp.zeros((value_target.shape[0], apply.action_dim))
  return _flow_steps(batch, traj, steps, k, value_target, baseline, behavior)


# ---- per variant ----

class Variant(NamedTuple):
  targets: Callable
  flow_value_loss: Callable
  policy_loss: Callable


VARIANTS = {'dir': Variant(dir_targets, dir_flow_value_loss, dir_policy_loss),
            'div': Variant(div_targets, div_flow_value_loss, div_policy_loss)}
