"""DF-dir: the direction-oriented variant. The flow value V^f(s, x_tau, t_tau) is the value of the
action the current policy finishes from a flow state, and the policy turns its velocity's
direction up V^f's gradient (Lemma 4.2), anchored by flow matching."""
import jax
import jax.numpy as jnp

from dflow_jax.agents import decision_flow as df
from dflow_jax.config import AgentConfig

_EPS = 1e-6


class DirectionOriented(df.DecisionFlow):

  def targets(self, cfg: AgentConfig, apply, params: df.DFParams, batch, key):
    """Flow states and V^f targets of one rollout of u_theta. The intermediate flow rewards are 0
    and gamma_f = 1, so the Monte Carlo target at every step is the finished action's R~."""
    traj, reward, baseline, scale, steps, metrics = df.rollout_and_reward(
        cfg, apply, params, batch.observations, key)
    value_target = jnp.repeat(reward, cfg.steps_used)
    no_behavior = jnp.zeros((value_target.shape[0], apply.action_dim))
    return df.flow_steps(batch, traj, steps, value_target, baseline, no_behavior), scale, metrics

  def policy_loss(self, cfg: AgentConfig, apply, policy_params, params: df.DFParams, batch,
                  steps: df.FlowSteps, scale, key):
    """L(theta) = lambda_dir * L_FM(u_theta) - alpha * E_tau[ Q^f(s, x_tau, t_tau, d_theta) ].

    Q^f(s, x, t, d) = V^f(s, x + dt * |u| * d, t + dt) is the flow direction value (the finished
    action's R~ after the last step). The magnitude |u| is a stop-gradient, so the value term
    only turns the direction d = u / |u|; its gradient (I - d d^T) grad V^f vanishes iff d is
    parallel to grad V^f (Lemma 4.2).
    """
    fm = df.regularizer(apply, policy_params, batch, key)
    u = df.policy_velocity(cfg, apply, policy_params, steps)
    norm = jnp.sqrt(jnp.sum(u ** 2, axis=-1, keepdims=True) + _EPS ** 2)
    step = jax.lax.stop_gradient(norm) * (u / norm)
    x_next = steps.x + (1.0 / cfg.flow_steps) * step
    value_term = jnp.mean(df.value_after_step(cfg, apply, params, steps, x_next, scale))
    loss = cfg.lambda_dir * fm - cfg.alpha * value_term
    return loss, {'policy/fm_loss': fm, 'policy/value_term': value_term}

  def value_targets_on_reversed(self, cfg, apply, params, s, traj, reward, steps):
    """No flow reward: every reversed state's target is its dataset action's R~."""
    value_target = jnp.repeat(reward, steps.shape[1])
    return value_target, jnp.zeros((value_target.shape[0], apply.action_dim))


VARIANT = DirectionOriented()
