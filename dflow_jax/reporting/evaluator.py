"""Evaluating a run in its dataset's env, the same way during training and from a workdir.

Seeds: every evaluation of a run starts its envs from the same states (env seeds depend on the
run's seed only), so scores at different steps differ by the policy and not by the start
states; the action noise depends on the run's seed and the step. Neither touches the training
rng, so evaluating never changes training.

Validation and test: each evaluation may also play `validation_episodes` per seed from env seeds
disjoint from the scored (test) episodes' by construction (`validation_seeds`). Whatever picks a
setting (sweep_report, compare's `RUN:best`) reads the validation episodes only, and the test
score of that choice is what gets reported.
"""
import json
import os

import jax
import numpy as np

from dflow_jax import data, sweep, train
from dflow_jax.envs import evaluation
from dflow_jax.reporting import scores
from dflow_jax.reporting.report import format_table, per_seed_table
from dflow_jax.runtime import devices

EVAL_DIR = 'eval'
_EVAL_STREAM = 0xE7A1  # keeps the evaluation seeds apart from any other use of the run's seed
_VALIDATION_STREAM = 0x7A11D
# Test envs are reset with env seeds in [0, 2**32 + N) for N envs (a 32-bit start plus the env's
# index); validation envs with seeds from 2**33 + their own 32-bit start on, so the two sets
# cannot meet for any N < 2**32.
VALIDATION_OFFSET = 2**33


def eval_seeds(run_seed: int, step: int) -> tuple[int, int]:
  """(env seed, action seed) of the evaluation of a run at `step`."""
  env_seed = np.random.SeedSequence([run_seed, _EVAL_STREAM]).generate_state(1)[0]
  action_seed = np.random.SeedSequence([run_seed, _EVAL_STREAM, step]).generate_state(1)[0]
  return int(env_seed), int(action_seed)


def validation_seeds(run_seed: int, step: int) -> tuple[int, int]:
  """(env seed, action seed) of the validation episodes at `step`: env seeds disjoint from every
  test episode's (VALIDATION_OFFSET), action noise from a stream of its own."""
  env_seed = np.random.SeedSequence([run_seed, _VALIDATION_STREAM]).generate_state(1)[0]
  action_seed = np.random.SeedSequence([run_seed, _VALIDATION_STREAM, step]).generate_state(1)[0]
  return VALIDATION_OFFSET + int(env_seed), int(action_seed)


def eval_recipe(dataset: str, meta: dict) -> tuple[dict | None, str | None]:
  """(the eval-env recipe in a dataset's metadata, None), or (None, why it has none usable)."""
  recipe = meta.get('eval_env')
  if not recipe:
    return None, (f'{dataset} names no env to evaluate in (no eval_env recipe of ours, no env '
                  'spec of Minari\'s, no published id we know)')
  if recipe.get('family') != 'env_spec':
    return recipe, None
  name = f'its env {recipe["env_id"]} (from the {recipe["from"]} Minari recorded)'
  if json.loads(recipe['spec']).get('max_episode_steps') is None:
    return None, f'{name} has no time limit, so an episode may never end'
  try:
    evaluation.make_eval_env(recipe).close()
  except Exception as e:  # whatever stops it: a package not installed, an entry point gone
    return None, f'{name} cannot be rebuilt here: {type(e).__name__}: {e}'
  return recipe, None


def decision_flow_start(config) -> int:
  """The step u_theta is copied from u_nu; evaluations before it act with the behaviour flow."""
  return train.Schedule.of(config).df_start


