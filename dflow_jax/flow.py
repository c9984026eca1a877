"""Flow matching and the action-generating ODE.

The ODE is integrated here and nowhere else: `integrate` is one `jax.lax.scan` over the T flow
steps and returns the whole trajectory, which the Decision Flow losses treat as a rollout of the
flow MDP (state = (s, x_tau, t_tau), action = the velocity, deterministic transition).
`integrate(..., backwards=True)` runs the same scan from t = 1 down to 0: the flow reversed from
a given end point (a dataset action), whose states lead forward to (about) that end.
"""
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

# velocity(x, t) -> dx/dt, with the environment state already bound by the caller.
VelocityFn = Callable[[jax.Array, jax.Array], jax.Array]

SOLVERS = ('euler', 'midpoint', 'rk4')


class FlowTrajectory(NamedTuple):
  """A rollout of the flow MDP. `xs[tau]` is x at t = tau / T."""
  xs: jax.Array  # [T + 1, ..., action_dim]
  velocities: jax.Array  # [T, ..., action_dim]: the increment of each step divided by dt


def linear_path(noise, action, t):
  """Point and target velocity of the linear path x_t = (1 - t) x_0 + t a."""
  t = t[..., None]
  return (1.0 - t) * noise + t * action, action - noise


def flow_matching_loss(velocity: Callable, key, state, action):
  """E |u(s, x_t, t) - (a - x_0)|^2 over x_0 ~ N(0, I), t ~ U[0, 1]; summed over action dims."""
  noise_key, time_key = jax.random.split(key)
  noise = jax.random.normal(noise_key, action.shape)
  t = jax.random.uniform(time_key, action.shape[:-1])
  x_t, target = linear_path(noise, action, t)
  return jnp.mean(jnp.sum((velocity(state, x_t, t) - target) ** 2, axis=-1))


def _step(velocity: VelocityFn, solver: str, x, t, dt):
  """One solver step; returns the effective velocity (x_next - x) / dt."""
  if solver == 'euler':
    return velocity(x, t)
  if solver == 'midpoint':
    return velocity(x + 0.5 * dt * velocity(x, t), t + 0.5 * dt)
  if solver == 'rk4':
    k1 = velocity(x, t)
    k2 = velocity(x + 0.5 * dt * k1, t + 0.5 * dt)
    k3 = velocity(x + 0.5 * dt * k2, t + 0.5 * dt)
    k4 = velocity(x + dt * k3, t + dt)
    return (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
  raise ValueError(f'unknown solver {solver!r}; expected one of {SOLVERS}')


def integrate(velocity: VelocityFn, x0, num_steps: int, solver: str = 'euler',
              unroll: int = 1, remat: bool = False, backwards: bool = False) -> FlowTrajectory:
  """Integrates dx/dt = velocity(x, t) from t = 0 to 1 in `num_steps` equal steps.

  `remat`: a gradient through the scan (bptt) recomputes each step's activations instead of
  storing them (jax.checkpoint); no other value changes.
  `backwards`: `x0` is the point at t = 1 and the solver steps from t = 1 to 0 (dt < 0). The
  trajectory is returned in forward order all the same: xs[T] is the given point, xs[0] where
  the reversed flow ends, and velocities[tau] the solver's (xs[tau + 1] - xs[tau]) / |dt|.
  """
  dt = -1.0 / num_steps if backwards else 1.0 / num_steps
  batch_shape = x0.shape[:-1]

  def body(x, tau):
    t = jnp.full(batch_shape, tau * abs(dt), x.dtype)
    u = _step(velocity, solver, x, t, dt)
    x_next = x + dt * u
    return x_next, (x_next, u)

  if remat:
    body = jax.checkpoint(body)
  taus = jnp.arange(num_steps, 0, -1) if backwards else jnp.arange(num_steps)
  _, (xs, us) = jax.lax.scan(body, x0, taus, unroll=unroll)
  if backwards:  # visited t = (T-1)/T .. 0: put it in forward order
    return FlowTrajectory(jnp.concatenate([xs[::-1], x0[None]], axis=0), us[::-1])
  return FlowTrajectory(jnp.concatenate([x0[None], xs], axis=0), us)


def flow_times(num_steps: int):
  """t_tau for tau = 0..T (inclusive)."""
  return jnp.arange(num_steps + 1, dtype=jnp.float32) / num_steps


def velocities_along(velocity: VelocityFn, traj: FlowTrajectory):
  """velocity(x_tau, t_tau) at a trajectory's states tau = 0..T-1: [T, *batch, d]."""
  num_steps = traj.velocities.shape[0]
  t = jnp.broadcast_to(flow_times(num_steps)[:num_steps].reshape(
      (num_steps,) + (1,) * (traj.velocities.ndim - 2)), traj.velocities.shape[:-1])
  return jax.vmap(velocity)(traj.xs[:-1], t)


def from_noise(velocity: VelocityFn, key, batch_shape, action_dim: int, num_steps: int,
               solver: str = 'euler', unroll: int = 1, remat: bool = False) -> FlowTrajectory:
  """The trajectory from x_0 ~ N(0, I) of shape [*batch_shape, action_dim] drawn with `key`."""
  x0 = jax.random.normal(key, (*batch_shape, action_dim))
  return integrate(velocity, x0, num_steps, solver, unroll, remat)


def sample(velocity: VelocityFn, key, batch_shape, action_dim: int, num_steps: int,
           solver: str = 'euler', unroll: int = 1):
  """An action in [-1, 1]^d: integrate from Gaussian noise and clip."""
  traj = from_noise(velocity, key, batch_shape, action_dim, num_steps, solver, unroll)
  return jnp.clip(traj.xs[-1], -1.0, 1.0)
