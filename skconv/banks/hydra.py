"""Hydra's competing kernels for time series."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval
from ._base import _BaseBank


def hydra_kernels(n_groups, group_size, kernel_size, n_channels, max_channels, random_state):
    """Hydra's kernels: random, zero-mean, unit L1 norm, in groups that share channels.

    Parameters
    ----------
    n_groups, group_size, kernel_size : int
    n_channels : int
        Channels of the series.
    max_channels : int
        Multivariate series: each group reads ``clip(C // 2, 2, max_channels)``
        channels drawn with replacement (a channel drawn twice counts twice),
        as Hydra sums the drawn channels before convolving.
    random_state : RandomState

    Returns
    -------
    kernels : ndarray of shape (n_groups * group_size, C, kernel_size)
        Group ``g`` is kernels ``g * group_size`` to ``(g + 1) * group_size - 1``.
    """
    weights = random_state.standard_normal((n_groups * group_size, kernel_size))
    weights -= weights.mean(axis=1, keepdims=True)
    weights /= np.abs(weights).sum(axis=1, keepdims=True)
    if n_channels == 1:
        return weights[:, None, :]
    per_group = int(np.clip(n_channels // 2, 2, max_channels))
    drawn = random_state.randint(0, n_channels, (n_groups, per_group))
    multiplicity = np.stack([np.bincount(d, minlength=n_channels) for d in drawn])  # (G, C)
    channels = np.repeat(multiplicity, group_size, axis=0)  # (K, C)
    return weights[:, None, :] * channels[:, :, None]


class HydraBank(_BaseBank):
    """Hydra's kernels for time series: random kernels that compete in groups.

    The kernels of Dempster, Schmidt and Webb (2023): ``n_groups`` groups of
    ``group_size`` random kernels (normal weights, zero mean, unit L1 norm).
    With the competing statistics of :class:`~skconv.ConvFeatures`
    (``pooling=("max_wins_sum", "min_wins")``: at each position, which kernel
    of each group gives the largest and the smallest response) they give
    Hydra's features; :func:`skconv.make_hydra` builds the whole transform.
    ``ConvFeatures`` reads ``group_size`` as the competing groups
    (``kernel_groups=None``).

    Parameters
    ----------
    n_groups : int, default=32
        Groups of kernels (Hydra's 64 are split between the series and its
        difference: 32 each).
    group_size : int, default=8
        Kernels per group.
    kernel_size : int, default=9
        Taps per kernel.
    max_channels : int, default=8
        Multivariate series: each group reads the sum of ``clip(C // 2, 2,
        max_channels)`` channels drawn at random with replacement (its kernels
        weigh a channel drawn twice twice), as Hydra does.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights and channels. When None inside
        :class:`~skconv.ConvFeatures`, the estimator's ``random_state`` is used.

    Attributes
    ----------
    kernels_ : ndarray of shape (n_groups * group_size, C, kernel_size), or \
            (n_groups * group_size, C, 1, kernel_size) for series given as images
            of height 1

    See Also
    --------
    skconv.make_hydra : The whole Hydra transform.
    MiniRocketBank : MiniRocket's fixed kernels.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import HydraBank
    >>> HydraBank(random_state=0).fit(np.zeros((5, 1, 100))).kernels_.shape
    (256, 1, 9)
    """

    _series_only = True  # rows of X are series, never flattened images

    _parameter_constraints = {
        "n_groups": [Interval(Integral, 1, None, closed="left")],
        "group_size": [Interval(Integral, 2, None, closed="left")],
        "kernel_size": [Interval(Integral, 2, None, closed="left")],
        "max_channels": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self, n_groups=32, *, group_size=8, kernel_size=9, max_channels=8, random_state=None
    ):
        self.n_groups = n_groups
        self.group_size = group_size
        self.kernel_size = kernel_size
        self.max_channels = max_channels
        self.random_state = random_state

    def _make_kernels(self, images, n_channels, n_axes):
        """Hydra's kernels ``(n_groups * group_size, C, kernel_size)``."""
        return hydra_kernels(
            self.n_groups,
            self.group_size,
            self.kernel_size,
            n_channels,
            self.max_channels,
            check_random_state(self.random_state),
        )