class Evaluator:
  """Evaluates seed-stacked states of one run in the eval env of its Minari dataset."""

  def __init__(self, agent, recipe: dict, refs, run_seed: int, df_start: int,
               batch_envs: int = 0, num_settings: int = 1):
    self.agent, self.recipe, self.refs = agent, recipe, refs
    self.run_seed, self.df_start = run_seed, df_start
    self.batch_envs, self.num_settings = batch_envs, num_settings

  @classmethod
  def for_run(cls, config, agent, log=print):
    """None for datasets without an eval env: the toy tasks, and a dataset whose env cannot be
    rebuilt (which `log` says, once)."""
    if config.dataset in data.IN_MEMORY or not data.is_local(config.dataset):
      return None
    meta = data.metadata(config.dataset)
    recipe, reason = eval_recipe(config.dataset, meta)
    if recipe is None:
      log(f'not evaluated in an env: {reason}; the run trains and saves checkpoints, and '
          'prints no score')
      return None
    return cls(agent, recipe, evaluation.reference_range(meta), config.seed,
               decision_flow_start(config), config.eval_batch_envs, sweep.num_settings(config))

  def __call__(self, states, step: int, episodes: int, validation_episodes: int = 0) -> dict:
    """Every agent's test episodes ([A, E] arrays) and, with `validation_episodes`, its
    validation episodes under 'validation' (the same keys, [A, V]). A sweep's settings are
    evaluated one after another, each as a separate run of it would be: from the same env and
    action seeds. With several processes each host steps the envs of the agents it holds, and
    every process gets all the results (all must call this together)."""
    # Before Decision Flow starts, u_theta is untrained: the flow being learnt is u_nu.
    behavior = step < self.df_start
    env_seed, action_seed = eval_seeds(self.run_seed, step)
    result = self._play(states, episodes, env_seed, action_seed, behavior)
    if validation_episodes:
      val_env_seed, val_action_seed = validation_seeds(self.run_seed, step)
      validation = self._play(states, validation_episodes, val_env_seed, val_action_seed,
                              behavior)
      result['validation'] = {**{key: validation[key] for key in _PER_AGENT if key in validation},
                              'episodes': validation_episodes, 'env_seed': val_env_seed,
                              'action_seed': val_action_seed}
    return {**result, 'step': step, 'episodes': episodes, 'behavior': behavior,
            'env_seed': env_seed, 'action_seed': action_seed}

  def _play(self, states, episodes: int, env_seed: int, action_seed: int, behavior: bool) -> dict:
    num_seeds = int(np.shape(states.step)[0]) // self.num_settings
    first, local = devices.local_agents(states)
    end = first + int(np.shape(local.step)[0])
    parts = []
    for k in range(first // num_seeds, (end - 1) // num_seeds + 1):  # settings held here
      low, high = max(first, k * num_seeds), min(end, (k + 1) * num_seeds)
      held = jax.tree.map(lambda x, low=low, high=high: x[low - first:high - first], local)
      parts.append(evaluation.evaluate(
          self.agent, held, self.recipe, episodes, env_seed, action_seed, self.refs,
          behavior=behavior, batch_envs=self.batch_envs,
          first_seed=low - k * num_seeds, of_seeds=num_seeds))
    result = {key: (np.concatenate([p[key] for p in parts]) if key in _PER_AGENT
                    else parts[0][key] if key == 'first_call_s' else sum(p[key] for p in parts))
              for key in parts[0]}
    # Later settings' first calls reuse the compiled policy: ordinary inference.
    result['inference_s'] += sum(p['first_call_s'] for p in parts[1:])
    if jax.process_count() > 1:  # this host's timings; every agent's scores
      result.update(devices.to_host({key: result[key] for key in _PER_AGENT if key in result}))
    return result


_PER_AGENT = ('returns', 'lengths', 'normalized', 'successes')


def setting_result(result: dict, setting: int, num_seeds: int) -> dict:
  """The part of an evaluation (`Evaluator`'s result) that is one setting's seeds."""
  def part(values):
    return {key: value[setting * num_seeds:(setting + 1) * num_seeds] if key in _PER_AGENT
            else part(value) if key == 'validation' else value for key, value in values.items()}
  return part(result)


def headline(result: dict) -> str:
  """The number to watch: mean over seeds of the normalised score (or of the return)."""
  if 'normalized' in result:
    return f'score {np.mean(result["normalized"]):.1f}'
  return f'return {np.mean(result["returns"]):.1f}'


def per_seed_means(result: dict) -> dict:
  """Per seed, the mean over its episodes: {'return', ['normalized'], 'length'}: [S]."""
  means = {'return': result['returns'].mean(axis=1)}
  if 'normalized' in result:
    means['normalized'] = result['normalized'].mean(axis=1)
  means['length'] = result['lengths'].mean(axis=1)
  return means


def save_record(workdir: str, result: dict, name: str | None = None) -> str:
  """Raw per-episode numbers in `workdir/eval/<name>.npz` (default `step_<N>`)."""
  directory = os.path.join(workdir, EVAL_DIR)
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, f'{name or "step_" + str(result["step"])}.npz')
  arrays = {k: result[k] for k in _PER_AGENT if k in result}
  validation = result.get('validation')
  if validation:  # under val_*: readers of the test arrays see them as before
    arrays.update({f'val_{k}': validation[k] for k in _PER_AGENT if k in validation})
    arrays.update(val_env_seed=validation['env_seed'], val_action_seed=validation['action_seed'])
  np.savez(path, step=result['step'], behavior=result['behavior'], env_seed=result['env_seed'],
           action_seed=result['action_seed'], **arrays)
  return path


