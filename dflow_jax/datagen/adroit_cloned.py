"""Adroit `cloned` datasets, regenerated offline with D4RL's cloned procedure.

Half demonstrations tiled, half rollouts of a policy behaviour-cloned on them, with Gaussian
exploration noise. Door's demonstrations are its 25 human demos, as in D4RL. Pen, hammer and
relocate have no human demos in shared/data: their demonstrations are `CLONED_DEMOS` episodes of
the DAPG expert, so these datasets stand in for D4RL's and are not copies of them.
"""
from collections.abc import Iterator

import numpy as np

from dflow_jax.datagen.adroit import generate_expert, replay_door_human
from dflow_jax.datagen.episodes import Episode
from dflow_jax.datagen.rollouts import Progress, report_progress, rollout, tile
from dflow_jax.envs.adroit_fixes import make_adroit_env

# Behaviour cloning: an MLP fitted by MSE on the replayed demos.
BC_HIDDEN = (256, 256)
BC_STEPS = 3000
BC_BATCH = 256
BC_LEARNING_RATE = 1e-3
CLONED_NOISE_OFFSET = 3000
CLONED_DEMOS = 25  # expert episodes as demonstrations: as many as door has human demos
# The expert demonstrations reset with seeds apart from the cloned rollouts' (seed + k).
DEMO_SEED_OFFSET = 100_000


class BcPolicy:
  """The cloned door policy: a ReLU MLP on standardised observations plus Gaussian noise."""

  def __init__(self, layers, obs_mean, obs_std, noise_std):
    self.layers = [(np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in layers]
    self.obs_mean = np.asarray(obs_mean, np.float32)
    self.obs_std = np.asarray(obs_std, np.float32)
    self.noise_std = np.asarray(noise_std, np.float32)

  def mean(self, obs: np.ndarray) -> np.ndarray:
    h = (np.asarray(obs, np.float32) - self.obs_mean) / self.obs_std
    for w, b in self.layers[:-1]:
      h = np.maximum(h @ w + b, 0.0)
    w, b = self.layers[-1]
    return h @ w + b

  def sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = self.mean(obs)
    eps = rng.standard_normal(mean.shape).astype(np.float32)
    return np.clip(mean + self.noise_std * eps, -1.0, 1.0)


def train_bc(observations: np.ndarray, actions: np.ndarray, seed: int = 0,
             steps: int = BC_STEPS) -> BcPolicy:
  """Fits `BC_HIDDEN` ReLU MLP by MSE (Adam, `BC_BATCH`-sample minibatches) to obs -> action.

  The noise std per action dimension is the residual std on the training data: the maximum
  likelihood std of a Gaussian policy with this mean, i.e. Gaussian behaviour cloning.
  """
  import jax
  import jax.numpy as jnp
  import optax

  obs_mean = observations.mean(0)
  obs_std = observations.std(0) + 1e-3  # some door coordinates barely move
  x = jnp.asarray((observations - obs_mean) / obs_std, jnp.float32)
  y = jnp.asarray(actions, jnp.float32)
  sizes = (x.shape[1], *BC_HIDDEN, y.shape[1])

  def init(key):
    keys = jax.random.split(key, len(sizes) - 1)
    return [(jax.random.normal(k, (m, n)) * jnp.sqrt(2.0 / m), jnp.zeros(n))
            for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)]

  def forward(params, inputs):
    h = inputs
    for w, b in params[:-1]:
      h = jax.nn.relu(h @ w + b)
    w, b = params[-1]
    return h @ w + b

  loss_fn = lambda params, xb, yb: jnp.mean((forward(params, xb) - yb) ** 2)
  optimiser = optax.adam(BC_LEARNING_RATE)

  def update(carry, key):
    params, opt_state = carry
    idx = jax.random.randint(key, (BC_BATCH,), 0, x.shape[0])
    loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
    updates, opt_state = optimiser.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  init_key, train_key = jax.random.split(jax.random.PRNGKey(seed))
  params = init(init_key)
  # One scan over all steps: a single compiled loop instead of `steps` dispatches.
  (params, _), _ = jax.jit(lambda c, k: jax.lax.scan(update, c, k))(
      (params, optimiser.init(params)), jax.random.split(train_key, steps))
  noise_std = jnp.std(forward(params, x) - y, axis=0)
  return BcPolicy(jax.device_get(params), obs_mean, obs_std, np.asarray(noise_std))


def demonstrations(task: str, seed: int = 0) -> list[Episode]:
  """The demonstrations `task`'s cloned policy imitates: door's human demos replayed, else
  `CLONED_DEMOS` DAPG expert episodes resetting with `DEMO_SEED_OFFSET + seed + k`."""
  if task == 'door':
    return replay_door_human()
  return list(generate_expert(task, CLONED_DEMOS, DEMO_SEED_OFFSET + seed))


def generate_cloned(task: str, num_steps: int, seed: int = 0, progress: Progress = None,
                    bc_steps: int = BC_STEPS) -> Iterator[Episode]:
  """`<task>-cloned`: half demonstrations, half rollouts of a behaviour-cloned policy.

  First the demonstrations (see `demonstrations`), tiled (the last copy cut) to
  `num_steps - num_steps // 2` steps; then `num_steps // 2` steps of the cloned policy with
  Gaussian noise (see `train_bc`) at the task's horizon, rollout k resetting with `seed + k` and
  drawing noise from `np.random.default_rng(CLONED_NOISE_OFFSET + seed + k)`; the last rollout is
  cut to fit.
  """
  demos = demonstrations(task, seed)
  demo_budget = num_steps - num_steps // 2
  yield from tile(demos, demo_budget, progress)
  policy = train_bc(np.concatenate([e.observations[:-1] for e in demos]),
                    np.concatenate([e.actions for e in demos]), seed=seed, steps=bc_steps)
  env = make_adroit_env(task)
  try:
    remaining, k = num_steps // 2, 0
    while remaining > 0:
      rng = np.random.default_rng(CLONED_NOISE_OFFSET + seed + k)
      actor = lambda obs, t, rng=rng: policy.sample(obs, rng)
      episode = rollout(env, actor, reset_seed=seed + k, max_steps=remaining, episode_seed=seed + k)
      remaining, k = remaining - len(episode), k + 1
      yield report_progress(progress, episode)
  finally:
    env.close()
