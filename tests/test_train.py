"""Seeds under vmap, scanned chunks and compile counts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dflow_jax import train
from dflow_jax.runtime import run
from tests.conftest import tiny_config


def assert_trees_close(a, b, **tol):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tol),
               a, b)


def take_seeds(states, sl):
  return jax.tree.map(lambda x: x[sl], states)


# One variant in the default run keeps `make test` short; both run under `make test-slow`.
@pytest.mark.parametrize('variant', [pytest.param('dir', marks=pytest.mark.slow), 'div'])
def test_vmapped_seeds_equal_single_seed_runs(variant):
  config = tiny_config(variant, num_seeds=4)
  dataset, agent = run.prepare(config)
  states = train.init_states(agent, config.seed, 4)
  singles = [take_seeds(states, slice(i, i + 1)) for i in range(4)]
  behavior = train.make_chunk(agent, train.BEHAVIOR, config.batch_size, 5)
  df = train.make_chunk(agent, train.DECISION_FLOW, config.batch_size, 5)

  def both_phases(s):
    s, _, _ = behavior(s, dataset)
    s = train.start_decision_flow(agent, s)
    return df(s, dataset)[0]

  together = both_phases(states)
  for i, single in enumerate(singles):
    assert_trees_close(take_seeds(together, slice(i, i + 1)), both_phases(single),
                       rtol=1e-5, atol=1e-6)
  # the seeds really differ, so the comparison above is not vacuous
  p = together.policy.params
  leaf = jax.tree.leaves(p)[0]
  assert not np.allclose(leaf[0], leaf[1])


def test_seed_groups_run_one_after_another_give_the_same_values():
  """seeds_per_vmap changes how the seeds are batched (one vmap, groups of 2 with a remainder
  of one, one seed at a time, a single seed without vmap), not what each seed computes."""
  def per_seed(key, x):
    w = jax.random.normal(key, (4, 4))
    return {'y': jnp.tanh(x @ w).sum(-1), 'noise': jax.random.uniform(key, (2,))}

  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  xs = jax.random.normal(jax.random.PRNGKey(1), (3, 5, 4))
  together = jax.jit(train.over_seeds(per_seed))(keys, xs)
  for group in (2, 1):
    assert_trees_close(jax.jit(train.over_seeds(per_seed, group))(keys, xs), together,
                       rtol=1e-6, atol=1e-6)
  assert_trees_close(train.over_seeds(per_seed)(keys[:1], xs[:1]),
                     jax.tree.map(lambda v: v[:1], together), rtol=1e-6, atol=1e-6)
  # and the trainer binds the knob to the agent once: seeds initialised one at a time are the
  # same, and compiled code (keyed on the agent) is not shared between the two batchings
  config = tiny_config('dir', num_seeds=3)
  dataset, agent = run.prepare(config)
  config.seeds_per_vmap = 1
  _, one_at_a_time = run.prepare(config)
  assert (agent.seeds_per_vmap, one_at_a_time.seeds_per_vmap) == (0, 1)
  assert one_at_a_time != agent and one_at_a_time.cfg == agent.cfg
  assert_trees_close(train.init_states(one_at_a_time, 0, 3),
                     train.init_states(agent, 0, 3), rtol=1e-6, atol=1e-6)


# The DF phase in the default run (its chunk is the larger program); both under make test-slow.
@pytest.mark.parametrize('phase', [pytest.param(train.BEHAVIOR, marks=pytest.mark.slow),
                                   train.DECISION_FLOW])
def test_a_scan_of_k_updates_equals_k_single_updates(phase):
  config = tiny_config('div')
  dataset, agent = run.prepare(config)
  states = train.init_states(agent, config.seed, config.num_seeds)
  if phase == train.DECISION_FLOW:
    states = train.start_decision_flow(agent, states)
  k = 6
  scanned, metrics, _ = train.make_chunk(agent, phase, config.batch_size, k)(
      jax.tree.map(np.copy, states), dataset)
  one = train.make_chunk(agent, phase, config.batch_size, 1)
  stepped, per_step = states, []
  for _ in range(k):
    stepped, m, _ = one(stepped, dataset)
    per_step.append(m)
  assert_trees_close(scanned, stepped, rtol=1e-5, atol=1e-6)
  # the chunk's metrics are the mean over its updates
  for name in metrics:
    np.testing.assert_allclose(metrics[name], np.mean([m[name] for m in per_step], axis=0),
                               rtol=1e-4, atol=1e-6)
  assert int(scanned.step[0]) == k


def test_a_training_chunk_compiles_once():
  config = tiny_config('dir')
  dataset, agent = run.prepare(config)
  states = train.init_states(agent, config.seed, config.num_seeds)
  chunk = train.make_chunk(agent, train.BEHAVIOR, config.batch_size, 3)
  for _ in range(4):
    states, _, _ = chunk(states, dataset)
  assert chunk._cache_size() == 1
  cache = train.ChunkCache(agent, config.batch_size)
  assert cache(train.BEHAVIOR, 3) is cache(train.BEHAVIOR, 3)


def test_metric_names_cover_both_phases():
  config = tiny_config('div')
  dataset, agent = run.prepare(config)
  names = train.metric_names(agent, config.batch_size, dataset)
  assert 'behavior/fm_loss' in names[train.BEHAVIOR]
  assert {'policy/fm_loss', 'df/flow_value_loss', 'df/divergence',
          'critic/q_loss'} <= set(names[train.DECISION_FLOW])
  assert 'df/reversal_value_loss' not in names[train.DECISION_FLOW]  # flow_reversal 0: off
  # A sweep of flow_reversal from a base of 0 computes the reversal: its metric has a column.
  hparams = {'flow_reversal': np.array([0.0, 1.0], np.float32)}
  swept = train.metric_names(agent, config.batch_size, dataset, hparams)
  assert 'df/reversal_value_loss' in swept[train.DECISION_FLOW]


def test_schedule_runs_critic_behaviour_warmup_then_decision_flow():
  schedule = train.Schedule(critic_steps=4, bc_steps=6, flow_value_warmup=5, df_steps=30)
  assert [schedule.phase_of(s) for s in (0, 3, 4, 9, 10, 14, 15, 39)] == [
      train.CRITIC, train.CRITIC, train.BEHAVIOR, train.BEHAVIOR, train.FLOW_VALUE_WARMUP,
      train.FLOW_VALUE_WARMUP, train.DECISION_FLOW, train.DECISION_FLOW]
  assert [schedule.phase_end(s) for s in (0, 5, 12, 20)] == [4, 10, 15, 40]
  assert schedule.df_start == 10 and schedule.total == 40
  plain = train.Schedule(bc_steps=10, df_steps=5)  # no critic phase, no warm-up
  assert [plain.phase_of(s) for s in (0, 9, 10)] == [
      train.BEHAVIOR, train.BEHAVIOR, train.DECISION_FLOW]


def test_critic_phase_trains_the_critic_alone():
  config = tiny_config('div', num_seeds=2)
  dataset, agent = run.prepare(config)
  states = train.init_states(agent, config.seed, 2)
  before = jax.device_get(states)
  after, metrics, _ = train.make_chunk(agent, train.CRITIC, config.batch_size, 3)(states, dataset)
  assert_trees_close(after.behavior.params, before.behavior.params, rtol=0, atol=0)
  assert_trees_close(after.policy.params, before.policy.params, rtol=0, atol=0)
  moved = jax.tree.leaves(jax.tree.map(lambda a, b: np.abs(a - b).max(),
                                       after.critic.params, before.critic.params))
  assert max(moved) > 0 and set(metrics) == {
      'critic/q_loss', 'critic/q_mean', 'critic/v_mean', 'critic/value_loss'}


def test_flow_value_warmup_trains_the_flow_value_and_leaves_the_policy():
  config = tiny_config('div', num_seeds=2)
  dataset, agent = run.prepare(config)
  states = train.start_decision_flow(agent, train.init_states(agent, config.seed, 2))
  before = jax.device_get(states)
  warm = train.make_chunk(agent, train.FLOW_VALUE_WARMUP, config.batch_size, 3)
  # the chunk donates its input: a copy keeps `before` (which may share host memory) intact
  after, metrics, _ = warm(jax.tree.map(jnp.copy, states), dataset)
  assert_trees_close(after.policy.params, before.policy.params, rtol=0, atol=0)
  assert_trees_close(after.policy_ema, before.policy_ema, rtol=0, atol=0)
  moved = jax.tree.leaves(jax.tree.map(lambda a, b: np.abs(a - b).max(),
                                       after.flow_value.params, before.flow_value.params))
  assert max(moved) > 0
  assert 'df/flow_value_loss' in metrics and 'policy/fm_loss' not in metrics
  assert int(after.step[0]) == int(before.step[0]) + 3


def test_auto_seed_grouping_runs_wide_networks_seed_after_seed_on_a_cpu():
  narrow = tiny_config('dir')
  assert narrow.seeds_per_vmap == 'auto' and train.seeds_per_vmap(narrow) == 0
  wide = tiny_config('dir', **{'agent.velocity_hidden': (64, 256)})
  assert train.seeds_per_vmap(wide) == (1 if jax.default_backend() == 'cpu' else 0)
  wide.seeds_per_vmap = 4  # a number is taken as given
  assert train.seeds_per_vmap(wide) == 4
