"""OGBench manipulation: the play data's generator, its single-task relabelling, and the success
rate the evaluation counts."""
import functools

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip('ogbench')

from dflow_jax.datagen import ogbench_play  # noqa: E402
from dflow_jax.envs import (
  evaluation,  # noqa: E402
  ogbench_envs,  # noqa: E402
)


@pytest.mark.parametrize('env_name', ['cube-single', 'puzzle-3x3'])
def test_play_episodes_replay_in_the_env_to_the_recorded_observations(env_name):
  episode, = ogbench_play.generate_play(env_name, 250, seed=3)
  assert episode.actions.shape == (250, 5) and len(episode.observations) == 251
  assert set(episode.infos) >= {'qpos'} and len(episode.infos['qpos']) == 251
  env = ogbench_play.collection_env(env_name)
  observation, _ = env.reset(seed=episode.seed)
  replayed = [observation]
  for action in episode.actions:
    replayed.append(env.step(action)[0])
  env.close()
  np.testing.assert_allclose(np.asarray(replayed, np.float32), episode.observations, atol=1e-5)
  # the oracle moved the arm: these are not the states of a resting robot
  assert np.ptp(episode.observations[:, :3], axis=0).max() > 0.05


def test_the_generator_is_seeded():
  first, = ogbench_play.generate_play('cube-single', 120, seed=1)
  again, = ogbench_play.generate_play('cube-single', 120, seed=1)
  other, = ogbench_play.generate_play('cube-single', 120, seed=2)
  np.testing.assert_array_equal(first.actions, again.actions)
  assert not np.allclose(first.actions, other.actions)


def test_the_play_data_is_the_same_whatever_the_number_of_processes():
  # three short episodes (40, 40, 20 steps), made in this process and by two workers
  alone = list(ogbench_play.generate_play('cube-single', 100, seed=5, workers=1, episode_steps=40))
  pooled = list(ogbench_play.generate_play('cube-single', 100, seed=5, workers=2, episode_steps=40))
  assert [len(e) for e in alone] == [len(e) for e in pooled] == [40, 40, 20]
  for a, b in zip(alone, pooled, strict=True):
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.observations, b.observations)
  assert not np.allclose(alone[0].actions, alone[1].actions[:40])  # each episode seeded apart


def _solved_env(env_name: str, task: int):
  """The single-task env whose episodes start at the goal (its task table's start replaced by
  the goal): its first step reports success."""
  env = ogbench_envs.singletask_env(env_name, task)
  info = env.unwrapped.task_infos[task - 1]
  for key in list(info):
    if key.startswith('init'):
      info[key] = info[key.replace('init', 'goal')].copy()
  return env


def _states(env, steps: int, solved: bool, seed: int = 0):
  """(state infos [steps + 1], the env's rewards and terminations [steps]) of random actions."""
  _, info = env.reset(seed=seed)
  infos, rewards, ends = [ogbench_play._state_infos(info)], [], []
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    _, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 5).astype(np.float32))
    infos.append(ogbench_play._state_infos(info))
    rewards.append(reward)
    ends.append(terminated)
    if terminated or truncated:
      break
  return {k: np.stack([i[k] for i in infos]) for k in infos[0]}, np.array(rewards), np.array(ends)


@pytest.mark.parametrize('env_name,task', [('cube-single', 2), ('scene', 2), ('puzzle-3x3', 4)])
def test_the_relabelled_rewards_are_the_single_task_envs_own(env_name, task):
  targets = ogbench_envs.task_targets(env_name, task)
  for solved in (False, True):
    env = _solved_env(env_name, task) if solved else ogbench_envs.singletask_env(env_name, task)
    infos, rewards, ends = _states(env, 40, solved)
    env.close()
    relabelled, terminals = ogbench_envs.relabel(targets, infos)
    np.testing.assert_array_equal(relabelled, rewards)
    # The env's first step reads a success flag its reset does not set, so it ends a step after
    # a start at the goal; from then on its terminations are the goal's.
    np.testing.assert_array_equal(terminals[1:], ends[1:])
    # a random start is not the goal; a start at the goal is, and the env ends there
    assert ends[-1] == solved and (relabelled[0] == 0) == solved == terminals[0]


