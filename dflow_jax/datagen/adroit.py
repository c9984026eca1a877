"""Adroit datasets regenerated offline with D4RL's procedures (label them `-regen`).

The policy weights and door demos are read at run time from shared/data (README.md there
documents the formats); they are never copied into the project.

Seeds: expert episode k of `generate_expert(task, n, seed)` resets with `seed + k` and draws its
action noise from `np.random.default_rng(ADROIT_NOISE_OFFSET + seed + k)`, so seed 0 reproduces
the protocol of the README's expected figures (reset k, noise 1000 + k). Mixed episode k of
`generate_mixed` resets with `seed + k` and draws from `np.random.default_rng(ADROIT_MIXED_OFFSET
+ seed + k)`.

Stored dtypes follow D4RL's files: float32 observations, actions and rewards.
"""
from collections.abc import Iterator

import numpy as np

from dflow_jax.datagen.episodes import Episode
from dflow_jax.datagen.rollouts import (
  Progress,
  noisy_episodes,
  report_progress,
  rollout,
  sampled_episodes,
)
from dflow_jax.datagen.shared_files import load_npz, reference_table, shared_data_dir
from dflow_jax.envs.adroit_fixes import TASKS, make_adroit_env

ADROIT_NOISE_OFFSET = 1000
ADROIT_MIXED_OFFSET = 4000  # apart from the expert's and the cloned rollouts' noise streams
# Mixed quality: the per-episode noise scale is drawn from U[0, MIXED_MAX_NOISE] for every task.
# A fixed scale of 0.5 on the DAPG experts (10 episodes each) takes door, hammer and relocate to
# about 0 normalised and pen to about 70, so the data runs from failure to expert.
MIXED_MAX_NOISE = 0.5
DOOR_HUMAN_MAX_STEPS = 300  # demos run up to 300 steps, the default limit is 200
NOT_SHIPPED = ('pen', 'hammer', 'relocate')  # their human demos are not in shared/data

__all__ = ['DapgPolicy', 'generate_expert', 'generate_mixed', 'not_reproducible', 'random_return',
           'reference_scores', 'replay_door_human', 'shared_data_dir']


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
  yield from sampled_episodes(lambda: make_adroit_env(task), policy.sample, num_episodes, seed,
                              ADROIT_NOISE_OFFSET, progress)


def generate_mixed(task: str, num_steps: int, seed: int = 0,
                   progress: Progress = None) -> Iterator[Episode]:
  """`<task>-mixed`: the DAPG expert's mean action plus per-episode Gaussian noise.

  Episode k draws sigma ~ U[0, MIXED_MAX_NOISE] from its own rng (see the module docstring),
  then adds N(0, sigma^2) from that rng to every action dimension, clipped to [-1, 1]; it records
  sigma as its `noise_level`. The task's horizon (pen's drop termination included); `num_steps`
  in all, the last episode cut to fit.
  """
  policy = DapgPolicy.load(task)
  yield from noisy_episodes(make_adroit_env(task), policy.mean, -1.0, 1.0, MIXED_MAX_NOISE,
                            num_steps, seed, ADROIT_MIXED_OFFSET, progress)


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


def not_reproducible(task: str, kind: str) -> str:
  """The one-line message for the Adroit datasets whose human demos are not in shared/data."""
  if task not in NOT_SHIPPED or kind != 'human':
    raise ValueError(f'{task}-{kind} can be regenerated offline')
  return (f'not reproducible offline: download D4RL/{task}/{kind}-v2 with Minari '
          f'(`minari download D4RL/{task}/{kind}-v2`); only the door human demos are in '
          'shared/data')


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
