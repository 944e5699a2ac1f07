"""Random kernels."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval, StrOptions
from .._kernels import random_kernels, resolve_kernel_size
from ._base import _NORM_CONSTRAINTS, _SIZE_CONSTRAINT, _BaseBank


class RandomBank(_BaseBank):
    """Random kernels, each spanning every input channel.

    Parameters
    ----------
    n_kernels : int, default=64
        Number of kernels.
    kernel_size : int or tuple of int, default=5
        Spatial size; an int means the same size on every spatial axis.
    distribution : {"normal", "uniform", "rademacher"}, default="normal"
        Distribution of the weights before normalisation.
    zero_mean : bool, default=True
        Subtract each kernel's mean (over channels and taps).
    unit_norm : bool, default=True
        Scale each kernel to unit L2 norm.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw. When None inside :class:`~skconv.ConvFeatures`, the
        estimator's ``random_state`` is used.

    Attributes
    ----------
    kernels_ : ndarray of shape ``(n_kernels, C, *kernel_size)``
        The kernels, float64.

    See Also
    --------
    GaborBank : Oriented band-pass kernels.
    ArrayBank : Kernels given as an array.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import RandomBank
    >>> bank = RandomBank(n_kernels=4, kernel_size=5, random_state=0)
    >>> bank.fit(np.zeros((10, 3, 32, 32))).kernels_.shape
    (4, 3, 5, 5)
    """

    _parameter_constraints = {
        "n_kernels": [Interval(Integral, 1, None, closed="left")],
        "kernel_size": _SIZE_CONSTRAINT,
        "distribution": [StrOptions({"normal", "uniform", "rademacher"})],
        **_NORM_CONSTRAINTS,
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_kernels=64,
        kernel_size=5,
        *,
        distribution="normal",
        zero_mean=True,
        unit_norm=True,
        random_state=None,
    ):
        self.n_kernels = n_kernels
        self.kernel_size = kernel_size
        self.distribution = distribution
        self.zero_mean = zero_mean
        self.unit_norm = unit_norm
        self.random_state = random_state

    def _make_kernels(self, images, n_channels, n_axes):
        """Random kernels ``(n_kernels, C, *kernel_size)``."""
        size = resolve_kernel_size(self.kernel_size, n_axes)
        if self.zero_mean and n_channels * int(np.prod(size)) == 1:
            raise ValueError(
                f"RandomBank(kernel_size={self.kernel_size!r}, zero_mean=True) on "
                "single-channel data gives kernels of one tap, which are all zero once "
                "their mean is removed; use kernel_size >= 2 or zero_mean=False."
            )
        return random_kernels(
            check_random_state(self.random_state),
            self.n_kernels,
            (n_channels, *size),
            distribution=self.distribution,
            zero_mean=self.zero_mean,
            unit_norm=self.unit_norm,
        )
