"""What every bank shares: the base class, the input layout, common constraints."""

import time
from numbers import Integral

from sklearn.base import BaseEstimator

from .._compat import DocLinkMixin, Interval, _fit_context


def _image_layout(images):
    """``(n_channels, n_spatial_axes)`` of an ``(n, C, *spatial)`` array."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) not in (3, 4):
        raise ValueError(
            "A bank is fitted on images of shape (n, C, L) or (n, C, H, W); got "
            f"{'an object without a shape' if shape is None else f'shape {shape}'}."
        )
    return int(shape[1]), len(shape) - 2


def _series_layout(images, bank_name):
    """``(n_channels, n_spatial_axes)`` of series ``(n, C, L)`` or ``(n, C, 1, L)``.

    Images taller than one row are refused: the bank makes 1-D kernels.
    """
    n_channels, n_axes = _image_layout(images)
    if n_axes == 2 and images.shape[2] != 1:
        raise ValueError(
            f"{bank_name} makes 1-D kernels for time series; got images of shape "
            f"{tuple(images.shape[1:])}. For images use RandomBank, GaborBank or PatchBank."
        )
    return n_channels, n_axes


def _series_kernels(kernels, n_axes):
    """Kernels ``(K, C, k)`` as the series' layout takes them: ``(K, C, 1, k)`` for images."""
    return kernels[:, :, None, :] if n_axes == 2 else kernels


def _step_timer(verbose):
    """``step(message)``: print ``[PatchBank] message (x.x s)`` since the last step, if verbose."""
    last = [time.perf_counter()]

    def step(message):
        if verbose:
            now = time.perf_counter()
            print(f"[PatchBank] {message} ({now - last[0]:.1f} s)", flush=True)
            last[0] = now

    return step


class _BaseBank(DocLinkMixin, BaseEstimator):
    """Common base: ``fit(images)`` stores ``kernels_`` of shape ``(K, C, *size)``.

    A family defines ``_make_kernels(images, n_channels, n_axes)``, which
    returns the kernels ``(K, C, *kernel_size)`` for ``n_axes`` spatial axes
    (and may set other fitted attributes); ``fit`` checks the layout of the
    images first. Banks for time series (``_series_only``) make 1-D kernels:
    images taller than one row are refused, and series given as images of
    height 1 get kernels ``(K, C, 1, k)``.
    """

    _series_only = False

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, images, y=None):
        """Build the kernels for images ``(n, C, L)`` or ``(n, C, H, W)``.

        Parameters
        ----------
        images : array of shape (n, C, L) or (n, C, H, W)
            The training images (most banks read only their shape; banks for
            time series take ``(n, C, L)`` or ``(n, C, 1, L)``).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted bank, with ``kernels_``.
        """
        if self._series_only:
            n_channels, n_axes = _series_layout(images, type(self).__name__)
            self.kernels_ = _series_kernels(self._make_kernels(images, n_channels, 1), n_axes)
        else:
            n_channels, n_axes = _image_layout(images)
            self.kernels_ = self._make_kernels(images, n_channels, n_axes)
        return self

    def _make_kernels(self, images, n_channels, n_axes):
        """The kernels ``(K, C, *kernel_size)`` (each family defines it)."""
        raise NotImplementedError


_NORM_CONSTRAINTS = {"zero_mean": ["boolean"], "unit_norm": ["boolean"]}
_SIZE_CONSTRAINT = [Interval(Integral, 1, None, closed="left"), tuple, list]
