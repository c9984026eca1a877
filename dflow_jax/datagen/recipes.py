"""How each regenerable dataset is made: its `Recipe`, by the dataset ids of data/registry.py.

A recipe gives the episodes, the collection env, the eval env recipe and the reference scores.

Recipes are built lazily, so listing them imports no simulator.
"""
import dataclasses
import functools
from collections.abc import Callable, Iterator

from dflow_jax.data import registry
from dflow_jax.datagen.episodes import Episode


@dataclasses.dataclass
class Recipe:
  """What `python -m dflow_jax.datagen generate NAME` runs.

  episodes(num_steps, seed, progress) yields the episodes; progress(n) is told each episode's
    length as it finishes.
  eval_env: JSON-able recipe that `dflow_jax.envs` turns back into the evaluation env.
  """
  episodes: Callable[[int, int, Callable[[int], None]], Iterator[Episode]]
  make_env: Callable  # () -> the env the data was collected in
  default_steps: int
  eval_env: dict
  reference_scores: Callable[[], dict]  # -> ref_min_score, ref_max_score and what they came from
  description: str
  fixed_size: bool = False  # replayed demonstrations: --steps does not apply


def _pointmaze_refs(size: str, dense: bool) -> dict:
  """Measured by the same code (random policy, noise-free controller; 100 episodes each on the
  eval env), with Minari's published sparse values beside them for comparison."""
  from dflow_jax.datagen import pointmaze
  refs = pointmaze.reference_scores(size, dense)
  if not dense:
    refs.update(pointmaze.PUBLISHED_REFS[size])
  return refs


def _pointmaze(size: str, dense: bool) -> Recipe:
  from dflow_jax.datagen import pointmaze
  return Recipe(
      episodes=lambda n, seed, progress: pointmaze.generate(size, dense, n, seed, progress),
      make_env=lambda: pointmaze.make_collection_env(size, dense, 0),
      default_steps=1_000_000,
      eval_env={'family': 'pointmaze', 'maze': size, 'dense': dense},
      reference_scores=lambda: _pointmaze_refs(size, dense),
      description=f'PointMaze {size}{" dense" if dense else ""}: noisy waypoint controller '
                  'over a grid planner (Minari D4RL/pointmaze procedure), regenerated offline')


def _published_refs(key: str) -> dict:
  """D4RL's REF_MIN / REF_MAX for `key` (e.g. 'hopper-expert-v2'), from shared/data."""
  from dflow_jax.datagen import shared_files
  published = shared_files.reference_table()[key]
  return {'ref_min_score': published['min'], 'ref_max_score': published['max'],
          'source': f'D4RL published REF_MIN/REF_MAX of {key}'}


def _adroit_refs(task: str, kind: str) -> dict:
  """Published refs, plus a random-policy return measured on the fixed env (100 episodes)."""
  from dflow_jax.datagen import adroit
  refs = _published_refs(f'{task}-{kind}-v1')
  refs['measured_random_return'] = adroit.random_return(task, 100)
  return refs


