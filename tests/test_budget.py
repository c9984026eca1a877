"""The budget said up front: the line every run starts with, and the CPU estimate."""
from conftest import tiny_config

from dflow_jax.runtime import budget


def test_the_budget_line_names_seeds_updates_and_networks():
  config = tiny_config('div')
  line = budget.budget_line(config)
  assert line == ('budget: 2 seeds, 20 pre-training + 20 div updates of batch 32; velocity field '
                  '2x16, critics 2x16, T = 3')
  config.sweep.agent.rho = '0.1,1,10'
  assert budget.budget_line(config).startswith('budget: 2 seeds x 3 settings,')


def test_the_estimate_speaks_only_for_a_long_cpu_run():
  assert budget.cpu_estimate(10.0, 1000, 1_000_000, 'gpu') is None
  assert budget.cpu_estimate(10.0, 1000, 100_000, 'cpu') is None  # 1,000 s: under an hour
  line = budget.cpu_estimate(10.0, 1000, 1_000_000, 'cpu')
  assert 'about 2.8 h' in line and ',cpu' in line and ',quick' in line


def test_a_run_says_its_estimate_after_its_second_chunk(tmp_path, monkeypatch):
  from dflow_jax.runtime import run
  monkeypatch.setattr(budget, 'LONG_ON_CPU_S', 0.0)
  printed = []
  run.train_and_evaluate(tiny_config('bc', df_steps=0, bc_steps=30), str(tmp_path / 'run'), log=printed.append)
  said = [line for line in printed if line.startswith('on this CPU')]
  assert len(said) == 1 and 'for the 0 updates left' not in said[0]
