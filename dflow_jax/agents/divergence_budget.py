"""DF-div's divergence budget: rho tuned by dual ascent so that the path divergence holds a target.

With `divergence_target` = c > 0 the policy solves max E[R~] subject to D / d <= c, where D is
the path divergence sum_tau D_tau of its rollouts from u_nu and d the action dimension (the
divergence adds up over action dimensions, so a budget per dimension means the same on hopper's
3 and door's 28). Its Lagrange multiplier is rho = rho_0 * exp(log_scale): when the measured
divergence is above the budget rho grows, below it rho shrinks, the way SAC tunes its entropy
temperature. One knob then has one meaning on every task, where a fixed rho trades value against
divergence at a rate that depends on the critic's scale and the data.

c = 0 keeps rho fixed at the config's value (log_scale stays 0, so rho_0 * 1 is rho exactly).
"""
import jax
import jax.numpy as jnp

# Per update, log rho moves by at most this much (the relative error is clipped to [-1, 1]):
# a factor of e in 300 updates at the most, slow beside the policy's own response to rho.
DUAL_RATE = 3e-3
# rho stays within rho_0 * [1e-3, 1e3]: a budget that cannot be met (a critic with no gradient,
# a target above what the data allows) leaves rho at a bound instead of drifting without end.
LOG_SCALE_BOUND = 6.9


def rho(base_rho, log_scale):
  """The multiplier the flow rewards use: rho_0 * exp(log_scale)."""
  return base_rho * jnp.exp(log_scale)


def dual_step(log_scale, path_divergence, action_dim: int, target):
  """log_scale after one dual-ascent step on the measured path divergence (mean over the batch of
  sum_tau D_tau, a stop-gradient measurement); unchanged where `target` is 0 (a traced target in
  a sweep may be 0 for some agents)."""
  per_dimension = jax.lax.stop_gradient(path_divergence) / action_dim
  on = target > 0
  error = jnp.clip(per_dimension / jnp.where(on, target, 1.0) - 1.0, -1.0, 1.0)
  stepped = jnp.clip(log_scale + DUAL_RATE * error, -LOG_SCALE_BOUND, LOG_SCALE_BOUND)
  return jnp.where(on, stepped, log_scale)
