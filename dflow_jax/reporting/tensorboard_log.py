"""Optional TensorBoard scalars in `workdir/tensorboard/`, written when tensorboardX is installed.

metrics.csv stays the record of a run; these events only make it easy to watch in TensorBoard.
Without tensorboardX every method does nothing.
"""
import os

import numpy as np

TENSORBOARD_DIR = 'tensorboard'


def _summary_writer_class():
  try:
    from tensorboardX import SummaryWriter
  except ImportError:
    return None
  return SummaryWriter


class TensorBoardLog:
  """Means over seeds (of each setting, in a sweep): of each chunk's metrics (tag = metric name) and of each evaluation."""

  def __init__(self, workdir: str, resume_step: int = 0, num_settings: int = 1,
               enabled: bool = True):
    """A sweep (`num_settings` > 1) logs each setting's mean under `<name>/setting_<k>`."""
    writer_class = _summary_writer_class() if enabled else None
    self.writer, self.num_settings = None, num_settings
    if writer_class is not None:
      # On resume, TensorBoard hides the events past the restored step that a killed run
      # wrote, as MetricsLog drops its rows; events at the restored step itself are kept.
      self.writer = writer_class(os.path.join(workdir, TENSORBOARD_DIR),
                                 purge_step=resume_step + 1 if resume_step > 0 else None)

  @property
  def enabled(self) -> bool:
    return self.writer is not None

  def scalars(self, step: int, metrics: dict) -> None:
    """`metrics` maps names to per-seed arrays [S]; each is logged as its mean."""
    if self.writer is None:
      return
    for name, values in metrics.items():
      if self.num_settings == 1:
        self.writer.add_scalar(name, float(np.mean(values)), step)
        continue
      for k, part in enumerate(np.split(np.asarray(values), self.num_settings)):
        self.writer.add_scalar(f'{name}/setting_{k}', float(np.mean(part)), step)

  def evaluation(self, result: dict) -> None:
    """An env evaluation ([S, E] arrays): the mean score (or return) and episode length."""
    if self.writer is None:
      return
    values = {'eval/return': result['returns'], 'eval/length': result['lengths']}
    if 'normalized' in result:
      values['eval/score'] = result['normalized']
    self.scalars(result['step'], values)
    self.writer.flush()  # evaluations are rare and worth seeing at once

  def close(self) -> None:
    if self.writer is not None:
      self.writer.close()
