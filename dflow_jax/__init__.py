"""dflow_jax: Decision Flow (Hu et al., 2025) for offline RL in JAX, many seeds at once."""
__version__ = '0.1.0'


def load(workdir: str, step: int | None = None):
  """A trained run as a `dflow_jax.policy.Policy` (see that module): `.act(obs, key, seed=None)`,
  `.config`, `.params`. Imports JAX on first call, not on `import dflow_jax`."""
  from dflow_jax.policy import load as load_policy
  return load_policy(workdir, step)


def _drop_adroit_reward_notice():
  """gymnasium_robotics prints, on import, a notice from farama_notifications that its Adroit
  Dense-v1 rewards changed without a version bump. envs/adroit_fixes.py restores the D4RL
  rewards, so the notice is moot here, and it would reach every PointMaze or Adroit run and
  turn one-line refusals into two lines. Removed at its source, before anything imports
  gymnasium_robotics."""
  try:
    from farama_notifications import notifications
  except ImportError:
    return
  notifications.pop('gymnasium_robotics', None)


_drop_adroit_reward_notice()
