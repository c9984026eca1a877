"""Policy evaluation in a dataset's env: S seeds x E episodes stepped together.

Env i (seed i // E, episode i % E) is reset with seed `env_seed + i`. The S*E episodes are
played in batches of at most `batch_envs` (so 8 seeds x 100 Adroit episodes never hold 800
MuJoCo models at once); within a batch one jitted call per env step acts for all. The batches
share one pool of envs, made once and reset with each batch's seeds: making an env can cost more
than its episode (an OGBench env compiles its own MuJoCo model). The vector env autoresets, so
each env's return counts its first episode only; a batch stops once every env in it has
finished one. Scores do not depend on the batch size.
"""
import dataclasses
import time

import gymnasium as gym
import jax
import numpy as np

from dflow_jax import train
from dflow_jax.envs.make import make_eval_env
from dflow_jax.reporting import scores


class FirstEpisodes:
  """Per env, the return and length of its first episode, and whether the env reported
  `success` in it; what follows its first end (the autoreset step and any later episode) is
  ignored."""

  def __init__(self, num_envs: int):
    self.returns = np.zeros(num_envs)
    self.lengths = np.zeros(num_envs, np.int64)
    self.successes = np.zeros(num_envs, bool)
    self.done = np.zeros(num_envs, bool)

  def record(self, rewards, terminated, truncated, infos=None) -> None:
    running = ~self.done
    self.returns += np.where(running, rewards, 0.0)
    self.lengths += running
    if infos and 'success' in infos:  # the envs that say so (OGBench, gymnasium-robotics)
      reported = infos.get('_success', np.ones_like(running))
      self.successes |= running & reported & np.asarray(infos['success'], bool)
    self.done |= running & (np.asarray(terminated) | np.asarray(truncated))

  @property
  def all_done(self) -> bool:
    return bool(self.done.all())


@dataclasses.dataclass
class Rollouts:
  returns: np.ndarray  # [N] first-episode returns
  lengths: np.ndarray  # [N]
  successes: np.ndarray  # [N] bool: the env reported success during the first episode
  inference_s: float  # seconds in the policy after its first call (with the device round trip)
  first_call_s: float  # the policy's first call, which compiles it when it is new
  simulation_s: float  # seconds in env.step
  vector_steps: int  # lock-step steps of the vector env


def run_first_episodes(envs: gym.vector.VectorEnv, policy, env_seed: int) -> Rollouts:
  """Steps `envs` until each has finished an episode; env i is reset with `env_seed + i`.

  policy(observations [N, obs_dim], step) -> actions [N, action_dim], once per vector step.
  """
  observations, _ = envs.reset(seed=[env_seed + i for i in range(envs.num_envs)])
  episodes = FirstEpisodes(envs.num_envs)
  inference_s = first_call_s = simulation_s = 0.0
  step = 0
  while not episodes.all_done:
    start = time.perf_counter()
    actions = policy(observations, step)
    acted = time.perf_counter()
    observations, rewards, terminated, truncated, infos = envs.step(actions)
    if step == 0:
      first_call_s = acted - start
    else:
      inference_s += acted - start
    simulation_s += time.perf_counter() - acted
    episodes.record(rewards, terminated, truncated, infos)
    step += 1
  return Rollouts(episodes.returns, episodes.lengths, episodes.successes, inference_s,
                  first_call_s, simulation_s, step)


def agent_policy(agent, states, num_seeds: int, action_space: gym.spaces.Box, action_seed: int,
                 behavior: bool = False, rows=None,
                 total_rows: int | None = None, first_seed: int = 0, of_seeds: int | None = None):
  """The seeds' policies (or behaviour flows) over a flat batch of S*E observations, seed-major;
  actions clipped to the env's bounds (a flow is unbounded; the data's actions lie within).

  With `rows`, the observations are those of envs `rows` out of `total_rows`: the policy still
  acts for all rows (the others repeat the first observation) and returns the actions of
  `rows`, so each env draws the action noise it would draw in one batch of all envs.
  """
  base_key = jax.random.PRNGKey(action_seed)

  def policy(observations, step):
    observations = np.asarray(observations, np.float32)
    if rows is not None:
      full = np.repeat(observations[:1], total_rows, axis=0)
      full[rows] = observations
      observations = full
    per_seed = observations.reshape(num_seeds, -1, observations.shape[-1])
    actions = train.act(agent, states, per_seed, jax.random.fold_in(base_key, step),
                        behavior, first_seed, of_seeds)
    actions = np.asarray(actions).reshape(observations.shape[0], -1)
    if rows is not None:
      actions = actions[rows]
    return np.clip(actions, action_space.low, action_space.high)

  return policy


def pooled_vector_env(pool: list[gym.Env]) -> gym.vector.SyncVectorEnv:
  """A vector env over envs that already exist; closing the pool's envs is left to the caller
  (this wrapper is not closed, so the envs outlive it)."""
  return gym.vector.SyncVectorEnv([lambda env=env: env for env in pool])


def reference_range(metadata: dict) -> tuple[float, float] | None:
  refs = metadata.get('reference_scores') or {}
  if 'ref_min_score' not in refs or 'ref_max_score' not in refs:
    return None
  return float(refs['ref_min_score']), float(refs['ref_max_score'])


def evaluate(agent, states, recipe: dict, episodes: int, env_seed: int, action_seed: int,
             refs: tuple[float, float] | None = None, behavior: bool = False,
             batch_envs: int = 0, first_seed: int = 0,
             of_seeds: int | None = None) -> dict:
  """`episodes` episodes of each seed's policy: returns, lengths (and normalized) [S, E]. A
  recipe scored by success (OGBench's: `'score': 'success'`) also gives successes, and is
  normalized as 100 per successful episode, the success rate in percent; any other by `refs`.

  At most `batch_envs` envs exist at once (0: all S*E); the scores are the same for any size.
  `first_seed`, `of_seeds`: these S seeds are seeds first_seed.. of a run of `of_seeds`; they
  meet the start states and action noise they would meet there.
  """
  num_seeds = int(np.shape(states.step)[0])
  total = num_seeds * episodes
  size = min(batch_envs or total, total)
  pool, batches = [], []
  try:
    pool.extend(make_eval_env(recipe) for _ in range(size))
    for start in range(0, total, size):
      rows = np.arange(start, min(start + size, total))
      envs = pooled_vector_env(pool[:len(rows)])
      policy = agent_policy(agent, states, num_seeds, envs.single_action_space, action_seed,
                            behavior,
                            rows=None if size >= total else rows, total_rows=total,
                            first_seed=first_seed, of_seeds=of_seeds)
      batches.append(run_first_episodes(envs, policy, env_seed + first_seed * episodes + start))
  finally:
    for env in pool:
      env.close()
  first = batches[0]
  result = {'returns': np.concatenate([b.returns for b in batches]).reshape(num_seeds, episodes),
            'lengths': np.concatenate([b.lengths for b in batches]).reshape(num_seeds, episodes),

            # later batches' first calls reuse the compiled policy: ordinary inference
            'inference_s': sum(b.inference_s for b in batches)
                           + sum(b.first_call_s for b in batches[1:]),
            'first_call_s': first.first_call_s,
            'simulation_s': sum(b.simulation_s for b in batches),
            'vector_steps': sum(b.vector_steps for b in batches)}
  if recipe.get('score') == 'success':
    result['successes'] = np.concatenate([b.successes for b in batches]).reshape(num_seeds,
                                                                                 episodes)
    result['normalized'] = 100.0 * result['successes']
  elif refs is not None:
    result['normalized'] = scores.normalized(result['returns'], *refs)
  return result
