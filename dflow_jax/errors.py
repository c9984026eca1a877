"""The error every layer raises for input a person got wrong (config.py, sweep.py, the CLIs)."""


class ConfigError(ValueError):
  """A configuration a person got wrong; the message is one line naming key, value, and fix."""