def read_validation(record) -> dict | None:
  """The validation part of a saved evaluation record (an npz), as Evaluator returns it."""
  if 'val_returns' not in record:
    return None
  return {**{k: record[f'val_{k}'] for k in _PER_AGENT if f'val_{k}' in record},
          'episodes': record['val_returns'].shape[1], 'env_seed': int(record['val_env_seed']),
          'action_seed': int(record['val_action_seed'])}


def summary(result: dict) -> dict:
  """Per-seed means and the aggregate over seeds of the headline score (JSON-able); with
  validation episodes, theirs under 'validation'."""
  means = per_seed_means(result)
  key = 'normalized' if 'normalized' in means else 'return'
  saved = {'step': result['step'], 'episodes': result['episodes'], 'score': key,
           'aggregate': scores.aggregate(means[key]),
           **{k: v.tolist() for k, v in means.items()}}
  validation = result.get('validation')
  if validation:
    val_means = per_seed_means(validation)
    saved['validation'] = {'episodes': validation['episodes'],
                           'aggregate': scores.aggregate(val_means[key]),
                           **{k: v.tolist() for k, v in val_means.items()}}
  return saved


def summary_text(result: dict) -> str:
  """The per-seed table, the aggregate over seeds, and where the time went."""
  means, agg = per_seed_means(result), summary(result)
  num_seeds = len(means['return'])
  acting = 'behaviour flow' if result['behavior'] else 'policy'
  a = agg['aggregate']
  steps = result['vector_steps']
  scored = ' (normalized: the success rate in %)' if 'successes' in result else ''
  return '\n'.join([
      f'{acting} at step {result["step"]}, {result["episodes"]} episodes per seed{scored}:',
      per_seed_table(means, list(means)),
      f'over the {num_seeds} per-seed means (IQM: interquartile mean; CI: 95% percentile '
      f'bootstrap over seeds):',
      format_table({agg['score']: a}, list(a), row_label='aggregate'),
      *_validation_line(agg),
      f'time over {steps} steps of {result["returns"].size} envs: policy '
      f'{1e3 * result["inference_s"] / max(steps - 1, 1):.2f} ms per step (first call '
      f'{result["first_call_s"]:.1f} s), simulation '
      f'{1e3 * result["simulation_s"] / max(steps, 1):.2f} ms per step'])


def _validation_line(agg: dict) -> list:
  if 'validation' not in agg:
    return []
  v = agg['validation']
  a = v['aggregate']
  return [f'validation ({v["episodes"]} other episodes per seed, for choosing settings): '
          f'{agg["score"]} mean {a["mean"]:.2f} [{a["ci_low"]:.2f}, {a["ci_high"]:.2f}]']


def write_markdown(path: str, dataset: str, result: dict, config=None) -> None:
  """The summary of `result`; for a sweep (`config` given), one block per setting."""
  grid = sweep.settings(config) if config is not None else [{}]
  blocks = [f'# Evaluation of {dataset}\n']
  for k, setting in enumerate(grid):
    part = setting_result(result, k, len(result['returns']) // len(grid))
    heading = f'## Setting {k}: {sweep.label(setting)}\n\n' if setting else ''
    blocks.append(f'{heading}```\n{summary_text(part)}\n```\n')
  with open(path, 'w') as f:
    f.write('\n'.join(blocks))
