"""MP4s of evaluation episodes, rendered off-screen (MUJOCO_GL=egl) and written by ffmpeg."""
import functools
import os

import gymnasium as gym
import numpy as np

from dflow_jax.envs import evaluation
from dflow_jax.envs.make import make_eval_env


class VideoError(RuntimeError):
  """A video that cannot be made on this machine; the message is one line saying why."""


class FirstEpisodeFrames(gym.Wrapper):
  """Keeps the rendered frames of the env's first episode (from its reset to its end)."""

  def __init__(self, env):
    super().__init__(env)
    self.frames, self.finished = [], False

  def reset(self, **kwargs):
    out = self.env.reset(**kwargs)
    if not self.finished:
      self.frames.append(self.env.render())
    return out

  def step(self, action):
    out = self.env.step(action)
    if not self.finished:
      self.frames.append(self.env.render())
      self.finished = bool(out[2] or out[3])
    return out


def _make_recording_env(recipe: dict):
  return FirstEpisodeFrames(make_eval_env(recipe, render_mode='rgb_array'))


def _writer():
  try:
    import imageio.v2 as imageio
    import imageio_ffmpeg  # noqa: F401 (imageio's MP4 writer needs it)
  except ImportError as e:
    raise VideoError('writing MP4 needs imageio and imageio-ffmpeg: '
                     '.venv/bin/pip install imageio-ffmpeg') from e
  return imageio


def _check_rendering(recipe: dict) -> None:
  """One frame from a fresh env, so that a machine without off-screen GL fails in one line."""
  env = None
  try:
    env = make_eval_env(recipe, render_mode='rgb_array')
    env.reset(seed=0)
    frame = env.render()
    if frame is None or np.ndim(frame) != 3:
      raise RuntimeError(f'render() gave {type(frame).__name__}, not an RGB frame')
  except Exception as e:  # the GL backends fail with many types; what matters is the reason
    reason = ' '.join(str(e).split())[:200] or type(e).__name__
    raise VideoError(f'cannot render off-screen here (MUJOCO_GL='
                     f'{os.environ.get("MUJOCO_GL", "unset")}): {reason}') from e
  finally:
    if env is not None:
      env.close()


def record_first_episodes(agent, states, recipe: dict, env_seed: int, action_seed: int,
                          behavior: bool, path_of_seed) -> list:
  """One episode per seed (seed s's env reset with `env_seed + s`), each written to
  `path_of_seed(s)`; returns the paths."""
  imageio = _writer()
  _check_rendering(recipe)
  num_seeds = int(np.shape(states.step)[0])
  envs = gym.vector.SyncVectorEnv([functools.partial(_make_recording_env, recipe)] * num_seeds)
  policy = evaluation.agent_policy(agent, states, num_seeds, envs.single_action_space,
                                   action_seed, behavior)
  evaluation.run_first_episodes(envs, policy, env_seed)
  paths = []
  for seed, env in enumerate(envs.envs):
    path = path_of_seed(seed)
    fps = env.metadata.get('render_fps', 30)
    imageio.mimwrite(path, np.stack(env.frames), fps=fps, macro_block_size=1)
    paths.append(path)
  envs.close()
  return paths
