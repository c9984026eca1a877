"""Adroit datasets regenerated offline with D4RL's procedures (label them `-regen`).

The policy weights and door demos are read at run time from shared/data (README.md there
documents the formats); they are never copied into the project.

Seeds: expert episode k of `generate_expert(task, n, seed)` resets with `seed + k` and draws its
action noise from `np.random.default_rng(ADROIT_NOISE_OFFSET + seed + k)`, so seed 0 reproduces
the protocol of the README's expected figures (reset k, noise 1000 + k).

Stored dtypes follow D4RL's files: float32 observations, actions and rewards.
"""
import functools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dflow_jax.data.episodes import Episode
from dflow_jax.envs.adroit_fixes import HORIZONS, TASKS, make_adroit_env

ADROIT_NOISE_OFFSET = 1000
DOOR_HUMAN_MAX_STEPS = 300  # demos run up to 300 steps, the default limit is 200
NOT_SHIPPED = ('pen', 'hammer', 'relocate')  # their human demos are not in shared/data

# Behaviour cloning for door-cloned: an MLP fitted by MSE on the replayed demos.
BC_HIDDEN = (256, 256)
BC_STEPS = 3000
BC_BATCH = 256
BC_LEARNING_RATE = 1e-3
CLONED_NOISE_OFFSET = 3000

Progress = Callable[[int], Any] | None  # called with each finished episode's length (tqdm.update)
Actor = Callable[[np.ndarray, int], np.ndarray]  # (observation, step index) -> action


def shared_data_dir() -> Path:
  """shared/data beside the project root, or `$DFLOW_SHARED_DATA` when set."""
  override = os.environ.get('DFLOW_SHARED_DATA')
  if override:
    return Path(override)
  return Path(__file__).resolve().parents[2].parent / 'shared' / 'data'


def load_npz(relative: str) -> dict[str, np.ndarray]:
  """All arrays of a shared/data `.npz`, loaded eagerly (the file is closed on return)."""
  path = shared_data_dir() / relative
  if not path.exists():
    raise FileNotFoundError(f'{path} not found; set DFLOW_SHARED_DATA to the shared/data folder')
  with np.load(path) as z:
    return {key: z[key] for key in z.files}


# ---------------------------------------------------------------------------------------------
# Rollouts


def rollout(env: gym.Env, actor: Actor, reset_seed: int | None = None,
            options: dict | None = None, max_steps: int | None = None,
            episode_seed: int | None = None) -> Episode:
  """One episode of `actor` in `env`, in the Minari layout.

  Stops at the env's termination or truncation, or after `max_steps`; a stop without termination
  is recorded as a truncation on the last step.
  """
  obs, _ = env.reset(seed=reset_seed, options=options)
  observations, actions, rewards, terminations, truncations = [obs], [], [], [], []
  t = 0
  while True:
    action = np.asarray(actor(obs, t), np.float32)
    obs, reward, terminated, truncated, _ = env.step(action)
    t += 1
    truncated = truncated or (not terminated and max_steps is not None and t >= max_steps)
    observations.append(obs)
    actions.append(action)
    rewards.append(reward)
    terminations.append(terminated)
    truncations.append(truncated)
    if terminated or truncated:
      break
  return Episode(
      observations=np.asarray(observations, np.float32), actions=np.stack(actions),
      rewards=np.asarray(rewards, np.float32), terminations=np.asarray(terminations, bool),
      truncations=np.asarray(truncations, bool), seed=episode_seed)


def report_progress(progress: Progress, episode: Episode) -> Episode:
  """Tells `progress` (if any) how many steps `episode` added, and passes the episode on."""
  if progress is not None:
    progress(len(episode))
  return episode


# ---------------------------------------------------------------------------------------------
# DAPG expert policies


