"""What a benchmark run measures: sweep lists, default points and time budgets.

The update sweep moves one axis at a time around each size's default point (the full
cartesian product is far too slow on a small CPU); every list can be changed from the CLI.
"""
import dataclasses

SECTIONS = ('ceiling', 'update', 'levers', 'baseline', 'eval')
LEVERS = ('unroll', 'bf16', 'seeds_per_vmap', 'chunk', 'steps_per_state')


@dataclasses.dataclass
class Settings:
  sections: tuple[str, ...] = SECTIONS
  sizes: tuple[str, ...] = ('toy', 'door')
  variants: tuple[str, ...] = ('dir', 'div', 'bc')  # each measured at every size's default point
  # the one-axis-at-a-time sweeps
  sweep_sizes: tuple[str, ...] = ('toy', 'door')
  sweep_variants: tuple[str, ...] = ('dir', 'div', 'bc')
  seeds: tuple[int, ...] = (1, 4, 16, 64)
  flow_steps: tuple[int, ...] = (1, 5, 10, 20)
  steps_per_state: tuple[str, ...] = ('1', 'T')  # an integer, or 'T' for all flow steps
  chunks: tuple[int, ...] = (1, 100, 1000)
  # the default point (seeds per size; None keeps the size's own)
  default_seeds: dict = dataclasses.field(default_factory=lambda: {'toy': 8, 'door': 1})
  default_flow_steps: int = 10
  default_steps_per_state: str = '1'
  default_chunk: int = 100
  # levers, each ON vs OFF at the default point, timed in alternation with it (as is the
  # baseline): rounds of back-to-back timings, the median ratio reported
  levers: tuple[str, ...] = LEVERS
  lever_sizes: tuple[str, ...] = ('toy', 'door')
  lever_variants: tuple[str, ...] = ('dir',)
  pair_rounds: int = 3
  seed_group_seeds: int = 16  # the seeds_per_vmap lever's S
  # the per-step, host-sampled, seed-after-seed baseline
  baseline_sizes: tuple[str, ...] = ('toy', 'door')
  baseline_variants: tuple[str, ...] = ('dir', 'div', 'bc')
  # evaluation throughput (toy-sized agent)
  eval_env: str = 'pointmaze'
  eval_seeds: tuple[int, ...] = (1, 8)
  eval_episodes: tuple[int, ...] = (10,)
  eval_horizon: int | None = None  # None: the env's own
  # matmul ceiling
  ceiling_square: int | None = None  # None: 1024 on a CPU, 8192 on an accelerator
  ceiling_layer: tuple[int, int, int] = (256, 256, 100)  # batch, width, chained products
  # sizes of everything
  hidden: tuple[int, ...] | None = None  # overrides every network's widths (smoke: tiny)
  batch_size: int | None = None  # overrides each size's batch
  door_dataset_size: int = 100_000
  budget_s: float = 2.0  # each measurement repeats until this much time has passed (>= 1 call)
  out_dir: str = 'benchmarks/results'
  smoke: bool = False


def smoke_settings(**overrides) -> Settings:
  """Tiny sizes that run every code path with as few compilations as that takes (about a dozen);
  the numbers mean nothing. Pass e.g. `--seeds 1,2 --flow-steps 1,2 --chunks 1,2` for more."""
  values = dict(
      sizes=('toy', 'door'), variants=('dir', 'bc'), sweep_sizes=('toy',),
      sweep_variants=('dir',), seeds=(2,), flow_steps=(2,), chunks=(2,),
      default_seeds={'toy': 2, 'door': 1}, default_flow_steps=2, default_chunk=2,
      lever_sizes=('toy',), baseline_variants=('dir',),
      pair_rounds=1, seed_group_seeds=2, eval_seeds=(1,), eval_episodes=(2,), eval_horizon=5,
      ceiling_square=64, ceiling_layer=(16, 16, 4), hidden=(16, 16), batch_size=16,
      door_dataset_size=1000, budget_s=0.0, out_dir='benchmarks/results/smoke', smoke=True)
  values.update(overrides)
  return Settings(**values)


# Smoke runs are dominated by compilation; XLA's backend optimisation off roughly halves it on a
# CPU. Read when the backend starts, so it only takes effect before the first computation.
SMOKE_XLA_FLAGS = '--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true'
