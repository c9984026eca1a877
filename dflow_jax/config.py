"""The configuration schema, its defaults, and validation with one-line errors.

Every experiment config starts from `base_config()` and changes values (the shared presets are
in presets.py); validation refuses unknown keys and bad values before anything is compiled.
"""
import copy
import dataclasses
import json
import math
import numbers
import os

import ml_collections

from dflow_jax import sweep
from dflow_jax.data.rewards import REWARD_CONVENTIONS
from dflow_jax.errors import ConfigError
from dflow_jax.flow import SOLVERS
from dflow_jax.networks import MATMUL_DTYPES, TIME_EMBEDDINGS
from dflow_jax.sweep import SWEEPABLE

VARIANTS = ('bc', 'dir', 'div', 'bptt', 'fql')
Q_AGGREGATIONS = ('min', 'mean')
MAX_SEED = 2**32 - 1


@dataclasses.dataclass(frozen=True)
class AgentConfig:
  """Static hyper-parameters of one agent (hashable, so jitted code can close over them)."""
  variant: str = 'dir'
  flow_steps: int = 10  # T: ODE steps from noise to action
  solver: str = 'euler'
  velocity_hidden: tuple[int, ...] = (256, 256, 256, 256)
  critic_hidden: tuple[int, ...] = (256, 256, 256)
  time_embedding: str = 'fourier'
  learning_rate: float = 3e-4
  behavior_ema: float = 0.999  # EMA decay of the behaviour flow's weights (0: no averaging)
  discount: float = 0.99
  expectile: float = 0.7
  tau: float = 0.005  # Polyak rate of the target networks
  q_agg: str = 'min'  # how the critic heads combine when a value is read
  # dir, div, bptt: share of the critic's TD target taken from Q_target(s', a') at the flow
  # policy's own next action a' instead of IQL's V(s') (iql.critic_loss); 0 is IQL alone
  policy_bootstrap: float = 0.0
  policy_ema: float = 0.999  # EMA decay of u_theta's weights, which DF acts with (0: raw weights)
  # DF-dir (and bptt, which reads the same two weights)
  alpha: float = 1.0
  lambda_dir: float = 1.0  # weight of the flow-matching term
  # DF-div
  rho: float = 1.0  # with a divergence_target, rho's starting value
  lambda_div: float = 0.1
  # > 0: rho follows dual ascent so that the path divergence per action dimension holds this
  # budget (agents/divergence_budget.py); 0: rho fixed
  divergence_target: float = 0.0
  # dir, div: weight of the flow value's regression on flow states reversed from dataset actions,
  # beside the policy's rollouts (decision_flow.reversal_targets); 0: rollouts only
  flow_reversal: float = 0.0
  # dir, div, bptt: weight of the critic's gap E[Q(s, a_pi) - Q(s, a)] between the policy's
  # actions and the data's (iql.critic_loss), pessimism where the policy leaves the data; 0: off.
  # 3 ends DF-div's collapse on hopper mixed and keeps both variants near bc where bc is strong;
  # elsewhere it is within a point of 0 (docs/results/critic-pessimism.md, docs/design-notes.md).
  critic_pessimism: float = 3.0
  # cost and acting
  steps_per_state: int = 0  # flow steps per state in the DF losses; 0 means all T
  num_samples: int = 1  # candidates per state when acting, ranked by Q
  # ODE steps when acting (evaluation, best-of-N candidates); 0: flow_steps. Training never
  # reads it: fewer Euler steps of the same field act closer to its conditional mean.
  acting_flow_steps: int = 0
  scan_unroll: int = 1
  # bptt: recompute each ODE step's activations in the backward pass instead of storing all T
  # (less memory, one more forward pass per step)
  bptt_remat: bool = False
  matmul_dtype: str = 'float32'  # 'bfloat16': Dense layers compute in bf16, params stay f32

  @property
  def steps_used(self) -> int:
    return self.steps_per_state or self.flow_steps

  @property
  def acting_steps(self) -> int:
    return self.acting_flow_steps or self.flow_steps


# Keys that the runs of docs/results/ saved in config.json and that no longer exist: {key: the
# value under which such a run is today's code}. They are dropped on reading; a run saved with
# another value refuses. No result showed any of them to help: use_prev_action fed a_prev to
# V^chi (whose target does not depend on it); dir_target 'td' bootstrapped V^f, dir_objective
# 'velocity' dropped Lemma 4.2's normalisation; value_scale 'q' (TD3+BC's mean |Q|) measured
# worse; activation, time_dim and normalize_observations (off) were never varied.
RETIRED_KEYS = {'agent.use_prev_action': False, 'agent.dir_target': 'mc',
                'agent.dir_objective': 'direction', 'agent.activation': 'gelu',
                'agent.time_dim': 16, 'agent.value_scale': 'advantage',
                'normalize_observations': True}


