"""DF-div: the divergence-oriented variant. Every flow step pays -rho * D_tau, its share of the path
divergence from the behaviour flow u_nu, and the finished action earns R~; the flow value V^chi
is the return to go, and the full velocity climbs the flow Q at every step. With a
`divergence_target` rho follows a divergence budget (agents/divergence_budget.py)."""
import dataclasses

import jax.numpy as jnp

from dflow_jax.agents import decision_flow as df
from dflow_jax.agents import divergence_budget
from dflow_jax.config import AgentConfig


def returns_along(cfg: AgentConfig, apply, params: df.DFParams, s, traj, reward,
                  velocities_at_states: bool):
  """Along a flow trajectory of u_theta: u_nu at its states [T, B, d], D_tau [T, B] and the Monte
  Carlo returns G_tau = sum_{j >= tau} -rho * D_j + R~ [T, B] (Eq. 21)."""
  u_nu, divergence = df.divergence_along(cfg, apply, params.policy, params.behavior, s, traj,
                                         velocities_at_states)
  reward_to_go = jnp.cumsum((-cfg.rho * divergence)[::-1], axis=0)[::-1]
  return u_nu, divergence, reward_to_go + reward[None]


class DivergenceOriented(df.DecisionFlow):

  def targets(self, cfg: AgentConfig, apply, params: df.DFParams, batch, key):
    """Flow states, behaviour velocities and V^chi targets of one rollout of u_theta: flow reward
    r^f_tau = -rho * D_tau (in R~ units) and the finished action's R~ at the end."""
    s = batch.observations
    traj, reward, baseline, scale, steps, metrics = df.rollout_and_reward(
        cfg, apply, params, s, key)
    u_nu, divergence, returns = returns_along(cfg, apply, params, s, traj, reward,
                                              cfg.solver == 'euler')
    metrics['df/divergence'] = jnp.mean(jnp.sum(divergence, axis=0))
    flow_steps = df.flow_steps(batch, traj, steps, df.gather_steps(returns, steps), baseline,
                               df.gather_steps(u_nu, steps))
    return flow_steps, scale, metrics

  def policy_loss(self, cfg: AgentConfig, apply, policy_params, params: df.DFParams, batch,
                  steps: df.FlowSteps, scale, key):
    """L(theta) = lambda_div * L_FM(u_theta) - E_tau[ Q^f(s^f_tau, u_theta) ], with the flow Q
    Q^f(s^f_tau, u) = -rho * D_tau(u) + V^chi(s, x_tau + dt * u, t_{tau+1}) (R~ after the last
    step). The full velocity moves; rho keeps it near u_nu at every step."""
    fm = df.regularizer(apply, policy_params, batch, key)
    dt = 1.0 / cfg.flow_steps
    u = df.policy_velocity(cfg, apply, policy_params, steps)
    divergence = df.step_divergence(u, steps.behavior_velocity, dt)
    v_next = df.value_after_step(cfg, apply, params, steps, steps.x + dt * u, scale)
    value_term = jnp.mean(-cfg.rho * divergence + v_next)
    loss = cfg.lambda_div * fm - value_term
    # D_tau averaged over the sampled steps, times T: the path divergence's estimate.
    return loss, {'policy/fm_loss': fm, 'policy/value_term': value_term,
                  'policy/divergence': jnp.mean(divergence) * cfg.flow_steps}

  def value_targets_on_reversed(self, cfg, apply, params, s, traj, reward, steps):
    """R~ of the dataset action minus rho times the divergence still to come along the reversed
    path, whose velocities were read at the next state: u_theta is evaluated at each one."""
    u_nu, _, returns = returns_along(cfg, apply, params, s, traj, reward, False)
    return df.gather_steps(returns, steps), df.gather_steps(u_nu, steps)

  def with_rho(self, cfg, state):
    return dataclasses.replace(cfg, rho=divergence_budget.rho(cfg.rho, state.rho_log_scale))

  def after_policy_step(self, cfg, state, info, action_dim: int):
    """The budget moves with the policy, not during a warm-up."""
    state = state.replace(rho_log_scale=divergence_budget.dual_step(
        state.rho_log_scale, info['df/divergence'], action_dim, cfg.divergence_target))
    return state, {**info, 'df/rho': cfg.rho}


VARIANT = DivergenceOriented()