def _adroit_expert(task: str) -> Recipe:
  from dflow_jax.datagen import adroit
  from dflow_jax.envs import adroit_fixes
  horizon = 100 if task == 'pen' else 200
  return Recipe(
      episodes=lambda n, seed, progress: adroit.generate_expert(
          task, max(1, n // horizon), seed, progress),
      make_env=lambda: adroit_fixes.make_adroit_env(task),
      default_steps=5000 * horizon,
      eval_env={'family': 'adroit', 'task': task},
      reference_scores=lambda: _adroit_refs(task, 'expert'),
      description=f'Adroit {task}: sampled actions of the DAPG expert (D4RL expert procedure), '
                  'regenerated offline')


def _door_human() -> Recipe:
  from dflow_jax.datagen import adroit
  from dflow_jax.envs import adroit_fixes
  return Recipe(
      episodes=lambda n, seed, progress: iter(adroit.replay_door_human(progress)),
      make_env=lambda: adroit_fixes.make_adroit_env('door', max_episode_steps=300),
      default_steps=6729, fixed_size=True,
      eval_env={'family': 'adroit', 'task': 'door'},
      reference_scores=lambda: _adroit_refs('door', 'human'),
      description='Adroit door: the 25 DAPG human demonstrations replayed open loop from their '
                  'initial states (D4RL human procedure), regenerated offline')


def _adroit_cloned(task: str) -> Recipe:
  from dflow_jax.datagen import adroit_cloned
  from dflow_jax.envs import adroit_fixes
  demos = ('the 25 human demos' if task == 'door' else
           f'{adroit_cloned.CLONED_DEMOS} DAPG expert episodes (no human demos offline; a stand-in '
           'for D4RL\'s)')
  return Recipe(
      episodes=lambda n, seed, progress: adroit_cloned.generate_cloned(task, n, seed, progress),
      # door's human demos run up to 300 steps
      make_env=lambda: adroit_fixes.make_adroit_env(
          task, max_episode_steps=300 if task == 'door' else None),
      default_steps=1_000_000,
      eval_env={'family': 'adroit', 'task': task},
      reference_scores=lambda: _adroit_refs(task, 'cloned'),
      description=f'Adroit {task}: half rollouts of a BC policy trained on {demos}, half those '
                  'demos tiled (D4RL cloned procedure), regenerated offline')


def _adroit_mixed(task: str) -> Recipe:
  from dflow_jax.datagen import adroit
  from dflow_jax.envs import adroit_fixes
  return Recipe(
      episodes=lambda n, seed, progress: adroit.generate_mixed(task, n, seed, progress),
      make_env=lambda: adroit_fixes.make_adroit_env(task),
      default_steps=1_000_000,
      eval_env={'family': 'adroit', 'task': task},
      reference_scores=lambda: _adroit_refs(task, 'expert'),
      description=f'Adroit {task}: mixed quality, the DAPG expert\'s mean action plus Gaussian '
                  f'noise of a per-episode scale drawn from U[0, {adroit.MIXED_MAX_NOISE}] (returns '
                  'from failure to expert), regenerated offline')


def _mujoco_expert(name: str) -> Recipe:
  import gymnasium as gym

  from dflow_jax.datagen import gym_mujoco
  return Recipe(
      episodes=lambda n, seed, progress: gym_mujoco.generate_expert(
          name, max(1, n // 1000), seed, progress),
      make_env=lambda: gym.make(registry.MUJOCO_ENVS[name]),
      default_steps=1_000_000,
      eval_env={'family': 'mujoco', 'env': registry.MUJOCO_ENVS[name]},
      reference_scores=lambda: _published_refs(f'{name}-expert-v2'),
      description=f'{registry.MUJOCO_ENVS[name]}: sampled actions of a TQC expert, regenerated offline')


def _mujoco_mixed_refs(name: str) -> dict:
  """D4RL publishes one REF_MIN / REF_MAX per env, the same for each of its datasets; full-replay
  (random to expert) is the published kind closest to mixed quality."""
  refs = _published_refs(f'{name}-full-replay-v2')
  refs['source'] += f' (the same for every {name}-*-v2 dataset)'
  return refs


def _mujoco_mixed(name: str) -> Recipe:
  import gymnasium as gym

  from dflow_jax.datagen import gym_mujoco
  return Recipe(
      episodes=lambda n, seed, progress: gym_mujoco.generate_mixed(name, n, seed, progress),
      make_env=lambda: gym.make(registry.MUJOCO_ENVS[name]),
      default_steps=1_000_000,
      eval_env={'family': 'mujoco', 'env': registry.MUJOCO_ENVS[name]},
      reference_scores=lambda: _mujoco_mixed_refs(name),
      description=f'{registry.MUJOCO_ENVS[name]}: mixed quality, a TQC expert\'s deterministic actions plus '
                  'Gaussian noise of a per-episode scale drawn from U[0, 1] (returns from poor to '
                  'expert), regenerated offline')


def _ogbench_play(env: str, subset: bool) -> Recipe:
  from dflow_jax.datagen import ogbench_play
  from dflow_jax.envs import ogbench_envs
  episodes = ogbench_play.SUBSET_EPISODES if subset else ogbench_play.EPISODES
  task = ogbench_envs.DEFAULT_TASKS[env]
  return Recipe(
      episodes=lambda n, seed, progress: ogbench_play.generate_play(env, n, seed, progress),
      make_env=lambda: ogbench_play.collection_env(env),
      default_steps=episodes * ogbench_play.EPISODE_STEPS,
      eval_env=_ogbench_eval_env(env, task),
      reference_scores=dict,
      description=f'OGBench {env} play data: its plan oracles chaining random tasks with smoothed '
                  f'noise (OGBench play procedure), regenerated offline; no reward (relabelled per '
                  f'task by the singletask datasets){_subset_note(subset, episodes)}')


def _ogbench_eval_env(env: str, task: int) -> dict:
  from dflow_jax.envs import ogbench_envs
  return {'family': 'ogbench', 'env': ogbench_envs.singletask_env_id(env, task),
          'score': 'success'}


def _subset_note(subset: bool, episodes: int) -> str:
  return f'; a SUBSET of {episodes} episodes for smoke runs, not the published size' if subset \
      else ''


def _ogbench_singletask(env: str, task: int, subset: bool) -> Recipe:
  from dflow_jax.datagen import first_use, ogbench_play
  from dflow_jax.envs import ogbench_envs
  play_id = registry.ogbench_play_id(env, subset)
  episodes = ogbench_play.SUBSET_EPISODES if subset else ogbench_play.EPISODES

  def relabelled(n, seed, progress):
    first_use.obtain(play_id)  # the play data, made first where it is not local
    return ogbench_play.generate_singletask(env, task, play_id, progress)
  return Recipe(
      episodes=relabelled,
      make_env=lambda: ogbench_envs.singletask_env(env, task),
      default_steps=episodes * ogbench_play.EPISODE_STEPS, fixed_size=True,
      eval_env=_ogbench_eval_env(env, task),
      reference_scores=dict,
      description=f'OGBench {env} task {task}: {play_id} with the rewards and terminals of '
                  f'{ogbench_envs.singletask_env_id(env, task)}, regenerated offline'
                  f'{_subset_note(subset, episodes)}')


_RECIPE_KINDS = {'pointmaze': _pointmaze, 'adroit_expert': _adroit_expert,
                 'door_human': _door_human, 'adroit_cloned': _adroit_cloned,
                 'adroit_mixed': _adroit_mixed,
                 'mujoco_expert': _mujoco_expert, 'mujoco_mixed': _mujoco_mixed,
                 'ogbench_play': _ogbench_play, 'ogbench_singletask': _ogbench_singletask}
# dataset id -> () -> its Recipe
BUILDERS: dict[str, Callable[[], Recipe]] = {
    name: functools.partial(_RECIPE_KINDS[kind], *args)
    for name, (kind, args) in registry.REGENERABLE.items()}


def recipe(name: str) -> Recipe:
  return BUILDERS[name]()


# Where the shared/data files come from (see its README): converted weights and demos, with the
# licence their copyright notice travels under.
SHARED_SOURCES = {
    'adroit/': 'DAPG policies and demos converted from github.com/aravindr93/hand_dapg '
               '(Apache-2.0)',
    'mujoco/': 'TQC actors converted from github.com/DLR-RM/rl-trained-agents (MIT)',
    'reference_scores.json': "D4RL's published REF_MIN/REF_MAX (Farama-Foundation/D4RL, "
                             'Apache-2.0)',
}


def shared_files_needed(name: str) -> tuple[str, ...]:
  """The shared/data files (relative paths) that regenerating `name` reads; known without
  building the recipe, which imports the simulators."""
  kind, args = registry.REGENERABLE[name]
  if kind in ('adroit_expert', 'adroit_mixed') or (kind == 'adroit_cloned' and args[0] != 'door'):
    return (f'adroit/dapg_{args[0]}.npz', 'reference_scores.json')
  if kind in ('door_human', 'adroit_cloned'):
    return ('adroit/door_human_demos.npz', 'reference_scores.json')
  if kind in ('mujoco_expert', 'mujoco_mixed'):
    return (f'mujoco/tqc_{args[0]}.npz', 'reference_scores.json')
  return ()
