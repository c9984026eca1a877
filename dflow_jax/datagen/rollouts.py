"""Recording episodes of an actor in a gymnasium env (Minari layout), and fitting step budgets."""
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np

from dflow_jax.datagen.episodes import Episode

Progress = Callable[[int], Any] | None  # called with each finished episode's length (tqdm.update)
Actor = Callable[[np.ndarray, int], np.ndarray]  # (observation, step index) -> action


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


def cut(episode: Episode, length: int) -> Episode:
  """The first `length` steps of an episode, truncated there (to fit a step budget)."""
  if length >= len(episode):
    return episode
  truncations = episode.truncations[:length].copy()
  truncations[-1] = True
  return dataclasses.replace(
      episode, observations=episode.observations[:length + 1], actions=episode.actions[:length],
      rewards=episode.rewards[:length], terminations=episode.terminations[:length],
      truncations=truncations)


def tile(episodes: list[Episode], budget: int, progress: Progress) -> Iterator[Episode]:
  """The episodes repeated in order until `budget` steps, the last one cut to fit."""
  remaining, i = budget, 0
  while remaining > 0:
    episode = cut(episodes[i % len(episodes)], remaining)
    remaining, i = remaining - len(episode), i + 1
    yield report_progress(progress, episode)


def sampled_episodes(make_env: Callable[[], gym.Env], sample: Callable, num_episodes: int,
                     seed: int, noise_offset: int, progress: Progress) -> Iterator[Episode]:
  """Episodes of a stochastic policy: episode k resets with `seed + k` and draws its action noise
  from `np.random.default_rng(noise_offset + seed + k)`; `sample(obs, rng) -> action`."""
  env = make_env()
  try:
    for k in range(num_episodes):
      rng = np.random.default_rng(noise_offset + seed + k)
      actor = lambda obs, t, rng=rng: sample(obs, rng)
      yield report_progress(progress, rollout(env, actor, reset_seed=seed + k,
                                              episode_seed=seed + k))
  finally:
    env.close()


def noisy_episodes(env: gym.Env, mean_action: Callable[[np.ndarray], np.ndarray], low, high,
                   max_noise: float, num_steps: int, seed: int, noise_offset: int,
                   progress: Progress) -> Iterator[Episode]:
  """Mixed-quality episodes: `mean_action(obs)` plus Gaussian noise of a per-episode scale.

  Episode k draws sigma ~ U[0, max_noise] from `np.random.default_rng(noise_offset + seed + k)`,
  then adds N(0, sigma^2) from that rng to every action dimension, clipped to [low, high]; it
  resets with `seed + k` and records sigma as its `noise_level`. `num_steps` in all, the last
  episode cut (truncated) to fit without simulating the rest. Closes `env` at the end.
  """
  try:
    remaining, k = num_steps, 0
    while remaining > 0:
      rng = np.random.default_rng(noise_offset + seed + k)
      sigma = float(rng.uniform(0.0, max_noise))

      def noisy(obs, t, rng=rng, sigma=sigma):
        action = mean_action(obs)
        noise = sigma * rng.standard_normal(np.shape(action)).astype(np.float32)
        return np.clip(action + noise, low, high)

      episode = rollout(env, noisy, reset_seed=seed + k, max_steps=remaining,
                        episode_seed=seed + k)
      episode.noise_level = sigma
      remaining, k = remaining - len(episode), k + 1
      yield report_progress(progress, episode)
  finally:
    env.close()
