"""OGBench manipulation play data, regenerated offline with the oracles the ogbench package ships.

Procedure (OGBench's `play` datasets, as its data-generation script documents them): the env
in `data_collection` mode, never terminating at a goal, with a time limit of 1,001 steps; each
episode resets (random arm pose and objects; scene also random buttons, drawer and window) and
hands the task the env drew to its plan oracle, whose open-loop plan carries smoothed Gaussian
noise (`noise` 0.1, `noise_smoothing` 0.5); whenever a plan runs out the env draws a new target
and the matching oracle plans again, so one episode chains many tasks. cube-double stacks with a
per-episode probability drawn from U[0, 0.25]; scene retries an episode whose cube leaves the
visible table; puzzle's button oracle keeps the gripper closed. 1,000 episodes: 1,001,000 steps.

Every episode k is seeded (env reset seed + k, numpy's global stream for the oracles' noise,
which they draw from it), so a seed reproduces a dataset, whatever the number of processes that
make it (one per core); the published files were made
unseeded, so ours are a regeneration, not a copy. The play data has no reward: the single-task
datasets score its states for one goal (envs/ogbench_envs.relabel).
"""
import multiprocessing
import os
from collections.abc import Callable, Iterator

import numpy as np

from dflow_jax.datagen.episodes import Episode
from dflow_jax.envs.ogbench_envs import ENVS, OBJECT_QPOS, relabel, task_targets
from dflow_jax.envs.ogbench_envs import register as _register

EPISODE_STEPS = 1001
EPISODES = 1000
SUBSET_EPISODES = 50  # the `-subset` datasets: smoke runs and tests, labelled as such
PLAN_NOISE, PLAN_NOISE_SMOOTHING = 0.1, 0.5
NOISE_OFFSET = 7000  # numpy's global seed of episode k is NOISE_OFFSET + its reset seed


def collection_env(env_name: str, max_episode_steps: int = EPISODE_STEPS):
  import gymnasium as gym
  _register()
  return gym.make(f'{env_name}-v0', terminate_at_goal=False, mode='data_collection',
                  max_episode_steps=max_episode_steps)


def _oracles(env_name: str, env) -> dict:
  from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
  from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
  from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
  from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle
  noise = dict(noise=PLAN_NOISE, noise_smoothing=PLAN_NOISE_SMOOTHING)
  if env_name.startswith('cube'):
    return {'cube': CubePlanOracle(env=env, **noise)}
  if env_name == 'scene':
    return {'cube': CubePlanOracle(env=env, **noise), 'button': ButtonPlanOracle(env=env, **noise),
            'drawer': DrawerPlanOracle(env=env, **noise),
            'window': WindowPlanOracle(env=env, **noise)}
  if env_name.startswith('puzzle'):
    return {'button': ButtonPlanOracle(env=env, gripper_always_closed=True, **noise)}
  raise ValueError(f'unknown OGBench manipulation env {env_name!r}; expected one of {ENVS}')


def _stack_probability(env_name: str) -> float:
  return float(np.random.uniform(0.0, 0.25)) if env_name == 'cube-double' else 0.0


def _scene_healthy(qpos: np.ndarray) -> bool:
  """The cube stays on the visible table: not past y 0.29, nor past y -0.3 unless in the drawer
  (height 0.06 to 0.08), as OGBench's scene data keeps it."""
  xyz = qpos[:, OBJECT_QPOS:OBJECT_QPOS + 3]
  outside_right = (xyz[:, 1] >= 0.29).any()
  outside_left = ((xyz[:, 1] <= -0.3) & ((xyz[:, 2] < 0.06) | (xyz[:, 2] > 0.08))).any()
  return not (outside_right or outside_left)


def _state_infos(info: dict) -> dict:
  """What relabelling a state needs: its qpos, and button states where the env has buttons."""
  kept = {'qpos': np.asarray(info['qpos'], np.float64)}
  if 'button_states' in info:
    kept['button_states'] = np.asarray(info['button_states'], np.int64)
  return kept


