"""`python -m dflow_jax.datagen generate NAME` / `list`: see dflow_jax/datagen/cli.py."""
import sys

from dflow_jax.datagen.cli import main

if __name__ == '__main__':
  sys.exit(main())
