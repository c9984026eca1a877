"""The errors every layer raises for input a person got wrong: a config (config.py, sweep.py, the
CLIs) or a dataset (data/, datagen/)."""


class ConfigError(ValueError):
  """A configuration a person got wrong; the message is one line naming key, value, and fix."""


class DatasetError(ValueError):
  """A dataset that cannot be had; the message is one line saying what to do."""
