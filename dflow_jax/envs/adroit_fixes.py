"""Adroit environments made to match D4RL's (see shared/data/README.md, section 4).

Two differences between gymnasium-robotics 1.4.2 and D4RL matter for returns:
* door, hammer and relocate add `+0.1 * ||palm - X||` to the dense reward where D4RL subtracts it,
  so `AdroitRewardFix` subtracts `0.2 * ||palm - X||` after every step;
* D4RL's pen ends an episode when the pen drops below z = 0.075 and has a 100-step horizon;
  `PenDropTermination` adds the termination.
"""
import gymnasium as gym
import numpy as np

TASKS = ('door', 'hammer', 'pen', 'relocate')
ENV_IDS = {task: f'AdroitHand{task.capitalize()}-v1' for task in TASKS}
HORIZONS = {'door': 200, 'hammer': 200, 'pen': 100, 'relocate': 200}
PEN_DROP_HEIGHT = 0.075

_registered = False


def register_adroit() -> None:
  """Registers the gymnasium-robotics environments once (imported lazily: its import is slow)."""
  global _registered
  if not _registered:
    import gymnasium_robotics
    gym.register_envs(gymnasium_robotics)
    _registered = True


def palm_target_distance(env: gym.Env, task: str) -> float:
  """Distance between the palm and the handle (door) or the object (hammer, relocate)."""
  u = env.unwrapped
  if task == 'door':
    palm, target = u.data.site_xpos[u.grasp_site_id], u.data.site_xpos[u.handle_site_id]
  else:
    palm, target = u.data.site_xpos[u.S_grasp_site_id], u.data.xpos[u.obj_body_id]
  return float(np.linalg.norm(palm - target))


class AdroitRewardFix(gym.Wrapper):
  """Turns the palm-distance term of door/hammer/relocate from `+0.1 d` into D4RL's `-0.1 d`."""

  def __init__(self, env: gym.Env, task: str):
    if task not in ('door', 'hammer', 'relocate'):
      raise ValueError(f'the reward fix applies to door, hammer and relocate, not {task!r}')
    super().__init__(env)
    self.task = task

  def step(self, action):
    obs, reward, terminated, truncated, info = self.env.step(action)
    # Positions after the step: the same state the environment computed its reward from.
    reward = float(reward) - 0.2 * palm_target_distance(self.env, self.task)
    return obs, reward, terminated, truncated, info


class PenDropTermination(gym.Wrapper):
  """Ends a pen episode when the pen falls below z = 0.075; that step's reward is kept."""

  def step(self, action):
    obs, reward, terminated, truncated, info = self.env.step(action)
    u = self.env.unwrapped
    dropped = bool(u.data.xpos[u.obj_body_id][2] < PEN_DROP_HEIGHT)
    return obs, reward, terminated or dropped, truncated, info


def make_adroit_env(task: str, max_episode_steps: int | None = None,
                    d4rl_fixes: bool = True) -> gym.Env:
  """`AdroitHand<Task>-v1` with D4RL's horizon (200, pen 100) and, by default, its fixes."""
  if task not in TASKS:
    raise ValueError(f'unknown Adroit task {task!r}; expected one of {TASKS}')
  register_adroit()
  env = gym.make(ENV_IDS[task], max_episode_steps=max_episode_steps or HORIZONS[task])
  if d4rl_fixes:
    env = PenDropTermination(env) if task == 'pen' else AdroitRewardFix(env, task)
  return env
