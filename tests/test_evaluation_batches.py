"""Evaluation in batches of envs scores the same as one batch, and toy runs evaluate from a
workdir with the numbers training printed."""
import numpy as np
import pytest

from dflow_jax import train
from dflow_jax.agents import Agent
from dflow_jax.config import agent_config
from dflow_jax.envs.evaluation import evaluate
from dflow_jax.envs.make import make_eval_env
from tests.conftest import tiny_config

# An untrained flow's hopper falls within tens of steps: short episodes of varied returns.
HOPPER = {'family': 'mujoco', 'env': 'Hopper-v5'}


def test_batch_size_does_not_change_scores():
  env = make_eval_env(HOPPER)
  observation_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
  env.close()
  config = tiny_config('div')
  agent = Agent(agent_config(config.agent), observation_dim, action_dim)
  states = train.init_states(agent, 0, 2)  # untrained flows: noisy actions test the keys well
  runs = {size: evaluate(agent, states, HOPPER, 3, env_seed=5, action_seed=7,
                         batch_envs=size) for size in (0, 4, 1)}  # 6 envs: 1, 2 or 6 batches
  for size in (4, 1):
    np.testing.assert_array_equal(runs[size]['returns'], runs[0]['returns'])
    np.testing.assert_array_equal(runs[size]['lengths'], runs[0]['lengths'])
  assert runs[0]['returns'].shape == (2, 3) and len(np.unique(runs[0]['returns'])) == 6


def test_the_batches_share_one_pool_of_envs(monkeypatch):
  """6 episodes in batches of 4 make 4 envs, not 6, and close each once."""
  from dflow_jax.envs import evaluation
  made, closed = [], []

  def counting_make(recipe):
    env = make_eval_env(recipe)
    made.append(env)
    close = env.close
    env.close = lambda: (closed.append(env), close())
    return env

  monkeypatch.setattr(evaluation, 'make_eval_env', counting_make)
  env = make_eval_env(HOPPER)
  observation_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
  env.close()
  agent = Agent(agent_config(tiny_config('div').agent), observation_dim, action_dim)
  result = evaluate(agent, train.init_states(agent, 0, 2), HOPPER, 3, env_seed=5,
                    action_seed=7, batch_envs=4)
  assert result['returns'].shape == (2, 3)
  assert len(made) == 4 and sorted(map(id, closed)) == sorted(map(id, made))


@pytest.mark.parametrize('recipe', [
    HOPPER, {'family': 'adroit', 'task': 'pen'},
    {'family': 'pointmaze', 'maze': 'umaze', 'dense': True},
    {'family': 'ogbench', 'env': 'cube-single-singletask-task2-v0', 'score': 'success'}])
def test_an_env_reset_with_a_seed_plays_as_a_fresh_one(recipe):
  """What lets the batches reuse envs: after an episode, reset(seed) starts the same episode a
  new env would, in each of these families."""
  used, fresh = make_eval_env(recipe), make_eval_env(recipe)
  rng = np.random.default_rng(0)
  actions = rng.uniform(-1, 1, (30,) + used.action_space.shape).astype(np.float32)
  used.reset(seed=1)
  for action in actions:
    used.step(action)

  def episode(env):
    observations = [env.reset(seed=9)[0]]
    for action in actions:
      observation, reward, terminated, truncated, _ = env.step(action)
      observations.append(np.append(observation, [reward, terminated, truncated]))
    return np.concatenate([np.ravel(o) for o in observations])

  np.testing.assert_array_equal(episode(used), episode(fresh))
  used.close()
  fresh.close()


def test_a_sweeps_settings_are_evaluated_from_the_same_env_seeds():
  """Setting k's seeds meet the start states a separate run of setting k meets: two settings
  holding the same weights score alike, and like the plain run."""
  from dflow_jax.reporting.evaluator import Evaluator, setting_result
  env = make_eval_env(HOPPER)
  observation_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
  env.close()
  config = tiny_config('div')
  agent = Agent(agent_config(config.agent), observation_dim, action_dim)
  plain = Evaluator(agent, HOPPER, None, run_seed=3, df_start=0)(
      train.init_states(agent, 0, 2), step=0, episodes=2)
  swept = Evaluator(agent, HOPPER, None, run_seed=3, df_start=0, num_settings=2)(
      train.init_states(agent, 0, 2, num_settings=2), step=0, episodes=2)
  assert swept['returns'].shape == (4, 2)
  for k in (0, 1):
    np.testing.assert_array_equal(setting_result(swept, k, 2)['returns'], plain['returns'])
  assert len(np.unique(plain['returns'])) == 4  # distinct episodes: the check above can fail


@pytest.mark.slow  # a whole run; `make test` stays under 10 minutes
def test_evaluate_reprints_a_toy_runs_final_tables(tmp_path):
  from dflow_jax.evaluate import evaluate_workdir
  from dflow_jax.runtime import run
  config = tiny_config('bc', df_steps=0)  # one compiled phase: the test is about restoring
  workdir = str(tmp_path / 'toy')
  trained = []
  run.train_and_evaluate(config, workdir, log=trained.append)
  (tmp_path / 'toy' / 'action_samples.png').unlink()
  evaluated = []
  result = evaluate_workdir(workdir, log=evaluated.append)
  assert result['step'] == config.bc_steps + config.df_steps
  assert trained[-1].split('\nplots:')[0] in evaluated  # the same tables, to the digit
  assert trained[-1].split('\nplots:')[0] in (tmp_path / 'toy' / 'eval_summary.md').read_text()
  assert (tmp_path / 'toy' / 'action_samples.png').exists()
  # --out: the same evaluation written elsewhere, the run directory only read
  before = {p: p.stat().st_mtime_ns for p in (tmp_path / 'toy').rglob('*')}
  again = []
  evaluate_workdir(workdir, log=again.append, out=str(tmp_path / 'elsewhere'))
  assert again[:2] == evaluated[:2]  # the same tables; the figure's path differs
  assert {p: p.stat().st_mtime_ns for p in (tmp_path / 'toy').rglob('*')} == before
  assert {p.name for p in (tmp_path / 'elsewhere').iterdir()} == {'eval_summary.md',
                                                                   'action_samples.png'}


def test_evaluate_refuses_in_one_line_where_it_cannot_write(tmp_path):
  from dflow_jax.config import ConfigError
  from dflow_jax.evaluate import writable_output
  (tmp_path / 'a_file').write_text('')
  with pytest.raises(ConfigError, match=r'cannot write .* pass --out_dir=DIR'):
    writable_output(str(tmp_path / 'a_file' / 'records'))
  assert writable_output(str(tmp_path / 'new')) == str(tmp_path / 'new')


def test_evaluate_refuses_env_flags_for_a_toy_run(tmp_path):
  from dflow_jax.config import ConfigError
  from dflow_jax.evaluate import evaluate_workdir
  (tmp_path / 'config.json').write_text(tiny_config('div').to_json())
  with pytest.raises(ConfigError, match='--video and --episodes do not apply'):
    evaluate_workdir(str(tmp_path), episodes=3)
