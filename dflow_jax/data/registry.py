"""Dataset ids: which can be regenerated offline, which only downloaded, and their eval envs.

Also the one line to say when a dataset is missing.

Names only: the recipes that make the regenerable ones are in dflow_jax/datagen/recipes.py, so
nothing here imports generation code or a simulator.
"""
import json

POINTMAZE_SIZES = ('umaze', 'medium', 'large')
ADROIT_TASKS = ('door', 'hammer', 'pen', 'relocate')
MUJOCO_ENVS = {'halfcheetah': 'HalfCheetah-v5', 'hopper': 'Hopper-v5', 'walker2d': 'Walker2d-v5'}
OGBENCH_ENVS = ('cube-single', 'cube-double', 'scene', 'puzzle-3x3')
OGBENCH_TASKS = (1, 2, 3, 4, 5)


def ogbench_play_id(env: str, subset: bool = False) -> str:
  """The play data of an OGBench manipulation env (the `-subset` of 50 episodes for smoke runs)."""
  return f'dflow/ogbench/{env}-play{"-subset" if subset else ""}-v0'


def ogbench_singletask_id(env: str, task: int, subset: bool = False) -> str:
  """That play data scored for one single-task goal."""
  return ogbench_play_id(env, subset).replace('-v0', f'-singletask-task{task}-v0')


def _regenerable() -> dict[str, tuple[str, tuple]]:
  """Every regenerable dataset id -> (its kind of recipe, that recipe's arguments)."""
  ids = {}
  for size in POINTMAZE_SIZES:
    for dense in (False, True):
      ids[f'dflow/pointmaze/{size}{"-dense" if dense else ""}-v2'] = ('pointmaze', (size, dense))
  for task in ADROIT_TASKS:
    ids[f'dflow/{task}/expert-v2'] = ('adroit_expert', (task,))
    ids[f'dflow/{task}/cloned-v2'] = ('adroit_cloned', (task,))
    ids[f'dflow/{task}/mixed-v2'] = ('adroit_mixed', (task,))
  ids['dflow/door/human-v2'] = ('door_human', ())
  for name in MUJOCO_ENVS:
    ids[f'dflow/mujoco/{name}/expert-v0'] = ('mujoco_expert', (name,))
    ids[f'dflow/mujoco/{name}/mixed-v0'] = ('mujoco_mixed', (name,))
  for env in OGBENCH_ENVS:
    for subset in (False, True):
      ids[ogbench_play_id(env, subset)] = ('ogbench_play', (env, subset))
      for task in OGBENCH_TASKS:
        ids[ogbench_singletask_id(env, task, subset)] = ('ogbench_singletask', (env, task, subset))
  return ids


REGENERABLE = _regenerable()
# Human demos exist offline for door only.
NOT_REPRODUCIBLE = {f'dflow/{task}/human-v2': f'D4RL/{task}/human-v2'
                    for task in ('pen', 'hammer', 'relocate')}


def local_equivalent(dataset_id: str) -> str | None:
  """The regenerable `dflow/...` id that stands in for a downloadable one, if any."""
  if dataset_id.startswith('D4RL/'):
    candidate = 'dflow/' + dataset_id[len('D4RL/'):]
  elif dataset_id.startswith('mujoco/'):
    env, _, kind = dataset_id[len('mujoco/'):].partition('/')
    candidate = f'dflow/mujoco/{env}/{kind}'
  else:
    candidate = dataset_id
  return candidate if candidate in REGENERABLE else None


def published_equivalent(dataset_id: str) -> str | None:
  """The published Minari id a regenerable `dflow/...` id stands in for (None for our own
  mixes): dflow/door/human-v2 -> D4RL/door/human-v2, dflow/mujoco/hopper/expert-v0 ->
  mujoco/hopper/expert-v0."""
  if dataset_id.startswith('dflow/mujoco/'):
    candidate = dataset_id[len('dflow/'):]
    return None if candidate.endswith('/mixed-v0') else candidate
  if dataset_id.startswith('dflow/ogbench/'):  # OGBench publishes .npz files, not Minari data
    return None
  if dataset_id.startswith('dflow/'):
    return 'D4RL/' + dataset_id[len('dflow/'):]
  return None


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


ADROIT_ENV_IDS = {f'AdroitHand{task.capitalize()}-v1': task for task in ADROIT_TASKS}


def recipe_from_env_spec(minari_metadata: dict) -> dict | None:
  """The eval-env recipe of a dataset Minari recorded, from the env spec Minari stores in it
  (its `eval_env_spec`, else its `env_spec`; None when it has neither).

  An Adroit env id gets our Adroit recipe, so that its D4RL fixes apply; any other env is
  rebuilt from the spec as recorded (`gymnasium.make(EnvSpec.from_json(...))`).
  """
  for key in ('eval_env_spec', 'env_spec'):
    spec = minari_metadata.get(key)
    if spec and spec not in ('null', 'None'):
      break
  else:
    return None
  env_id = json.loads(spec).get('id')
  if env_id in ADROIT_ENV_IDS:
    return {'family': 'adroit', 'task': ADROIT_ENV_IDS[env_id]}
  return {'family': 'env_spec', 'spec': spec, 'env_id': env_id, 'from': key}


def missing_message(dataset_id: str, root) -> str:
  """One line: why `dataset_id` is not here and the command that makes it (if any)."""
  if dataset_id.startswith('ogbench:'):
    from dflow_jax.data import ogbench_files
    return ogbench_files.missing_message(dataset_id)
  where = f'{dataset_id!r} is not in {root} (MINARI_DATASETS_PATH)'
  download = NOT_REPRODUCIBLE.get(dataset_id, dataset_id)
  if download in NOT_REPRODUCIBLE.values():
    return (f'{where} and is not reproducible offline: download {download} '
            f'with `minari download {download}` where a network exists')
  local = local_equivalent(dataset_id)
  if local == dataset_id:
    return f'{where}; regenerate it with: python -m dflow_jax.datagen generate {dataset_id}'
  if local is not None:
    return (f'{where} and cannot be downloaded here; run `minari download {dataset_id}` where a '
            f'network exists, or regenerate the local stand-in: '
            f'python -m dflow_jax.datagen generate {local}')
  return (f'{where} and cannot be regenerated here; run `minari download {dataset_id}` where a '
          'network exists and copy it into MINARI_DATASETS_PATH')