def _pop_dotted(tree: dict, dotted: str):
  """Removes `dotted` from a nested dict; (True, value) if it was there, else (False, None)."""
  *parents, leaf = dotted.split('.')
  for part in parents:
    tree = tree.get(part) or {}
  if leaf not in tree:
    return False, None
  return True, tree.pop(leaf)


def current_keys(saved: dict) -> dict:
  """A copy of a saved (nested) config dict in today's keys: the RETIRED_KEYS dropped."""
  saved = copy.deepcopy(saved)
  for dotted, today in RETIRED_KEYS.items():
    found, value = _pop_dotted(saved, dotted)
    if found and value != today:
      raise ConfigError(f'this run was saved with {dotted}={value}, which no longer exists '
                        f'(only {today} is what the code does today)')
  return saved


def read_config_json(path: str) -> dict:
  """The nested dict a run saved in `path`; ConfigError when it is not a JSON object."""
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, UnicodeDecodeError, ValueError) as e:
    raise ConfigError(f'{path} cannot be read ({type(e).__name__}: {e}); it is not a config '
                      'this code wrote: restore it or use a new --workdir') from None
  if not isinstance(saved, dict) or not all(
      isinstance(v, dict) for k, v in saved.items() if k == 'agent'):
    raise ConfigError(f'{path} does not hold a run config (a JSON object with an "agent" '
                      'object); restore it or use a new --workdir')
  return saved


