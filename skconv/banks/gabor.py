"""Gabor kernels: oriented, band-pass."""

from numbers import Integral, Real

import numpy as np

from .._compat import Interval, StrOptions
from .._kernels import gabor_kernels, gabor_sigma, resolve_kernel_size
from .._validation import real_sequence
from ._base import _NORM_CONSTRAINTS, _SIZE_CONSTRAINT, _BaseBank


class GaborBank(_BaseBank):
    """Gabor kernels: oriented, band-pass, at several frequencies and phases.

    Kernels are ordered by (frequency, orientation, phase, channel); the fitted
    ``orientations_``, ``frequencies_``, ``phases_``, ``sigmas_`` and
    ``channels_`` say which is which. 1-D data gets 1-D Gabor (Morlet-like)
    kernels, with a single orientation.

    Parameters
    ----------
    n_orientations : int, default=8
        Orientations ``pi * i / n_orientations``, ``i = 0 .. n_orientations - 1``.
    frequencies : tuple of float, default=(0.15, 0.3)
        Spatial frequencies in cycles per pixel, each in (0, 0.5].
    bandwidth : float, default=1.0
        Frequency bandwidth in octaves; the envelope width is
        ``sigma = sqrt(ln 2 / 2) / (pi f) * (2^b + 1) / (2^b - 1)``.
    aspect_ratio : float, default=1.0
        Envelope elongation across the wave direction (1 is circular).
    kernel_size : int, tuple of int or None, default=None
        Spatial size. None uses the smallest odd size covering +/- 2.5 sigma of
        the widest envelope, capped at the image size (the largest odd size
        that fits), so the default follows the input: 7x7 on 8x8 digits.
    parts : {"real", "imag", "both"}, default="both"
        Even (cosine) kernels, odd (sine) kernels, or both.
    channels : {"sum", "separate"}, default="sum"
        With multi-channel images: ``"sum"`` applies each filter identically to
        every channel (it sees the channel sum); ``"separate"`` makes one kernel
        per filter and channel.
    zero_mean : bool, default=True
        Remove each kernel's mean (the DC response of the even part).
    unit_norm : bool, default=True
        Scale each kernel to unit L2 norm.

    Attributes
    ----------
    kernels_ : ndarray of shape ``(K, C, *kernel_size)``
        The kernels, float64.
    orientations_, frequencies_, phases_, sigmas_ : ndarray of shape (K,)
        Parameters of each kernel (radians, cycles/pixel, radians, pixels).
    channels_ : ndarray of shape (K,), dtype int
        The channel a kernel reads (``channels="separate"``), or -1 for all.

    See Also
    --------
    RandomBank : Random kernels.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import GaborBank
    >>> bank = GaborBank(n_orientations=4, frequencies=(0.25,), kernel_size=7)
    >>> bank.fit(np.zeros((1, 1, 28, 28))).kernels_.shape
    (8, 1, 7, 7)
    >>> np.degrees(bank.orientations_[::2])
    array([  0.,  45.,  90., 135.])
    """

    _parameter_constraints = {
        "n_orientations": [Interval(Integral, 1, None, closed="left")],
        "frequencies": [Interval(Real, 0, 0.5, closed="neither"), tuple, list],
        "bandwidth": [Interval(Real, 0, None, closed="neither")],
        "aspect_ratio": [Interval(Real, 0, None, closed="neither")],
        "kernel_size": [None, *_SIZE_CONSTRAINT],
        "parts": [StrOptions({"real", "imag", "both"})],
        "channels": [StrOptions({"sum", "separate"})],
        **_NORM_CONSTRAINTS,
    }

    def __init__(
        self,
        n_orientations=8,
        frequencies=(0.15, 0.3),
        *,
        bandwidth=1.0,
        aspect_ratio=1.0,
        kernel_size=None,
        parts="both",
        channels="sum",
        zero_mean=True,
        unit_norm=True,
    ):
        self.n_orientations = n_orientations
        self.frequencies = frequencies
        self.bandwidth = bandwidth
        self.aspect_ratio = aspect_ratio
        self.kernel_size = kernel_size
        self.parts = parts
        self.channels = channels
        self.zero_mean = zero_mean
        self.unit_norm = unit_norm

    def _checked_frequencies(self):
        frequencies = real_sequence(self.frequencies, "frequencies")
        if (
            frequencies.ndim != 1
            or frequencies.size == 0
            or not (np.all(frequencies > 0) and np.all(frequencies < 0.5))
        ):
            raise ValueError(
                "frequencies must be one or more numbers in (0, 0.5) cycles per "
                "pixel (0.5 is the Nyquist frequency, where a Gabor kernel aliases); "
                f"got {self.frequencies!r}."
            )
        return frequencies

    def _make_kernels(self, images, n_channels, n_axes):
        """Gabor kernels, and their ``orientations_``, ``frequencies_``, ... attributes."""
        frequencies = self._checked_frequencies()
        if self.kernel_size is None:
            widest = gabor_sigma(frequencies.min(), self.bandwidth) * max(
                1.0, 1.0 / self.aspect_ratio if n_axes == 2 else 1.0
            )
            size = (2 * int(np.ceil(2.5 * widest)) + 1,) * n_axes
            # Follow the input: never larger than the image (odd sizes).
            spatial = np.shape(images)[2:]
            size = tuple(min(k, n if n % 2 else n - 1) for k, n in zip(size, spatial))
            size = tuple(max(k, 1) for k in size)
        else:
            size = resolve_kernel_size(self.kernel_size, n_axes)
        kernels, params = gabor_kernels(
            n_channels,
            size,
            frequencies=frequencies,
            n_orientations=self.n_orientations,
            bandwidth=self.bandwidth,
            aspect_ratio=self.aspect_ratio,
            parts=self.parts,
            channels=self.channels,
            zero_mean=self.zero_mean,
            unit_norm=self.unit_norm,
        )
        self.orientations_ = params["orientation"]
        self.frequencies_ = params["frequency"]
        self.phases_ = params["phase"]
        self.sigmas_ = params["sigma"]
        self.channels_ = params["channel"]
        return kernels
