"""OGBench's manipulation envs, registered with gymnasium when first asked for."""
from dflow_jax.errors import DatasetError


def register() -> None:
  """Imports ogbench's manipulation envs (their import registers them); DatasetError in one line
  where the package is not installed."""
  try:
    import ogbench.manipspace  # noqa: F401
  except ImportError:
    raise DatasetError('the OGBench tasks need the ogbench package: pip install -e .[ogbench] '
                       '(make install does)') from None
