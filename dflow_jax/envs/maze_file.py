"""The maze file a gymnasium-robotics maze env leaves behind, removed as soon as the env exists."""
import contextlib
import os

import gymnasium as gym


def remove_maze_file(env: gym.Env) -> gym.Env:
  """env, with the maze file a gymnasium-robotics maze env leaves in the temp directory removed
  (`ant_maze<time>.xml`, one per env, never deleted; MuJoCo has read it once gym.make returns)."""
  xml_path = getattr(env.unwrapped, 'tmp_xml_file_path', None)
  if xml_path:
    with contextlib.suppress(FileNotFoundError):
      os.remove(xml_path)
  return env
