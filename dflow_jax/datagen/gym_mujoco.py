"""Gym-MuJoCo expert and mixed-quality episodes, regenerated offline from SB3 TQC actors.

Label them `-regen`.

D4RL's own SAC policies are not available; these TQC actors (shared/data/mujoco) play the expert.
Episode k of `generate_expert(env_name, n, seed)` resets with `seed + k` and draws its action
noise from `np.random.default_rng(MUJOCO_NOISE_OFFSET + seed + k)`; seed 0 reproduces the
protocol of shared/data/README.md (reset k, noise 2000 + k). `generate_mixed` likewise resets
with `seed + k` and draws from `np.random.default_rng(MIXED_NOISE_OFFSET + seed + k)`.
"""
from collections.abc import Iterator

import gymnasium as gym
import numpy as np

from dflow_jax.datagen.episodes import Episode
from dflow_jax.datagen.rollouts import Progress, noisy_episodes, sampled_episodes
from dflow_jax.datagen.shared_files import load_npz

ENV_IDS = {'halfcheetah': 'HalfCheetah-v5', 'hopper': 'Hopper-v5', 'walker2d': 'Walker2d-v5'}
HORIZON = 1000
MUJOCO_NOISE_OFFSET = 2000
MIXED_NOISE_OFFSET = 3000  # apart from the expert's streams, so the two datasets do not share noise


def short_name(env_name: str) -> str:
  """'halfcheetah', 'hopper' or 'walker2d' from that name or from a gymnasium id."""
  name = env_name.split('-')[0].lower()
  if name not in ENV_IDS:
    raise ValueError(f'unknown MuJoCo env {env_name!r}; expected one of {sorted(ENV_IDS)}')
  return name


class TqcActor:
  """SB3 TQC actor: ReLU MLP, tanh-squashed Gaussian with a state-dependent log std.

  Computes in float32 on one observation [d] or a batch [N, d]; no observation normalisation.
  """

  def __init__(self, params: dict[str, np.ndarray]):
    if str(params['hidden_activation']) != 'relu':
      raise ValueError(f'expected relu hidden layers, got {params["hidden_activation"]}')
    f32 = lambda key: np.asarray(params[key], np.float32)
    self.hidden = [(f32('w0'), f32('b0')), (f32('w1'), f32('b1'))]
    self.mu_w, self.mu_b = f32('mu_w'), f32('mu_b')
    self.log_std_w, self.log_std_b = f32('log_std_w'), f32('log_std_b')
    self.log_std_min = np.float32(params['log_std_min'])
    self.log_std_max = np.float32(params['log_std_max'])
    self.low, self.high = f32('action_low'), f32('action_high')

  @classmethod
  def load(cls, env_name: str) -> 'TqcActor':
    """The TQC actor of 'halfcheetah', 'hopper' or 'walker2d' (gymnasium ids work too)."""
    return cls(load_npz(f'mujoco/tqc_{short_name(env_name)}.npz'))

  def gaussian(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and clamped log std of the pre-tanh Gaussian."""
    h = np.asarray(obs, np.float32)
    for w, b in self.hidden:
      h = np.maximum(h @ w + b, 0.0)
    log_std = np.clip(h @ self.log_std_w + self.log_std_b, self.log_std_min, self.log_std_max)
    return h @ self.mu_w + self.mu_b, log_std

  def _to_env(self, squashed: np.ndarray) -> np.ndarray:
    return self.low + 0.5 * (squashed + 1.0) * (self.high - self.low)

  def deterministic(self, obs: np.ndarray) -> np.ndarray:
    """tanh(mean), scaled to the action bounds."""
    mu, _ = self.gaussian(obs)
    return self._to_env(np.tanh(mu))

  def sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """tanh(mean + std * eps), eps ~ N(0, I): SB3's `predict(deterministic=False)`."""
    mu, log_std = self.gaussian(obs)
    eps = rng.standard_normal(mu.shape).astype(np.float32)
    return self._to_env(np.tanh(mu + np.exp(log_std) * eps))


def make_env(env_name: str) -> gym.Env:
  """`{HalfCheetah,Hopper,Walker2d}-v5` with the 1000-step limit."""
  return gym.make(ENV_IDS[short_name(env_name)], max_episode_steps=HORIZON)


def generate_expert(env_name: str, num_episodes: int, seed: int = 0,
                    progress: Progress = None) -> Iterator[Episode]:
  """Expert episodes of the TQC actor with sampled actions, horizon 1000.

  Hopper and Walker2d terminate when they fall (recorded as terminations); episodes that last
  1000 steps end with a truncation.
  """
  actor = TqcActor.load(env_name)
  yield from sampled_episodes(lambda: make_env(env_name), actor.sample, num_episodes, seed,
                              MUJOCO_NOISE_OFFSET, progress)


def generate_mixed(env_name: str, num_steps: int, seed: int = 0,
                   progress: Progress = None) -> Iterator[Episode]:
  """Mixed-quality episodes: the expert's deterministic action plus per-episode Gaussian noise.

  Episode k draws its noise level sigma ~ U[0, 1] from its own rng (see the module docstring),
  then adds N(0, sigma^2) noise from that rng to each action dimension of the TQC actor's
  deterministic action (tanh of the mean), clipped to the action bounds; the episode records
  sigma as its `noise_level`. Returns thus range from poor (sigma near 1) to expert (sigma 0).
  Horizon 1000, Hopper and Walker2d falls recorded as terminations; `num_steps` in all, the last
  episode cut (truncated) to fit.
  """
  actor = TqcActor.load(env_name)
  yield from noisy_episodes(make_env(env_name), actor.deterministic, actor.low, actor.high, 1.0,
                            num_steps, seed, MIXED_NOISE_OFFSET, progress)


__all__ = ['ENV_IDS', 'TqcActor', 'generate_expert', 'generate_mixed', 'make_env']
