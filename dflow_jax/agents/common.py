"""Pieces every agent shares: the networks' apply functions, a trained network's params with its
optimiser state, one optimiser step, and the two kinds of weight average."""
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import optax


class Appliers(NamedTuple):
  action_dim: int
  velocity: Callable  # (params, s, x, t) -> u
  critic: Callable  # (params, s, a) -> [heads, ...]: Q_phi
  value: Callable  # (params, s) -> V_psi(s), IQL's state value
  flow_value: Callable  # (params, s, x, t) -> V^f / V^chi


class TrainedNet(flax.struct.PyTreeNode):
  params: Any
  opt_state: Any


def new_net(params, optimizer: optax.GradientTransformation) -> TrainedNet:
  return TrainedNet(params, optimizer.init(params))


def apply_gradients(net: TrainedNet, grads, optimizer: optax.GradientTransformation):
  updates, opt_state = optimizer.update(grads, net.opt_state, net.params)
  return TrainedNet(optax.apply_updates(net.params, updates), opt_state)


def polyak(target_params, online_params, tau: float):
  """target <- (1 - tau) target + tau online."""
  return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target_params, online_params)


def minimize(loss_fn, net: TrainedNet, optimizer, *args):
  """One optimiser step on `loss_fn(params, *args) -> (loss, aux)`; returns (net, aux)."""
  grads, aux = jax.grad(loss_fn, has_aux=True)(net.params, *args)
  return apply_gradients(net, grads, optimizer), aux


def ema(average, params, decay: float, updates):
  """One step of a weight EMA whose decay ramps up as (1 + n) / (10 + n) after n updates, so that
  the starting weights wash out early; decay 0 keeps the raw weights."""
  n = updates.astype(jnp.float32)
  return polyak(average, params, 1.0 - jnp.minimum(decay, (1.0 + n) / (10.0 + n)))
