"""MiniRocket's fixed kernels for time series."""

from numbers import Integral

from sklearn.utils import check_random_state

from .._compat import Interval
from .._kernels import minirocket_kernels
from ._base import _BaseBank


class MiniRocketBank(_BaseBank):
    """MiniRocket's fixed kernels for time series: 84 kernels of length 9.

    The kernels of Dempster et al. (2021): weight 2 on three of nine taps and
    -1 on the others, one kernel per choice of the three taps. With
    ``ConvFeatures(dilation="exponential", n_biases=..., pooling="ppv")`` they
    give MiniRocket's features; :func:`skconv.make_minirocket` builds that
    estimator in one line.

    Parameters
    ----------
    max_channels : int, default=9
        Multivariate series: each kernel reads a random subset of at most
        this many channels (zero weights elsewhere), as in MiniRocket.
    random_state : int, RandomState instance or None, default=None
        Draws the channel subsets (unused for univariate series). When None
        inside :class:`~skconv.ConvFeatures`, the estimator's ``random_state``
        is used.

    Attributes
    ----------
    kernels_ : ndarray of shape (84, C, 9), or (84, C, 1, 9) for series given as
        images of height 1 (multichannel series, ``image_shape=(C, 1, L)``).

    See Also
    --------
    skconv.make_minirocket : The whole MiniRocket transform as a ConvFeatures.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import MiniRocketBank
    >>> MiniRocketBank().fit(np.zeros((5, 1, 100))).kernels_.shape
    (84, 1, 9)
    """

    _series_only = True  # rows of X are series, never flattened images

    _parameter_constraints = {
        "max_channels": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, max_channels=9, random_state=None):
        self.max_channels = max_channels
        self.random_state = random_state

    def _make_kernels(self, images, n_channels, n_axes):
        """MiniRocket's 84 kernels ``(84, C, 9)`` (channel subsets for multivariate series)."""
        return minirocket_kernels(
            n_channels, check_random_state(self.random_state), self.max_channels
        )
