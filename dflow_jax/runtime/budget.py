"""What a run will cost, said before it is paid: the budget line and, on a CPU, a measured estimate.

The estimate is read from the second chunk (the first one compiles), so it costs nothing extra.
"""
# A run whose remaining updates would take longer than this on a CPU is told its expected time
# and the options that fit a CPU.
LONG_ON_CPU_S = 3600.0


def _layers(hidden) -> str:
  hidden = tuple(hidden)
  return f'{len(hidden)}x{hidden[0]}' if len(set(hidden)) == 1 else 'x'.join(map(str, hidden))


def budget_line(config) -> str:
  """Seeds, updates per phase, batch and networks, in one line."""
  from dflow_jax import sweep
  agent = config.agent
  settings = sweep.num_settings(config)
  seeds = f'{config.num_seeds} seeds' + (f' x {settings} settings' if settings > 1 else '')
  phases = [f'{config.bc_steps:,} pre-training']
  if config.df_steps:
    phases.append(f'{config.df_steps:,} {agent.variant}')
  return (f'budget: {seeds}, {" + ".join(phases)} updates of batch {config.batch_size}; '
          f'velocity field {_layers(agent.velocity_hidden)}, critics {_layers(agent.critic_hidden)}, '
          f'T = {agent.flow_steps}')


def cpu_estimate(seconds: float, updates: int, remaining: int, backend: str) -> str | None:
  """One line when a CPU would take over LONG_ON_CPU_S for the `remaining` updates, at the rate
  of a chunk of `updates` that took `seconds` (None otherwise, and on accelerators)."""
  if backend != 'cpu' or updates <= 0 or seconds <= 0:
    return None
  expected = seconds / updates * remaining
  if expected <= LONG_ON_CPU_S:
    return None
  from dflow_jax.presets import SIZES
  cpu = SIZES['cpu']
  return (f'on this CPU, {updates / seconds:.0f} updates/s: about {expected / 3600:.1f} h for '
          f'the {remaining:,} updates left (Decision Flow updates cost more than pre-training '
          f'ones); the config options ,cpu ({cpu["num_seeds"]} seeds, {cpu["bc_steps"]:,} + '
          f'{cpu["df_steps"]:,} updates) and ,quick fit a CPU')