class DapgPolicy:
  """mjrl Gaussian MLP policy of DAPG: tanh hidden layers, state-independent log std.

  Computes in float32 as mjrl does; works on one observation [d] or a batch [N, d].
  """

  def __init__(self, params: dict[str, np.ndarray]):
    if str(params['hidden_activation']) != 'tanh':
      raise ValueError(f'expected tanh hidden layers, got {params["hidden_activation"]}')
    f32 = lambda key: np.asarray(params[key], np.float32)
    self.layers = [(f32(f'w{i}'), f32(f'b{i}')) for i in range(3)]
    self.in_shift, self.in_scale = f32('in_shift'), f32('in_scale')
    self.out_shift, self.out_scale = f32('out_shift'), f32('out_scale')
    self.in_scale_eps = np.float32(params['in_scale_eps'])
    self.std = np.exp(f32('log_std'))

  @classmethod
  def load(cls, task: str) -> 'DapgPolicy':
    """The DAPG expert of `task` ('door', 'hammer', 'pen' or 'relocate')."""
    _check_task(task)
    return cls(load_npz(f'adroit/dapg_{task}.npz'))

  @property
  def action_dim(self) -> int:
    return self.std.shape[-1]

  def mean(self, obs: np.ndarray) -> np.ndarray:
    """The mean action, before any clipping (D4RL's `infos/action_mean`)."""
    x = (np.asarray(obs, np.float32) - self.in_shift) / (self.in_scale + self.in_scale_eps)
    (w0, b0), (w1, b1), (w2, b2) = self.layers
    h = np.tanh(np.tanh(x @ w0 + b0) @ w1 + b1)
    return (h @ w2 + b2) * self.out_scale + self.out_shift

  def sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """mean + std * eps with fresh eps ~ N(0, I), clipped to [-1, 1] as D4RL stored it."""
    mean = self.mean(obs)
    eps = rng.standard_normal(mean.shape).astype(np.float32)
    return np.clip(mean + self.std * eps, -1.0, 1.0)


def _check_task(task: str) -> None:
  if task not in TASKS:
    raise ValueError(f'unknown Adroit task {task!r}; expected one of {TASKS}')


def generate_expert(task: str, num_episodes: int, seed: int = 0,
                    progress: Progress = None) -> Iterator[Episode]:
  """`<task>-expert` episodes: the DAPG expert's sampled actions through the fixed env.

  Horizon 200 (pen 100). Episode k resets with `seed + k` and its noise comes from
  `np.random.default_rng(ADROIT_NOISE_OFFSET + seed + k)`.
  """
  policy = DapgPolicy.load(task)
  env = make_adroit_env(task)
  try:
    for k in range(num_episodes):
      rng = np.random.default_rng(ADROIT_NOISE_OFFSET + seed + k)
      actor = lambda obs, t, rng=rng: policy.sample(obs, rng)
      yield report_progress(progress, rollout(env, actor, reset_seed=seed + k, episode_seed=seed + k))
  finally:
    env.close()


# ---------------------------------------------------------------------------------------------
# Door human demos


def door_demos() -> list[dict[str, np.ndarray]]:
  """The 25 human door demos: per demo its clipped actions and initial simulator state."""
  z = load_npz('adroit/door_human_demos.npz')
  demos = []
  for i, (start, length) in enumerate(zip(z['episode_starts'], z['episode_lengths'], strict=True)):
    state = {'qpos': z['qpos'][i], 'qvel': z['qvel'][i], 'door_body_pos': z['door_body_pos'][i]}
    # Recorded actions leave [-1, 1]; D4RL clipped them before stepping.
    actions = np.clip(z['actions'][start:start + length], -1.0, 1.0)
    demos.append({'actions': actions, 'initial_state': state})
  return demos


def replay_door_human(progress: Progress = None) -> list[Episode]:
  """`door-human`: the 25 demos replayed open loop from their initial states.

  Records the env's own observations and the corrected reward (not the pickle's, which were not
  produced from these initial states); truncation on each demo's last step, no terminations.
  """
  env = make_adroit_env('door', max_episode_steps=DOOR_HUMAN_MAX_STEPS)
  episodes = []
  try:
    for demo in door_demos():
      actions = demo['actions']
      episode = rollout(env, lambda obs, t, a=actions: a[t],
                        options={'initial_state_dict': demo['initial_state']},
                        max_steps=len(actions))
      episode.terminations[:] = False
      episode.truncations[-1] = True
      episodes.append(report_progress(progress, episode))
  finally:
    env.close()
  return episodes


# ---------------------------------------------------------------------------------------------
# Door cloned


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


