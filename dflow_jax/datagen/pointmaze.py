"""Regenerates the Minari `D4RL/pointmaze/{umaze,medium,large}[-dense]-v2` datasets locally.

Procedure (Minari's): a point mass follows waypoints from a grid planner with a PD law plus
Gaussian action noise, in `PointMaze_*-v3` with `continuing_task=True, reset_target=True`, so a new
goal is drawn on each success without moving the ball. The stream is cut into episodes at each
success; the env is reset with the next seed every 200k steps. Reference scores come from
rolling out a uniform-random policy (min) and the noise-free controller (max) on the eval env: a
fixed goal cell and a fixed horizon, where the return counts steps spent at the goal (sparse).

Two planners: breadth-first (shortest paths; the data were collected with Minari's Q-iteration
planner, which also finds shortest paths) and depth-first. Minari computed its published ref max
with its controller's default depth-first planner, whose paths in medium and large are longer than
the shortest, so `reference_scores` reports the depth-first controller as ref max (comparable to
the published values) and the shortest-path controller beside it.
"""
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from dflow_jax.datagen.episodes import Episode
from dflow_jax.envs.pointmaze import MAZES, env_id, make_eval_env, make_maze_env  # noqa: F401 (re-exported)

# The mazes and the eval env come from envs/, so that reference scores are measured in the very
# env that training evaluates in.
# Minari's published reference scores of the sparse datasets, for comparison with ours.
PUBLISHED_REFS = {
    'umaze': dict(published_min=13.77, published_max=218.64),
    'medium': dict(published_min=19.48, published_max=373.91),
    'large': dict(published_min=5.59, published_max=432.11),
}
SUCCESS_RADIUS = 0.45  # the env's own `success` threshold
ACTION_NOISE = 0.5
RESEED_EVERY = 200_000
_MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
# The depth-first planner's neighbour order (row, col), as Minari's published one expands them;
# with a LIFO frontier the last listed is explored first, and the order decides the path.
_DFS_MOVES = ((0, 1), (0, -1), (-1, 0), (1, 0))


def make_collection_env(maze: str, dense: bool, seed: int, reseed_every: int = RESEED_EVERY):
  """The data-collection env; its time limit is the reseed period (Minari's was never reached)."""
  env = make_maze_env(maze, dense, continuing_task=True, reset_target=True,
                      max_episode_steps=reseed_every)
  env.action_space.seed(seed)
  return env


def _next_cells(free: set, goal: tuple) -> dict:
  """Breadth-first search from the goal: for each free cell, its neighbour one step closer."""
  nxt, frontier = {goal: goal}, deque([goal])
  while frontier:
    cell = frontier.popleft()
    for di, dj in _MOVES:
      prev = (cell[0] + di, cell[1] + dj)
      if prev in free and prev not in nxt:
        nxt[prev] = cell
        frontier.append(prev)
  return nxt


def _depth_first_path(free: set, start: tuple, goal: tuple) -> dict:
  """The path a depth-first search from `start` finds to `goal`, as {cell: next cell}."""
  parent, frontier = {start: None}, [start]
  while frontier:
    cell = frontier.pop()
    if cell == goal:
      break
    for di, dj in _DFS_MOVES:
      new = (cell[0] + di, cell[1] + dj)
      if new in free and new not in parent:
        parent[new] = cell
        frontier.append(new)
  path, cell = {goal: goal}, goal
  while cell != start:
    path[parent[cell]] = cell
    cell = parent[cell]
  return path


class WaypointController:
  """Grid planner plus PD law: `__call__(obs) -> action` heads for the desired goal.

  Waypoints are the centres of the cells on a shortest path (slightly jittered), the last one
  the exact goal; the next waypoint is taken once within `threshold` of the current one. It
  replans whenever the observation's `desired_goal` moves (continuing tasks draw new goals).
  """

  def __init__(self, maze, rng: np.random.Generator | None = None, jitter: float = 0.2,
               threshold: float = 0.1, kp: float = 10.0, kd: float = 1.0,
               planner: str = 'shortest'):
    if planner not in ('shortest', 'depth_first'):
      raise ValueError(f"planner must be 'shortest' or 'depth_first', got {planner!r}")
    self.maze, self.jitter, self.threshold, self.kp, self.kd = maze, jitter, threshold, kp, kd
    self.planner = planner
    self.rng = np.random.default_rng(0) if rng is None else rng
    self.free = {(i, j) for i, row in enumerate(maze.maze_map) for j, c in enumerate(row) if c != 1}
    self._plans = {}  # (start cell or None, goal cell) -> next-cell map
    self.reset()

  def reset(self, goal: np.ndarray | None = None):
    """Forgets the path; a `goal` (xy) overrides the observations' `desired_goal`."""
    self.fixed_goal = None if goal is None else np.asarray(goal, np.float64)
    self.goal = self.goal_cell = self.cell = self.waypoint = None
    self.next_cell = {}

  def _cell(self, xy) -> tuple:
    return tuple(int(k) for k in self.maze.cell_xy_to_rowcol(xy))

  def _set_waypoint(self, cell):
    self.cell = cell
    if cell == self.goal_cell:
      self.waypoint = self.goal.copy()
    else:
      # A one-sided offset in [-jitter, 0) per axis: our reading of the published generator.
      centre = self.maze.cell_rowcol_to_xy(np.array(cell))
      self.waypoint = centre - self.jitter * self.rng.uniform(size=2)

  def _plan(self, pos):
    self.goal_cell, here = self._cell(self.goal), self._cell(pos)
    # Shortest paths from every cell share one map per goal; a depth-first path depends on start.
    key = (here if self.planner == 'depth_first' else None, self.goal_cell)
    if key not in self._plans:
      self._plans[key] = (_depth_first_path(self.free, here, self.goal_cell)
                          if self.planner == 'depth_first'
                          else _next_cells(self.free, self.goal_cell))
    self.next_cell = self._plans[key]
    self._set_waypoint(self.next_cell.get(here, self.goal_cell))  # start at the next cell on the path

  def raw_action(self, obs: dict) -> np.ndarray:
    """The PD action before clipping: kp * (waypoint - pos) - kd * vel."""
    pos, vel = obs['observation'][:2], obs['observation'][2:4]
    desired = obs['desired_goal'] if self.fixed_goal is None else self.fixed_goal
    if self.goal is None or np.linalg.norm(desired - self.goal) > 1e-3:
      self.goal = np.array(desired, np.float64)
      self._plan(pos)
    elif (np.linalg.norm(self.waypoint - pos) <= self.threshold
          and self.cell != self.goal_cell):
      self._set_waypoint(self.next_cell[self.cell])
    return self.kp * (self.waypoint - pos) - self.kd * vel

  def __call__(self, obs: dict) -> np.ndarray:
    return np.clip(self.raw_action(obs), -1.0, 1.0).astype(np.float32)


