"""Flow matching on the dataset's actions: the behaviour flow u_nu (also the `bc` baseline) and
the regulariser every flow policy keeps."""
from dflow_jax import flow


def flow_matching(velocity_apply, params, batch, key):
  """The flow-matching loss of the velocity field `velocity_apply(params, s, x, t)` on the batch."""
  velocity = lambda s, x, t: velocity_apply(params, s, x, t)
  return flow.flow_matching_loss(velocity, key, batch.observations, batch.actions)


def behavior_loss(velocity_apply, params, key, batch):
  loss = flow_matching(velocity_apply, params, batch, key)
  return loss, {'behavior/fm_loss': loss}