def _cut(episode: Episode, length: int) -> Episode:
  """The first `length` steps of an episode, truncated there (to fit a step budget)."""
  if length >= len(episode):
    return episode
  truncations = episode.truncations[:length].copy()
  truncations[-1] = True
  return Episode(
      observations=episode.observations[:length + 1], actions=episode.actions[:length],
      rewards=episode.rewards[:length], terminations=episode.terminations[:length],
      truncations=truncations, seed=episode.seed)


def generate_door_cloned(num_steps: int, seed: int = 0, progress: Progress = None,
                         bc_steps: int = BC_STEPS) -> Iterator[Episode]:
  """`door-cloned`: half demos, half rollouts of a behaviour-cloned policy, `num_steps` in all.

  First the 25 replayed demos, tiled (the last copy cut) to `num_steps - num_steps // 2` steps;
  then `num_steps // 2` steps of the cloned policy with Gaussian noise (see `train_bc`), horizon
  200, rollout k resetting with `seed + k` and drawing noise from
  `np.random.default_rng(CLONED_NOISE_OFFSET + seed + k)`; the last rollout is cut to fit.
  """
  demos = replay_door_human()
  demo_budget = num_steps - num_steps // 2
  yield from _tile(demos, demo_budget, progress)
  policy = train_bc(np.concatenate([e.observations[:-1] for e in demos]),
                    np.concatenate([e.actions for e in demos]), seed=seed, steps=bc_steps)
  env = make_adroit_env('door')
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


def _tile(episodes: list[Episode], budget: int, progress: Progress) -> Iterator[Episode]:
  """The episodes repeated in order until `budget` steps, the last one cut to fit."""
  remaining, i = budget, 0
  while remaining > 0:
    episode = _cut(episodes[i % len(episodes)], remaining)
    remaining, i = remaining - len(episode), i + 1
    yield report_progress(progress, episode)


# ---------------------------------------------------------------------------------------------
# What cannot be regenerated, and reference scores


def not_reproducible(task: str, kind: str) -> str:
  """The one-line message for the Adroit datasets whose human demos are not in shared/data."""
  if task not in NOT_SHIPPED or kind not in ('human', 'cloned'):
    raise ValueError(f'{task}-{kind} can be regenerated offline')
  return (f'not reproducible offline: download D4RL/{task}/{kind}-v2 with Minari '
          f'(`minari download D4RL/{task}/{kind}-v2`); only the door human demos are in '
          'shared/data')


@functools.cache
def reference_table() -> dict[str, dict]:
  with open(shared_data_dir() / 'reference_scores.json') as f:
    return json.load(f)


def reference_scores(task: str, kind: str = 'expert', random_episodes: int = 0,
                     seed: int = 0) -> dict[str, float]:
  """D4RL's published REF_MIN / REF_MAX (`min`, `max`, `horizon`) of `<task>-<kind>-v1`.

  Adroit shares them across human, cloned and expert. With `random_episodes > 0`, also
  `random_return`: the mean return of uniform-random actions on the fixed env (reset `seed + k`,
  actions from `np.random.default_rng(seed + k)`), to compare with `min`.
  """
  _check_task(task)
  scores = dict(reference_table()[f'{task}-{kind}-v1'])
  if random_episodes > 0:
    scores['random_return'] = random_return(task, random_episodes, seed)
  return scores


def random_return(task: str, num_episodes: int, seed: int = 0) -> float:
  """Mean return of uniform-random actions in [-1, 1] on the fixed env."""
  env = make_adroit_env(task)
  low, high = env.action_space.low, env.action_space.high
  try:
    returns = []
    for k in range(num_episodes):
      rng = np.random.default_rng(seed + k)
      actor = lambda obs, t, rng=rng: rng.uniform(low, high)
      returns.append(rollout(env, actor, reset_seed=seed + k).episode_return)
  finally:
    env.close()
  return float(np.mean(returns))


__all__ = ['HORIZONS', 'BcPolicy', 'DapgPolicy', 'generate_door_cloned', 'generate_expert',
           'not_reproducible', 'random_return', 'reference_scores', 'replay_door_human',
           'shared_data_dir', 'train_bc']