class _Recorder:
  """Accumulates one episode's steps, starting from its first observation."""

  def __init__(self, obs: dict, seed: int | None):
    self.obs, self.seed = [obs], seed
    self.actions, self.rewards, self.terms, self.truncs = [], [], [], []

  def add(self, action, reward, term, trunc, obs):
    self.actions.append(action)
    self.rewards.append(reward)
    self.terms.append(term)
    self.truncs.append(trunc)
    self.obs.append(obs)

  def episode(self) -> Episode:
    observations = {k: np.stack([o[k] for o in self.obs]) for k in self.obs[0]}
    return Episode(observations, np.stack(self.actions), np.asarray(self.rewards, np.float64),
                   np.asarray(self.terms, bool), np.asarray(self.truncs, bool), self.seed)


def generate(maze: str, dense: bool, num_steps: int = 1_000_000, seed: int = 0,
             progress: Callable[[int], None] | None = None, *,
             reseed_every: int = RESEED_EVERY) -> Iterator[Episode]:
  """Yields episodes until `num_steps` steps are recorded.

  An episode is cut (truncation) at success, at the env's time limit (where the env is reset
  with the next seed: seed, seed + 1, ...) and at the end of the budget. After a success the
  next episode starts from the last observation, as Minari's collector does; `Episode.seed`
  is the reset seed for episodes that start at a reset, else None.
  """
  env = make_collection_env(maze, dense, seed, reseed_every)
  rng = np.random.default_rng(seed)
  controller = WaypointController(env.unwrapped.maze, rng)
  resets, done = 0, 0
  obs, _ = env.reset(seed=seed)
  rec = _Recorder(obs, seed)
  while done < num_steps:
    noise = rng.normal(0.0, ACTION_NOISE, size=2)
    action = np.clip(controller.raw_action(obs) + noise, -1.0, 1.0).astype(np.float32)
    obs, reward, term, trunc, info = env.step(action)
    done += 1
    cut = bool(info['success'] or trunc or done == num_steps)
    rec.add(action, float(reward), bool(term), cut and not term, obs)
    if not (cut or term):
      continue
    episode = rec.episode()
    if progress is not None:
      progress(len(episode))  # steps added, as every generator reports them
    yield episode
    if trunc or term:
      resets += 1
      obs, _ = env.reset(seed=seed + resets)
      controller.reset()
    rec = _Recorder(obs, seed + resets if (trunc or term) else None)
  env.close()


def rollout(env, policy, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Returns and reached-goal flags of `episodes` full episodes; one seeded reset, then unseeded."""
  returns, reached = np.zeros(episodes), np.zeros(episodes, bool)
  for ep in range(episodes):
    obs, _ = env.reset(seed=seed if ep == 0 else None)
    if hasattr(policy, 'reset'):
      policy.reset()
    end = False
    while not end:
      obs, reward, term, trunc, info = env.step(policy(obs))
      returns[ep] += reward
      reached[ep] |= bool(info['success'])
      end = term or trunc
  return returns, reached


def reference_scores(maze: str, dense: bool, episodes: int = 100, seed: int = 0) -> dict:
  """Mean returns of a uniform-random policy (ref min) and the noise-free controllers.

  Ref max is the depth-first controller's (Minari's procedure); the shortest-path controller's
  return, an upper figure in medium and large, is reported beside it.
  """
  env = make_eval_env(maze, dense)
  rng = np.random.default_rng(seed)
  random_policy = lambda obs: rng.uniform(-1.0, 1.0, size=2).astype(np.float32)
  random_returns, _ = rollout(env, random_policy, episodes, seed)
  results = {}
  for planner in ('depth_first', 'shortest'):
    controller = WaypointController(env.unwrapped.maze, rng, planner=planner)
    results[planner] = rollout(env, controller, episodes, seed)
  env.close()
  (dfs_returns, dfs_reached), (short_returns, _) = results['depth_first'], results['shortest']
  return {'ref_min_score': float(random_returns.mean()),
          'ref_max_score': float(dfs_returns.mean()),
          'random_return': float(random_returns.mean()),
          'controller_return': float(dfs_returns.mean()),
          'controller_success_rate': float(dfs_reached.mean()),
          'shortest_path_controller_return': float(short_returns.mean())}
