"""PointMaze evaluation envs: the mazes, their gymnasium ids and the fixed-goal eval env."""
import gymnasium as gym
import gymnasium_robotics

from dflow_jax.envs.maze_file import remove_maze_file

gym.register_envs(gymnasium_robotics)

# goal_cell: D4RL's fixed target cell (row, col); horizon: the eval episode length.
MAZES = {
    'umaze': dict(env='PointMaze_UMaze-v3', dense_env='PointMaze_UMazeDense-v3', horizon=300,
                  goal_cell=(1, 1)),
    'medium': dict(env='PointMaze_Medium-v3', dense_env='PointMaze_MediumDense-v3', horizon=600,
                   goal_cell=(6, 6)),
    'large': dict(env='PointMaze_Large-v3', dense_env='PointMaze_LargeDense-v3', horizon=800,
                  goal_cell=(7, 9)),
}


def env_id(maze: str, dense: bool) -> str:
  """Gymnasium id; the Dense ids reward exp(-distance to goal), the others 1 within 0.45."""
  return MAZES[maze]['dense_env' if dense else 'env']


def make_maze_env(maze: str, dense: bool, **kwargs) -> gym.Env:
  """gym.make of a PointMaze, without the maze file it leaves in the temp directory."""
  return remove_maze_file(gym.make(env_id(maze, dense), **kwargs))


def make_eval_env(maze: str, dense: bool, **kwargs):
  """The fixed-goal evaluation env: the goal stays put, so the return counts steps at the goal."""
  spec = MAZES[maze]
  base = gym.spec(env_id(maze, dense)).kwargs['maze_map']
  # The goal cell is the only 'g'; every other free cell may be a start ('r').
  maze_map = [['g' if (i, j) == spec['goal_cell'] else ('r' if c != 1 else 1)
               for j, c in enumerate(row)] for i, row in enumerate(base)]
  options = dict(maze_map=maze_map, continuing_task=True, reset_target=False,
                 max_episode_steps=spec['horizon'])
  return make_maze_env(maze, dense, **{**options, **kwargs})
