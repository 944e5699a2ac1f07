"""Nonlinearities and pooling: each statistic defined once, used by every path.

* :mod:`~skconv.pooling.nonlinearities` - elementwise functions applied to the maps;
* :mod:`~skconv.pooling.regions` - pooling regions, Gaussian windows, fast reductions;
* :mod:`~skconv.pooling.statistics` - the statistics as mergeable aggregates
  (partial states, update, merge, finalize);
* :mod:`~skconv.pooling.pooler` - pooling whole batches of maps, or tiles of
  large images, from those definitions.
"""

from .nonlinearities import NONDECREASING, NONLINEARITIES, SIGN_PRESERVING, apply_nonlinearity
from .pooler import (
    BiasedPooler,
    Pooler,
    make_pooler,
    pool_biased_maps,
    pool_maps,
    pools_by_max_only,
)
from .regions import gaussian_windows, grid_reduce, region_bounds, region_sizes
from .statistics import COMPETING_POOLINGS, PARTIALS, POOLINGS, STATISTICS, WINDOWED_POOLINGS

__all__ = [
    "COMPETING_POOLINGS",
    "NONDECREASING",
    "NONLINEARITIES",
    "PARTIALS",
    "POOLINGS",
    "SIGN_PRESERVING",
    "STATISTICS",
    "WINDOWED_POOLINGS",
    "BiasedPooler",
    "Pooler",
    "apply_nonlinearity",
    "gaussian_windows",
    "grid_reduce",
    "make_pooler",
    "pool_biased_maps",
    "pool_maps",
    "pools_by_max_only",
    "region_bounds",
    "region_sizes",
]
