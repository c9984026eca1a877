"""Datasets: every source ends as an on-device `Transitions`."""
import contextlib
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from dflow_jax.data import finite, minari_io, ogbench_files, registry, toy
from dflow_jax.data.rewards import apply_convention, convention_transform
from dflow_jax.data.transitions import Transitions
from dflow_jax.errors import DatasetError


class InMemoryTask(NamedTuple):
  generate: Callable[..., Transitions]  # (seed=...) -> Transitions
  metrics: Callable | None = None  # actions [..., N, action_dim] -> {name: [...]}
  # Metrics to follow over training (logged at every chunk end, drawn in learning_curves.png),
  # each with its panel title.
  curves: tuple[tuple[str, str], ...] = ()


# Datasets generated in memory from a seed, by name.
IN_MEMORY = {'toy/bandit': InMemoryTask(
    toy.bandit, toy.bandit_metrics,
    curves=(('mass_mode3', 'mass on the best mode'), ('true_reward', 'true reward'),
            ('off_support', 'fraction off the data')))}


@contextlib.contextmanager
def _readable(name: str):
  """Turns any failure to read a local Minari dataset (cut HDF5, garbage metadata.json, a
  missing file) into one DatasetError line naming the folder and how to remake it."""
  try:
    yield
  except Exception as e:  # h5py, json and Minari raise many types for a damaged dataset
    reason = ' '.join(str(e).split())[:160] or type(e).__name__
    remake = (f'python -m dflow_jax.datagen generate {name}' if name in registry.REGENERABLE
              else f'minari download {name}')
    raise DatasetError(f'dataset {name} in {minari_io.dataset_path(name)} cannot be read '
                       f'({type(e).__name__}: {reason}): delete that folder and remake it with '
                       f'`{remake}`') from None


def load(name: str, seed: int = 0, reward_convention: str = 'none', drop_nonfinite: bool = False,
         log=print) -> Transitions:
  """The on-device transitions of a toy task (generated from `seed`) or a local Minari dataset.

  A Minari dataset that is not local fails at once with one line saying how to get it; nothing
  here downloads. Transitions with nan or inf values are refused in one line, or dropped with
  `drop_nonfinite` (data/finite.py).
  """
  if name in IN_MEMORY:
    generated = IN_MEMORY[name].generate(seed=seed)
    arrays = {key: np.asarray(getattr(generated, key)) for key in Transitions.__dataclass_fields__}
    kept = finite.check_or_drop(name, arrays, drop_nonfinite, log)
    if kept is arrays:
      return generated
    return Transitions(**{key: jnp.asarray(value) for key, value in kept.items()})
  if ogbench_files.is_ogbench(name):  # OGBench's own published file, where it is here
    arrays = finite.check_or_drop(name, ogbench_files.read_transitions(name), drop_nonfinite, log)
    starts = np.flatnonzero(np.concatenate([[1.0], arrays['timeouts'][:-1]]))
    returns = np.add.reduceat(arrays['rewards'], starts) if len(starts) else []
    arrays['rewards'] = apply_convention(arrays['rewards'], returns, reward_convention)
    return Transitions(**{key: jnp.asarray(value) for key, value in arrays.items()})
  if '/' not in name or name.startswith('toy/'):
    raise DatasetError(f'unknown dataset {name!r}: use a toy task '
                       f'({", ".join(sorted(IN_MEMORY))}) or a Minari id such as '
                       "'dflow/pointmaze/umaze-v2'")
  if not minari_io.is_local(name):
    raise DatasetError(registry.missing_message(name, minari_io.datasets_root()))
  with _readable(name):
    arrays, _, returns = minari_io.read_transitions(name)
  arrays = finite.check_or_drop(name, arrays, drop_nonfinite, log)
  # An episode with a dropped nan reward has a nan return; the scale comes from the others.
  returns = [r for r in returns if np.isfinite(r)]
  arrays['rewards'] = apply_convention(arrays['rewards'], returns, reward_convention)
  return Transitions(**{key: jnp.asarray(value) for key, value in arrays.items()})


def is_local(name: str) -> bool:
  """Whether the files of dataset `name` are here: a Minari id under MINARI_DATASETS_PATH, or an
  `ogbench:` id's published file (data/ogbench_files.py)."""
  if ogbench_files.is_ogbench(name):
    return ogbench_files.is_local(name)
  return minari_io.is_local(name)


def reward_transform(name: str, reward_convention: str):
  """Raw rewards -> the units `load(name, reward_convention=...)` trains on (a local dataset)."""
  if reward_convention == 'none':
    return convention_transform([], 'none')
  with _readable(name):
    _, _, returns = minari_io.read_transitions(name)
  return convention_transform([r for r in returns if np.isfinite(r)], reward_convention)


def metadata(name: str) -> dict:
  """Our metadata of a local Minari dataset (eval env recipe, reference scores, provenance).

  A downloaded dataset has none of ours: its eval env comes from its id (a published one) or
  else from the env spec Minari recorded in it, and its reference scores from Minari's own
  metadata, so it is evaluated, and normalised where it has them, like a regenerated one.
  """
  if name in IN_MEMORY:
    return {}
  if ogbench_files.is_ogbench(name):
    return {'eval_env': ogbench_files.eval_env(name), 'reference_scores': {}}
  with _readable(name):
    minari_meta = minari_io.read_metadata(name)
  if minari_io.DFLOW_KEY in minari_meta:
    return minari_meta[minari_io.DFLOW_KEY]
  refs = {k: minari_meta[k] for k in ('ref_min_score', 'ref_max_score')
          if minari_meta.get(k) is not None}
  if refs:
    refs['source'] = 'the Minari dataset\'s metadata'
  recipe = registry.eval_env_of(name) or registry.recipe_from_env_spec(minari_meta)
  return {'eval_env': recipe, 'reference_scores': refs}


__all__ = ['DatasetError', 'IN_MEMORY', 'InMemoryTask', 'Transitions', 'is_local', 'load',
           'metadata', 'reward_transform']
