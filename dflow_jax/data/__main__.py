"""`python -m dflow_jax.data ...`: the same command as `python -m dflow_jax.datagen ...`."""
import sys

from dflow_jax.datagen.cli import main

if __name__ == '__main__':
  sys.exit(main())
