"""Evaluation throughput: env steps per second of S seeds x E episodes in one vector env.

An untrained toy-sized agent acts; the policy's inference time is measured apart from the
simulation's."""
import dataclasses
import functools

import gymnasium as gym

from benchmarks.measure import MemoryWatch
from dflow_jax import train
from dflow_jax.agents import Agent
from dflow_jax.envs import evaluation
from dflow_jax.envs.make import make_eval_env

# Eval envs that need no dataset download.
RECIPES = {
    'pointmaze': {'family': 'pointmaze', 'maze': 'umaze', 'dense': False},
    'hopper': {'family': 'mujoco', 'env': 'Hopper-v5'},
}


def _dims(recipe: dict) -> tuple[int, int]:
  env = make_eval_env(recipe)
  try:
    return env.observation_space.shape[-1], env.action_space.shape[-1]
  finally:
    env.close()


def measure_eval(agent_cfg, env_name: str, seeds: int, episodes: int,
                 horizon: int | None) -> dict:
  recipe = RECIPES[env_name]
  observation_dim, action_dim = _dims(recipe)
  agent = Agent(dataclasses.replace(agent_cfg, variant='dir'), observation_dim, action_dim)
  states = train.init_states(agent, 0, seeds)
  kwargs = {} if horizon is None else {'max_episode_steps': horizon}
  watch = MemoryWatch()
  envs = gym.vector.SyncVectorEnv(
      [functools.partial(make_eval_env, recipe, **kwargs)] * (seeds * episodes))
  try:
    policy = evaluation.agent_policy(agent, states, seeds, envs.single_action_space, 0)
    rollouts = evaluation.run_first_episodes(envs, policy, env_seed=0)
  finally:
    envs.close()
  num_envs, steps = seeds * episodes, rollouts.vector_steps
  # The first vector step's inference (compilation) is timed apart; its simulation is not.
  inference_step_s = rollouts.inference_s / max(steps - 1, 1)
  simulation_step_s = rollouts.simulation_s / steps
  return {'env': env_name, 'observation_dim': observation_dim, 'action_dim': action_dim,
          'num_envs': num_envs, 'vector_steps': steps, 'env_steps': steps * num_envs,
          'env_steps_s': num_envs / (inference_step_s + simulation_step_s),
          'inference_ms_per_vector_step': 1e3 * inference_step_s,
          'simulation_ms_per_vector_step': 1e3 * simulation_step_s,
          'simulation_us_per_env_step': 1e6 * simulation_step_s / num_envs,
          'inference_s': rollouts.inference_s, 'simulation_s': rollouts.simulation_s,
          'first_call_s': rollouts.first_call_s, 'memory': watch.read()}
