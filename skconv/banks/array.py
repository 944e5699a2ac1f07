"""Kernels given as an array."""

import numpy as np

from .._input import reject_complex
from ._base import _BaseBank


class ArrayBank(_BaseBank):
    """Kernels given as an array.

    Parameters
    ----------
    kernels : array-like of shape ``(K, C, *kernel_size)`` or ``(K, *kernel_size)``
        The kernels; without a channel axis they are single-channel kernels.

    Attributes
    ----------
    kernels_ : ndarray of shape ``(K, C, *kernel_size)``
        A float64 copy of ``kernels`` with its channel axis.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import ArrayBank
    >>> sobel = np.array([[[1, 0, -1], [2, 0, -2], [1, 0, -1]]])
    >>> ArrayBank(sobel).fit(np.zeros((1, 1, 8, 8))).kernels_.shape
    (1, 1, 3, 3)
    """

    _parameter_constraints = {"kernels": ["array-like"]}

    def __init__(self, kernels):
        self.kernels = kernels

    def _make_kernels(self, images, n_channels, n_axes):
        """The given kernels, checked against the images' channels and axes."""
        reject_complex(self.kernels, "bank kernels")
        try:
            kernels = np.array(self.kernels, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"bank kernels must be a numeric array; got {type(self.kernels).__name__}"
                f" that numpy cannot convert ({exc})."
            ) from None
        if kernels.ndim == n_axes + 1:
            kernels = kernels[:, None]
        if kernels.ndim != n_axes + 2 or kernels.shape[0] == 0 or 0 in kernels.shape:
            raise ValueError(
                f"bank kernels must have shape (K, C, *kernel_size) or (K, "
                f"*kernel_size) with {n_axes} spatial axes; got shape {kernels.shape}."
            )
        if kernels.shape[1] != n_channels:
            raise ValueError(
                f"bank kernels have {kernels.shape[1]} channel(s) but the images have {n_channels}."
            )
        if not np.all(np.isfinite(kernels)):
            raise ValueError("bank kernels contain NaN or infinity.")
        return kernels
