"""PointMaze regeneration: real rollouts in the MuJoCo env, kept to a few thousand steps."""
import os

import numpy as np
import pytest

from dflow_jax.datagen import pointmaze


def _distances(episode):
  obs = episode.observations
  return np.linalg.norm(obs['achieved_goal'] - obs['desired_goal'], axis=-1)


def test_controller_reaches_fixed_goal():
  scores = pointmaze.reference_scores('umaze', dense=False, episodes=20, seed=0)
  assert scores['controller_success_rate'] >= 0.95
  assert scores['ref_max_score'] == scores['controller_return']
  assert scores['ref_min_score'] == scores['random_return']
  assert scores['random_return'] < scores['controller_return']


@pytest.fixture(scope='module')
def umaze_episodes():
  return list(pointmaze.generate('umaze', False, num_steps=2000, seed=0))


def test_generate_layout(umaze_episodes):
  assert sum(len(e) for e in umaze_episodes) == 2000
  for e in umaze_episodes:
    n = len(e)
    assert n > 0
    assert e.observations['observation'].shape == (n + 1, 4)
    assert e.observations['achieved_goal'].shape == (n + 1, 2)
    assert e.observations['desired_goal'].shape == (n + 1, 2)
    assert e.actions.shape == (n, 2) and e.rewards.shape == (n,)
    assert np.all(np.abs(e.actions) <= 1.0)
    assert not e.terminations.any()
    assert e.truncations[-1] and not e.truncations[:-1].any()
    # Sparse reward: 1 exactly when the step ends within the success radius.
    np.testing.assert_array_equal(e.rewards, (_distances(e)[1:] <= 0.45).astype(float))


def test_episodes_end_on_success(umaze_episodes):
  # No reseed within 2000 steps, so every episode but the last (cut by the budget) ends in success.
  assert len(umaze_episodes) > 5
  for e in umaze_episodes[:-1]:
    assert _distances(e)[-1] <= pointmaze.SUCCESS_RADIUS
  # Each episode starts where the previous one ended (no reset between them).
  for prev, nxt in zip(umaze_episodes[:-1], umaze_episodes[1:], strict=True):
    np.testing.assert_array_equal(prev.observations['observation'][-1],
                                  nxt.observations['observation'][0])
  assert umaze_episodes[0].seed == 0 and umaze_episodes[1].seed is None


def test_time_limit_reseeds_and_dense_reward():
  episodes = list(pointmaze.generate('umaze', True, num_steps=900, seed=3, reseed_every=300))
  ends = np.cumsum([len(e) for e in episodes])
  assert ends[-1] == 900
  assert {300, 600} <= set(ends.tolist())  # the time limit cuts an episode at each reseed
  assert [e.seed for e in episodes if e.seed is not None] == [3, 4, 5]
  for e, end in zip(episodes, ends, strict=True):
    np.testing.assert_allclose(e.rewards, np.exp(-_distances(e)[1:]))
    if end % 300:  # not cut by the time limit or the budget, so by success
      assert _distances(e)[-1] <= pointmaze.SUCCESS_RADIUS


def test_generate_is_deterministic():
  def run(seed):
    return list(pointmaze.generate('umaze', False, num_steps=400, seed=seed))
  a, b, c = run(0), run(0), run(1)
  assert [len(e) for e in a] == [len(e) for e in b]
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x.actions, y.actions)
    for k in x.observations:
      np.testing.assert_array_equal(x.observations[k], y.observations[k])
  flat = lambda eps: np.concatenate([e.actions for e in eps])
  assert not np.array_equal(flat(a), flat(c))


def test_env_ids_and_eval_env():
  assert pointmaze.env_id('medium', True) == 'PointMaze_MediumDense-v3'
  assert pointmaze.env_id('large', False) == 'PointMaze_Large-v3'
  env = pointmaze.make_eval_env('large', False)
  obs, _ = env.reset(seed=0)
  goal_cell = tuple(int(k) for k in env.unwrapped.maze.cell_xy_to_rowcol(obs['desired_goal']))
  assert goal_cell == pointmaze.MAZES['large']['goal_cell']
  assert env.spec.max_episode_steps == 800
  env.close()


def test_maze_envs_leave_no_file_in_the_temp_directory():
  env = pointmaze.make_eval_env('umaze', False)
  collection_env = pointmaze.make_collection_env('umaze', False, seed=0)
  for made in (env, collection_env):
    assert not os.path.exists(made.unwrapped.tmp_xml_file_path)
  env.reset(seed=0)
  env.step(env.action_space.sample())  # the model was read before the file went
  env.close()
  collection_env.close()


def _path_length(path: dict, start: tuple, goal: tuple) -> int:
  cell, steps = start, 0
  while cell != goal:
    nxt = path[cell]
    assert abs(nxt[0] - cell[0]) + abs(nxt[1] - cell[1]) == 1  # moves to a neighbour
    cell, steps = nxt, steps + 1
    assert steps < 100
  return steps


def test_depth_first_paths_are_valid_and_can_be_longer_than_shortest():
  """Minari's published ref max came from a depth-first planner; in the large maze its path
  from some starts is longer than the breadth-first one, which is why its ref max is lower."""
  env = pointmaze.make_eval_env('large', False)
  maze = env.unwrapped.maze
  env.close()
  free = {(i, j) for i, row in enumerate(maze.maze_map) for j, c in enumerate(row) if c != 1}
  goal = pointmaze.MAZES['large']['goal_cell']
  shortest = pointmaze._next_cells(free, goal)
  longer = 0
  for start in free:
    depth_first = pointmaze._depth_first_path(free, start, goal)
    assert set(depth_first) <= free
    dfs_steps = _path_length(depth_first, start, goal)
    bfs_steps = _path_length(shortest, start, goal)
    assert dfs_steps >= bfs_steps
    longer += dfs_steps > bfs_steps
  assert longer > 0


def test_writing_a_maze_dataset_leaves_no_file_in_the_temp_directory(tmp_path, monkeypatch):
  # Minari rebuilds the env from its recorded spec while it writes the dataset.
  import glob
  import tempfile

  from dflow_jax.datagen.cli import generate
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'datasets'))
  # A temp directory of this test's own, so that other test processes' mazes do not show.
  (tmp_path / 'tmp').mkdir()
  monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'tmp'))
  generate('dflow/pointmaze/umaze-v2', steps=200, seed=0, quiet=True)
  assert glob.glob(str(tmp_path / 'tmp' / 'ant_maze*.xml')) == []
  assert glob.glob(str(tmp_path / 'ant_maze*.xml')) == []
