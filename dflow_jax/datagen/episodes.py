"""One recorded episode, in the layout Minari stores (observations one longer than actions)."""
import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass
class Episode:
  """A finished episode of L steps.

  observations: [L + 1, obs_dim] array, or a dict of such arrays (PointMaze); the last entry is
    the observation after the final step.
  terminations: true ends (no bootstrap); truncations: time limits and success cut-offs.
  noise_level: the action-noise scale of the episode, for generators that vary it per episode
    (recorded in the dataset's metadata).
  infos: per-state arrays stored beside the observations ([L + 1, ...] each; Minari's episode
    infos), such as the simulator state a later relabelling reads.
  """
  observations: Any
  actions: np.ndarray  # [L, action_dim]
  rewards: np.ndarray  # [L]
  terminations: np.ndarray  # [L] bool
  truncations: np.ndarray  # [L] bool
  seed: int | None = None
  noise_level: float | None = None
  infos: dict | None = None

  def __len__(self) -> int:
    return len(self.actions)

  @property
  def episode_return(self) -> float:
    return float(np.sum(self.rewards))