def test_the_success_rate_counted_is_the_one_the_env_reports():
  """Two of four envs start at the goal; the evaluation counts their success as the env's own
  info['success'] says, and scores 100 for each and 0 for the others."""
  env_name, task = 'cube-single', 2
  makers = [functools.partial(_solved_env if i % 2 == 0 else ogbench_envs.singletask_env,
                              env_name, task) for i in range(4)]
  rng = np.random.default_rng(0)
  actions = rng.uniform(-1, 1, (250, 4, 5)).astype(np.float32)
  envs = gym.vector.SyncVectorEnv(makers)
  rollouts = evaluation.run_first_episodes(envs, lambda obs, step: actions[step], env_seed=11)
  envs.close()
  reported = []
  for i, make in enumerate(makers):
    env = make()
    env.reset(seed=11 + i)
    success = False
    for step in range(250):
      _, _, terminated, truncated, info = env.step(actions[step, i])
      success |= bool(info['success'])
      if terminated or truncated:
        break
    env.close()
    reported.append(success)
  np.testing.assert_array_equal(rollouts.successes, reported)
  np.testing.assert_array_equal(rollouts.successes, [True, False, True, False])
  # the goal ends an episode (a step late at the start: see the relabelling test); 200 steps else
  assert rollouts.lengths[0] == 2 and rollouts.lengths[1] == 200


def test_a_generated_subset_loads_with_its_task_rewards_and_eval_env(tmp_path, monkeypatch):
  from dflow_jax import data
  from dflow_jax.data import registry
  from dflow_jax.datagen import cli
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path))
  play = registry.ogbench_play_id('cube-single', subset=True)
  cli.generate(play, 300, seed=0, quiet=True)  # 300 steps, not the subset's 50 episodes
  task = registry.ogbench_singletask_id('cube-single', 2, subset=True)
  summary = cli.generate(task, None, seed=0, quiet=True)
  assert summary['steps'] == 300 and summary['episodes'] == 1
  loaded = data.load(task)
  assert loaded.size == 300 and loaded.observation_dim == 28 and loaded.action_dim == 5
  assert data.metadata(task)['eval_env'] == {'family': 'ogbench', 'score': 'success',
                                             'env': 'cube-single-singletask-task2-v0'}
  assert 'a SUBSET of 50 episodes' in data.minari_io.read_metadata(task)['description']
  import minari
  played, = minari.load_dataset(play).iterate_episodes()
  rewards, terminals = ogbench_envs.relabel(ogbench_envs.task_targets('cube-single', 2),
                                            {k: np.asarray(v) for k, v in played.infos.items()})
  np.testing.assert_array_equal(np.asarray(loaded.rewards), rewards)
  np.testing.assert_array_equal(np.asarray(loaded.terminals), terminals)
  assert np.asarray(loaded.timeouts)[-1] == 1 and np.all(np.asarray(loaded.rewards) <= 0)


def _published_layout(episodes) -> dict:
  """Episodes as OGBench's .npz play files lay them out: one row per step (the state before
  it), the last row of each episode marked by `terminals`."""
  rows = {'observations': [], 'actions': [], 'terminals': [], 'qpos': []}
  for episode in episodes:
    length = len(episode.actions)
    rows['observations'].append(episode.observations[:length])
    rows['actions'].append(episode.actions)
    rows['terminals'].append(np.arange(length) == length - 1)
    rows['qpos'].append(episode.infos['qpos'][:length])
  return {key: np.concatenate(value) for key, value in rows.items()}


def test_a_published_file_loads_with_ogbenchs_loader_and_the_same_task_rewards(tmp_path,
                                                                                monkeypatch):
  from dflow_jax import data
  from dflow_jax.data import ogbench_files
  episodes = list(ogbench_play.generate_play('cube-single', 240, seed=4))  # 1 episode
  monkeypatch.setenv('OGBENCH_DATASETS', str(tmp_path))
  name = 'ogbench:cube-single-play-singletask-task3-v0'
  with pytest.raises(data.DatasetError, match='ogbench.download_datasets.*datagen generate '
                     'dflow/ogbench/cube-single-play-singletask-task3-v0'):
    data.load(name)
  np.savez(tmp_path / 'cube-single-play-v0.npz', **_published_layout(episodes))
  loaded = data.load(name)
  episode = episodes[0]
  assert loaded.size == 239  # the last state has no action after it in the file
  np.testing.assert_allclose(np.asarray(loaded.observations), episode.observations[:239])
  np.testing.assert_allclose(np.asarray(loaded.next_observations), episode.observations[1:240])
  rewards, terminals = ogbench_envs.relabel(ogbench_envs.task_targets('cube-single', 3),
                                            {'qpos': episode.infos['qpos'][:240]})
  np.testing.assert_array_equal(np.asarray(loaded.rewards), rewards)
  np.testing.assert_array_equal(np.asarray(loaded.terminals), terminals)
  assert np.asarray(loaded.timeouts)[-1] == 1 and np.asarray(loaded.timeouts)[:-1].sum() == 0
  assert data.metadata(name)['eval_env']['env'] == 'cube-single-singletask-task3-v0'
  assert ogbench_files.parse('ogbench:puzzle-3x3-play-singletask-v0') == ('puzzle-3x3', 4)
  with pytest.raises(data.DatasetError, match='not an OGBench manipulation'):
    data.load('ogbench:antmaze-large-navigate-singletask-v0')