def play_episode(env, oracles: dict, env_name: str, steps: int, reset_seed: int) -> Episode:
  """One play episode of `steps` steps from env.reset(seed=reset_seed); the oracles draw their
  noise from numpy's global stream as it stands."""
  ob, info = env.reset(seed=reset_seed)
  stack = _stack_probability(env_name)
  oracle = oracles[info['privileged/target_task']]
  oracle.reset(ob, info)
  observations, actions, infos = [ob], [], [_state_infos(info)]
  for _ in range(steps):
    # stepped as stored (float32), so that the recorded actions replay to the recorded states
    action = np.clip(oracle.select_action(ob, info), -1.0, 1.0).astype(np.float32)
    ob, _, _, _, info = env.step(action)
    observations.append(ob)
    actions.append(action)
    infos.append(_state_infos(info))
    if oracle.done:  # the plan ran out: the env draws the next target
      target_ob, target_info = env.unwrapped.set_new_target(p_stack=stack)
      oracle = oracles[target_info['privileged/target_task']]
      oracle.reset(target_ob, target_info)
  truncations = np.zeros(steps, bool)
  truncations[-1] = True
  return Episode(np.asarray(observations, np.float32), np.asarray(actions),
                 np.zeros(steps), np.zeros(steps, bool), truncations, reset_seed,
                 infos={key: np.stack([i[key] for i in infos]) for key in infos[0]})


# Scene's r-th retry of episode k resets with seed + k + r * RETRY_STRIDE, so that every episode's
# seeds are known before any other episode runs (episodes can be made in any process, any order).
RETRY_STRIDE = 1_000_003


def play_episode_k(env, oracles: dict, env_name: str, steps: int, seed: int, k: int) -> Episode:
  """Episode k of a dataset of `seed`: reset seed + k (plus RETRY_STRIDE per scene retry), numpy's
  global stream seeded with NOISE_OFFSET + that reset seed."""
  retry = 0
  while True:
    reset_seed = seed + k + retry * RETRY_STRIDE
    np.random.seed(NOISE_OFFSET + reset_seed)
    episode = play_episode(env, oracles, env_name, steps, reset_seed)
    if env_name != 'scene' or _scene_healthy(episode.infos['qpos']):
      return episode
    retry += 1


_worker = {}  # in each worker process: its env and oracles, made once


def _start_worker(env_name: str):
  env = collection_env(env_name)
  _worker.update(env=env, oracles=_oracles(env_name, env))


def _worker_episode(job) -> Episode:
  env_name, steps, seed, k = job
  return play_episode_k(_worker['env'], _worker['oracles'], env_name, steps, seed, k)


def generate_play(env_name: str, num_steps: int = EPISODES * EPISODE_STEPS, seed: int = 0,
                  progress: Callable[[int], None] | None = None, workers: int | None = None,
                  episode_steps: int = EPISODE_STEPS) -> Iterator[Episode]:
  """Episodes of `episode_steps` steps (the last one shorter) until `num_steps` are recorded, in
  order, made by `workers` processes (default: one per core; 1: in this process). Each episode
  depends on its index alone (play_episode_k), so the data is the same for any `workers`."""
  jobs = [(env_name, min(episode_steps, num_steps - start), seed, k)
          for k, start in enumerate(range(0, num_steps, episode_steps))]
  workers = min(workers or os.cpu_count() or 1, len(jobs))
  if workers == 1:
    _start_worker(env_name)
    try:
      yield from _reported(map(_worker_episode, jobs), progress)
    finally:
      _worker.pop('env').close()
    return
  # spawn: a fresh interpreter per worker, so no MuJoCo or JAX state is inherited by fork
  with multiprocessing.get_context('spawn').Pool(workers, _start_worker, (env_name,)) as pool:
    yield from _reported(pool.imap(_worker_episode, jobs), progress)


def _reported(episodes, progress) -> Iterator[Episode]:
  for episode in episodes:
    if progress is not None:
      progress(len(episode))
    yield episode


def generate_singletask(env_name: str, task: int, play_id: str,
                        progress: Callable[[int], None] | None = None) -> Iterator[Episode]:
  """The local play dataset `play_id` with the rewards and terminals of `task`; episodes keep
  their boundaries (a play episode goes on past a success, so terminals also fall inside)."""
  import minari
  targets = task_targets(env_name, task)
  for played in minari.load_dataset(play_id).iterate_episodes():
    infos = {key: np.asarray(value) for key, value in played.infos.items()}
    rewards, terminals = relabel(targets, infos)
    if progress is not None:
      progress(len(rewards))
    yield Episode(np.asarray(played.observations, np.float32), np.asarray(played.actions),
                  rewards, terminals, np.asarray(played.truncations, bool), None)
