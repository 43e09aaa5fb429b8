"""The paper's objective metrics and the goal they are measured against.

- `objective`: EB, UPC, QN, DP, TD (and extras) of bool phrases
  `(n, n_bars, n_steps, n_pitches, n_tracks)`.
- `follow`: how closely the other tracks follow a given part.
- `datasets`: the same over packed datasets, chunk by chunk.
- `goal`: the paper's Tables 1 and 2 and the distance-to-data goal.
- `report`: markdown tables of all of it.
"""
from musegan.metrics.objective import *  # noqa: F401,F403
from musegan.metrics.objective import __all__ as _objective
from musegan.metrics.follow import *  # noqa: F401,F403
from musegan.metrics.follow import __all__ as _following

__all__ = list(_objective) + list(_following)