def flat_config(tree: dict, prefix: str = '') -> dict:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(flat_config(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


# Keys that may change when a run is resumed; any other difference means a different run.
RESUMABLE_CHANGES = frozenset({
    'progress_bar', 'save_interval', 'max_to_keep', 'eval_samples', 'chunk_size', 'df_steps',
    'eval_episodes', 'final_eval_episodes', 'eval_interval', 'seeds_per_vmap',
    'eval_batch_envs', 'toy_curves', 'devices', 'validation_episodes'})


def read_config_file(path: str) -> dict | None:
  """The nested config saved at `path` in today's keys (None if there is no file); ConfigError
  when the file is there but is not a config."""
  if not os.path.exists(path):
    return None
  return current_keys(read_config_json(path))


def saved_config(workdir: str, name: str = 'config.json') -> dict | None:
  """The flat config a run saved in `workdir/name` (None if there is none). A key added
  to the schema after the run was saved reads as its default there."""
  saved = read_config_file(os.path.join(workdir, name))
  if saved is None:
    return None
  saved = flat_config(saved)
  defaults = flat_config(json.loads(base_config().to_json()))
  return {**{k: v for k, v in defaults.items() if k not in saved}, **saved}


def changed_keys(saved: dict, config: ml_collections.ConfigDict, allowed) -> list:
  current = flat_config(json.loads(config.to_json()))
  return sorted(k for k in set(saved) | set(current)
                if saved.get(k) != current.get(k) and k not in allowed)


def first_change(workdir: str, config: ml_collections.ConfigDict, allowed, names) -> tuple | None:
  """The first of a run's saved configs (`names` in `workdir`, in order; a missing one is
  skipped) that differs from `config` in a key outside `allowed`: (its name, its flat config,
  the changed keys). None when every one there agrees."""
  for name in names:
    saved = saved_config(workdir, name)
    changed = changed_keys(saved, config, allowed) if saved is not None else []
    if changed:
      return name, saved, changed
  return None


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.num_seeds = 8
  c.dataset = 'toy/bandit'  # an in-memory toy task or any local Minari dataset id
  c.reward_convention = 'none'  # 'none', 'locomotion' (IQL's 1000 / return range), 'sparse_shift'
  # Transitions with nan or inf in observations, actions, rewards or next observations: refused
  # (False) or dropped with a count (True).
  c.drop_nonfinite = False
  c.batch_size = 256
  c.critic_steps = 0  # the critic alone first (no flow rollout: cheap), before bc_steps
  c.bc_steps = 100_000  # behaviour flow + critic
  c.df_steps = 1_000_000  # Decision Flow updates (critic keeps training)
  # The first Decision Flow updates train the flow value (and critic) only, on the behaviour
  # flow's rollouts, so that the policy does not start by climbing a random network.
  c.flow_value_warmup = 0
  c.chunk_size = 1000  # updates per compiled chunk (one host round trip each)
  c.save_interval = 10_000  # updates between checkpoints
  c.max_to_keep = 2
  c.eval_samples = 1000  # actions per seed in the end-of-run evaluation (toy tasks)
  # Env evaluation (datasets with an eval env): episodes per seed during training and at the end
  c.eval_episodes = 10
  c.final_eval_episodes = 100
  c.eval_interval = 10_000  # updates between evaluations during training; 0: only at the end
  # Validation episodes per seed at every evaluation, from env seeds disjoint from the scored
  # ones: what a sweep's best setting is chosen on (evaluator.py). 0: none.
  c.validation_episodes = 10
  c.eval_batch_envs = 256  # most eval envs that exist at once (same scores for any value)
  c.progress_bar = True
  # Toy tasks: measure their followed metrics (best-mode mass, true reward, ...) at every chunk
  # end, `eval_samples` actions per seed, for learning_curves.png.
  c.toy_curves = True
  # How the seeds are batched, not what they compute: 0 puts all seeds in one vmap; n runs groups
  # of n one after another (faster on CPU for wide networks); 'auto' (train.seeds_per_vmap):
  # groups of one on a CPU for layers 256 wide or wider, else one vmap. Not part of the agent, so
  # changing it recompiles nothing keyed on the agent. ('auto' or an integer: an untyped field.)
  c.seeds_per_vmap = ml_collections.FieldReference('auto', field_type=object)
  # Devices the agents (seeds x sweep settings) are split over: 0 = every device JAX sees. Not
  # part of what is computed: a run resumes and evaluates on any count.
  c.devices = 0
  c.agent = ml_collections.ConfigDict(dataclasses.asdict(AgentConfig()))
  # Values to sweep in one compiled program, e.g. sweep.agent.rho = '0.01,0.1,1' (sweep.py):
  # the grid over every listed key, num_seeds seeds per setting. '' = not swept.
  c.sweep = ml_collections.ConfigDict({'agent': {key: '' for key in SWEEPABLE}})
  return c


def not_sweepable_message(key: str) -> str:
  """The refusal of `sweep.agent.<key>` for an agent key outside SWEEPABLE."""
  return (f'config.sweep.agent.{key} cannot be swept: it changes array shapes or the compiled '
          f'program; launch one run per value of agent.{key} (a sweep can list '
          f'{", ".join(SWEEPABLE)})')


def agent_config(agent: ml_collections.ConfigDict) -> AgentConfig:
  values = agent.to_dict()
  for key in ('velocity_hidden', 'critic_hidden'):
    values[key] = tuple(int(w) for w in values[key])
  return AgentConfig(**values)


# Every float hyper-parameter: (low, high, low_open, high_open). nan and inf are refused too.
# The bounds lie far past any useful setting, to catch typos before a run compiles: Adam moves
# every parameter by about the learning rate per update, so one above 1 only scrambles weights.
WEIGHT_BOUND = 1e6
FLOAT_BOUNDS = {
    'agent.learning_rate': (0.0, 1.0, True, False),
    'agent.alpha': (0.0, WEIGHT_BOUND, False, False),
    'agent.lambda_dir': (0.0, WEIGHT_BOUND, False, False),
    'agent.rho': (0.0, WEIGHT_BOUND, False, False),
    'agent.lambda_div': (0.0, WEIGHT_BOUND, False, False),
    'agent.divergence_target': (0.0, WEIGHT_BOUND, False, False),
    'agent.flow_reversal': (0.0, WEIGHT_BOUND, False, False),
    'agent.critic_pessimism': (0.0, WEIGHT_BOUND, False, False),
    'agent.discount': (0.0, 1.0, False, False),
    'agent.expectile': (0.0, 1.0, True, True),
    'agent.policy_bootstrap': (0.0, 1.0, False, False),
    'agent.tau': (0.0, 1.0, True, False),
    'agent.behavior_ema': (0.0, 1.0, False, True),
    'agent.policy_ema': (0.0, 1.0, False, True),
}


def _fail(key, value, allowed):
  raise ConfigError(f'config.{key} = {value!r} is invalid: {allowed}')


def _int_at_least(config, key, low):
  value = _get(config, key)
  if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
    _fail(key, value, f'must be an integer >= {low}')


def _number_in(config, key, low, high, low_open=False, high_open=False):
  value = _get(config, key)
  ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
  if ok:
    ok = (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
  if not ok:
    lo, hi = '(' if low_open else '[', ')' if high_open else ']'
    _fail(key, value, f'must be a finite number in {lo}{low}, {high}{hi}')


def _one_of(config, key, options):
  value = _get(config, key)
  if value not in options:
    _fail(key, value, f'must be one of {", ".join(map(repr, options))}')


def _get(config, dotted_key):
  for part in dotted_key.split('.'):
    config = config[part]
  return config


def _check_keys(config, schema, prefix=''):
  for key in config.keys():
    if prefix == 'sweep.agent.' and key not in schema and key in AgentConfig.__dataclass_fields__:
      raise ConfigError(not_sweepable_message(key))
    if key not in schema:
      known = ', '.join(sorted(schema.keys()))
      raise ConfigError(f'config.{prefix}{key} is not a known key; known keys here: {known}')
    if isinstance(schema[key], ml_collections.ConfigDict):
      _check_keys(config[key], schema[key], f'{prefix}{key}.')


def validate(config: ml_collections.ConfigDict, dataset_size: int | None = None):
  """Raises ConfigError on the first bad key or value."""
  _check_keys(config, base_config())
  for key, low in [('num_seeds', 1), ('batch_size', 1), ('critic_steps', 0), ('bc_steps', 0),
                   ('df_steps', 0),
                   ('chunk_size', 1), ('save_interval', 1), ('max_to_keep', 1),
                   ('eval_samples', 1), ('eval_episodes', 1), ('final_eval_episodes', 1),
                   ('eval_interval', 0), ('seed', 0), ('flow_value_warmup', 0), ('agent.flow_steps', 1),
                   ('agent.steps_per_state', 0), ('agent.acting_flow_steps', 0),
                   ('agent.num_samples', 1), ('agent.scan_unroll', 1),
                   ('eval_batch_envs', 1), ('devices', 0), ('validation_episodes', 0)]:
    _int_at_least(config, key, low)
  spv = config.seeds_per_vmap
  if spv != 'auto' and (isinstance(spv, bool) or not isinstance(spv, numbers.Integral) or spv < 0):
    _fail('seeds_per_vmap', spv, "must be 'auto' or an integer >= 0 (0: all seeds in one vmap)")
  if config.seed > MAX_SEED:  # jax.random.PRNGKey keeps 32 bits: 2**32 would alias seed 0
    _fail('seed', config.seed, f'must be an integer in [0, {MAX_SEED}] (a 32-bit PRNG seed)')
  _one_of(config, 'agent.variant', VARIANTS)
  _one_of(config, 'agent.solver', SOLVERS)
  _one_of(config, 'agent.time_embedding', TIME_EMBEDDINGS)
  _one_of(config, 'agent.q_agg', Q_AGGREGATIONS)
  _one_of(config, 'agent.bptt_remat', (True, False))
  _one_of(config, 'agent.matmul_dtype', MATMUL_DTYPES)
  _one_of(config, 'progress_bar', (True, False))
  _one_of(config, 'toy_curves', (True, False))
  _one_of(config, 'drop_nonfinite', (True, False))
  _one_of(config, 'reward_convention', REWARD_CONVENTIONS)
  for key, (low, high, low_open, high_open) in FLOAT_BOUNDS.items():
    _number_in(config, key, low, high, low_open, high_open)
  for key in ('agent.velocity_hidden', 'agent.critic_hidden'):
    widths = _get(config, key)
    if (not isinstance(widths, (tuple, list)) or not widths
        or not all(isinstance(w, int) and w >= 1 for w in widths)):
      _fail(key, widths, 'must be a non-empty tuple of positive layer widths, e.g. (256, 256)')
  if config.agent.steps_per_state > config.agent.flow_steps:
    _fail('agent.steps_per_state', config.agent.steps_per_state,
          f'must be at most agent.flow_steps = {config.agent.flow_steps} (0 means all)')
  if config.flow_value_warmup > config.df_steps:
    _fail('flow_value_warmup', config.flow_value_warmup,
          f'must be at most df_steps = {config.df_steps} (it is part of the Decision Flow phase)')
  if not isinstance(config.dataset, str) or not config.dataset:
    _fail('dataset', config.dataset, 'must be a dataset name such as "toy/bandit"')
  _validate_sweep(config)
  if dataset_size is not None and config.batch_size > dataset_size:
    _fail('batch_size', config.batch_size,
          f'must be at most the dataset size ({dataset_size} transitions in {config.dataset})')


def _validate_sweep(config):
  """Every setting of a sweep must pass validation as a plain run; the refusal names it."""
  grid = sweep.settings(config)
  if not grid[0]:
    return
  for index, setting in enumerate(grid):
    try:
      for key, (low, high, low_open, high_open) in FLOAT_BOUNDS.items():
        if key.startswith('agent.') and key[len('agent.'):] in setting:
          _number_in(sweep.setting_config(config, setting), key, low, high, low_open, high_open)
    except ConfigError as e:
      raise ConfigError(f'sweep setting {index} ({sweep.label(setting)}): {e}') from None
