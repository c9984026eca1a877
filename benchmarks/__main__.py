"""`python -m benchmarks`: update, baseline, ceiling, lever and evaluation throughput."""
from benchmarks.cli import main

if __name__ == '__main__':
  main()
