"""The datasets this project can regenerate offline, and what to say about the others.

Each regenerable dataset has a `Recipe`: how to make its episodes, the collection env (recorded
in Minari's metadata), the recipe of its evaluation env, and its reference scores. Recipes are
built lazily, so listing them imports no simulator.
"""
import dataclasses
from collections.abc import Callable, Iterator

from dflow_jax.data.episodes import Episode

POINTMAZE_SIZES = ('umaze', 'medium', 'large')
ADROIT_TASKS = ('door', 'hammer', 'pen', 'relocate')
MUJOCO_ENVS = {'halfcheetah': 'HalfCheetah-v5', 'hopper': 'Hopper-v5', 'walker2d': 'Walker2d-v5'}


@dataclasses.dataclass
class Recipe:
  """What `python -m dflow_jax.data generate NAME` runs.

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
  from dflow_jax.data import pointmaze
  refs = pointmaze.reference_scores(size, dense)
  if not dense:
    refs['published_min'] = pointmaze.MAZES[size]['published_min']
    refs['published_max'] = pointmaze.MAZES[size]['published_max']
  return refs


def _pointmaze(size: str, dense: bool) -> Recipe:
  from dflow_jax.data import pointmaze
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
  from dflow_jax.data import shared_files
  published = shared_files.reference_table()[key]
  return {'ref_min_score': published['min'], 'ref_max_score': published['max'],
          'source': f'D4RL published REF_MIN/REF_MAX of {key}'}


def _adroit_refs(task: str, kind: str) -> dict:
  """Published refs, plus a random-policy return measured on the fixed env (100 episodes)."""
  from dflow_jax.data import adroit
  refs = _published_refs(f'{task}-{kind}-v1')
  refs['measured_random_return'] = adroit.random_return(task, 100)
  return refs


def _adroit_expert(task: str) -> Recipe:
  from dflow_jax.data import adroit
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
  from dflow_jax.data import adroit
  from dflow_jax.envs import adroit_fixes
  return Recipe(
      episodes=lambda n, seed, progress: iter(adroit.replay_door_human(progress)),
      make_env=lambda: adroit_fixes.make_adroit_env('door', max_episode_steps=300),
      default_steps=6729, fixed_size=True,
      eval_env={'family': 'adroit', 'task': 'door'},
      reference_scores=lambda: _adroit_refs('door', 'human'),
      description='Adroit door: the 25 DAPG human demonstrations replayed open loop from their '
                  'initial states (D4RL human procedure), regenerated offline')


def _door_cloned() -> Recipe:
  from dflow_jax.data import door_cloned
  from dflow_jax.envs import adroit_fixes
  return Recipe(
      episodes=lambda n, seed, progress: door_cloned.generate_door_cloned(n, seed, progress),
      make_env=lambda: adroit_fixes.make_adroit_env('door', max_episode_steps=300),
      default_steps=1_000_000,
      eval_env={'family': 'adroit', 'task': 'door'},
      reference_scores=lambda: _adroit_refs('door', 'cloned'),
      description='Adroit door: half rollouts of a BC policy trained on the human demos, half '
                  'the demos tiled (D4RL cloned procedure), regenerated offline')


def _mujoco_expert(name: str) -> Recipe:
  import gymnasium as gym

  from dflow_jax.data import gym_mujoco
  return Recipe(
      episodes=lambda n, seed, progress: gym_mujoco.generate_expert(
          name, max(1, n // 1000), seed, progress),
      make_env=lambda: gym.make(MUJOCO_ENVS[name]),
      default_steps=1_000_000,
      eval_env={'family': 'mujoco', 'env': MUJOCO_ENVS[name]},
      reference_scores=lambda: _published_refs(f'{name}-expert-v2'),
      description=f'{MUJOCO_ENVS[name]}: sampled actions of a TQC expert, regenerated offline')


def _mujoco_mixed_refs(name: str) -> dict:
  """D4RL publishes one REF_MIN / REF_MAX per env, the same for each of its datasets; full-replay
  (random to expert) is the published kind closest to mixed quality."""
  refs = _published_refs(f'{name}-full-replay-v2')
  refs['source'] += f' (the same for every {name}-*-v2 dataset)'
  return refs


def _mujoco_mixed(name: str) -> Recipe:
  import gymnasium as gym

  from dflow_jax.data import gym_mujoco
  return Recipe(
      episodes=lambda n, seed, progress: gym_mujoco.generate_mixed(name, n, seed, progress),
      make_env=lambda: gym.make(MUJOCO_ENVS[name]),
      default_steps=1_000_000,
      eval_env={'family': 'mujoco', 'env': MUJOCO_ENVS[name]},
      reference_scores=lambda: _mujoco_mixed_refs(name),
      description=f'{MUJOCO_ENVS[name]}: mixed quality, a TQC expert\'s deterministic actions plus '
                  'Gaussian noise of a per-episode scale drawn from U[0, 1] (returns from poor to '
                  'expert), regenerated offline')


def _builders() -> dict[str, Callable[[], Recipe]]:
  builders = {}
  for size in POINTMAZE_SIZES:
    for dense in (False, True):
      name = f'dflow/pointmaze/{size}{"-dense" if dense else ""}-v2'
      builders[name] = lambda size=size, dense=dense: _pointmaze(size, dense)
  for task in ADROIT_TASKS:
    builders[f'dflow/{task}/expert-v2'] = lambda task=task: _adroit_expert(task)
  builders['dflow/door/human-v2'] = _door_human
  builders['dflow/door/cloned-v2'] = _door_cloned
  for name in MUJOCO_ENVS:
    builders[f'dflow/mujoco/{name}/expert-v0'] = lambda name=name: _mujoco_expert(name)
    builders[f'dflow/mujoco/{name}/mixed-v0'] = lambda name=name: _mujoco_mixed(name)
  return builders


BUILDERS = _builders()
NOT_REPRODUCIBLE = {f'dflow/{task}/{kind}-v2': f'D4RL/{task}/{kind}-v2'
                    for task in ('pen', 'hammer', 'relocate') for kind in ('human', 'cloned')}


def recipe(name: str) -> Recipe:
  return BUILDERS[name]()


def local_equivalent(dataset_id: str) -> str | None:
  """The regenerable `dflow/...` id that stands in for a downloadable one, if any."""
  if dataset_id.startswith('D4RL/'):
    candidate = 'dflow/' + dataset_id[len('D4RL/'):]
  elif dataset_id.startswith('mujoco/'):
    env, _, kind = dataset_id[len('mujoco/'):].partition('/')
    candidate = f'dflow/mujoco/{env}/{kind}'
  else:
    candidate = dataset_id
  return candidate if candidate in BUILDERS else None


def eval_env_of(dataset_id: str) -> dict | None:
  """The eval-env recipe of a downloaded Minari dataset, from its id (None if unknown).

  Our regenerated datasets record theirs in their metadata; a downloaded one is recognised by
  its Minari id, so that it is evaluated in the same env, with the same D4RL fixes.
  """
  parts = dataset_id.split('/')
  if len(parts) != 3:
    return None
  namespace, task, version = parts
  if namespace == 'D4RL' and task == 'pointmaze':
    size, dense = version.split('-')[0], '-dense-' in version
    return {'family': 'pointmaze', 'maze': size, 'dense': dense} if size in POINTMAZE_SIZES \
        else None
  if namespace == 'D4RL' and task in ADROIT_TASKS:
    return {'family': 'adroit', 'task': task}
  if namespace == 'mujoco' and task in MUJOCO_ENVS:
    return {'family': 'mujoco', 'env': MUJOCO_ENVS[task]}
  return None


def missing_message(dataset_id: str, root) -> str:
  """One line: why `dataset_id` is not here and the command that makes it (if any)."""
  where = f'{dataset_id!r} is not in {root} (MINARI_DATASETS_PATH)'
  download = NOT_REPRODUCIBLE.get(dataset_id, dataset_id)
  if download in NOT_REPRODUCIBLE.values():
    return (f'{where} and is not reproducible offline: download {download} '
            f'with `minari download {download}` where a network exists')
  local = local_equivalent(dataset_id)
  if local == dataset_id:
    return f'{where}; regenerate it with: python -m dflow_jax.data generate {dataset_id}'
  if local is not None:
    return (f'{where} and cannot be downloaded here; run `minari download {dataset_id}` where a '
            f'network exists, or regenerate the local stand-in: '
            f'python -m dflow_jax.data generate {local}')
  return (f'{where} and cannot be regenerated here; run `minari download {dataset_id}` where a '
          'network exists and copy it into MINARI_DATASETS_PATH')
