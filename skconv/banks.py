"""Kernel banks: small hyper-parameter objects whose builders are pure functions.

A bank is a scikit-learn style object (``get_params``/``set_params``/``clone``),
like the kernels of :class:`~sklearn.gaussian_process.GaussianProcessRegressor`,
so that ``GridSearchCV`` can search over ``convfeatures__bank`` (a list of banks)
and ``convfeatures__bank__<param>``. ``bank.fit(images)`` stores the kernels as
``kernels_`` of shape ``(K, C, *kernel_size)``; :class:`~skconv.ConvFeatures`
fits a clone of its bank, never the object it was given.

The maths lives in module-level functions (``random_kernels``,
``gabor_kernels``) that take a ``RandomState`` or plain numbers and return
arrays, so they can be tested and reused on their own.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._compat import HasMethods, Interval, StrOptions, _fit_context

__all__ = [
    "RandomBank", "GaborBank", "ArrayBank", "PatchBank", "MiniRocketBank",
    "random_kernels", "gabor_kernels", "minirocket_kernels",
]


def resolve_kernel_size(kernel_size, n_axes):
    """Expand an int kernel size to ``n_axes`` axes; check a tuple's length.

    Parameters
    ----------
    kernel_size : int or tuple of int
    n_axes : int

    Returns
    -------
    kernel_size : tuple of int
    """
    if isinstance(kernel_size, Integral):
        return (int(kernel_size),) * n_axes
    kernel_size = tuple(int(k) for k in kernel_size)
    if len(kernel_size) != n_axes or min(kernel_size) < 1:
        raise ValueError(
            f"kernel_size must be a positive int or a tuple of {n_axes} positive int "
            f"for {n_axes}-D data; got {kernel_size!r}."
        )
    return kernel_size


def _image_layout(images):
    """``(n_channels, n_spatial_axes)`` of an ``(n, C, *spatial)`` array."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) not in (3, 4):
        raise ValueError(
            "A bank is fitted on images of shape (n, C, L) or (n, C, H, W); got "
            f"{'an object without a shape' if shape is None else f'shape {shape}'}."
        )
    return int(shape[1]), len(shape) - 2


def normalize_kernels(kernels, *, zero_mean=True, unit_norm=True):
    """Subtract each kernel's mean and/or scale it to unit L2 norm.

    Parameters
    ----------
    kernels : ndarray of shape (K, ...)
    zero_mean : bool, default=True
    unit_norm : bool, default=True

    Returns
    -------
    kernels : ndarray of shape (K, ...)
        A new array; kernels of zero norm are left at zero.
    """
    flat = kernels.reshape(kernels.shape[0], -1).astype(np.float64, copy=True)
    if zero_mean:
        flat -= flat.mean(axis=1, keepdims=True)
    if unit_norm:
        norms = np.linalg.norm(flat, axis=1, keepdims=True)
        flat /= np.where(norms > 0, norms, 1.0)
    return flat.reshape(kernels.shape)


def random_kernels(
    random_state, n_kernels, shape, *, distribution="normal", zero_mean=True, unit_norm=True
):
    """Draw ``n_kernels`` random kernels of ``shape = (C, *kernel_size)``.

    Parameters
    ----------
    random_state : numpy.random.RandomState
    n_kernels : int
    shape : tuple of int
        ``(C, k)`` or ``(C, kh, kw)``: every kernel spans all channels.
    distribution : {"normal", "uniform", "rademacher"}, default="normal"
        Standard normal, uniform on [-1, 1], or random signs.
    zero_mean, unit_norm : bool, default=True
        See :func:`normalize_kernels`.

    Returns
    -------
    kernels : ndarray of shape (n_kernels, *shape), dtype float64
    """
    size = (n_kernels, *shape)
    if distribution == "normal":
        kernels = random_state.standard_normal(size)
    elif distribution == "uniform":
        kernels = random_state.uniform(-1.0, 1.0, size)
    elif distribution == "rademacher":
        kernels = random_state.choice([-1.0, 1.0], size=size)
    else:
        raise ValueError(f"Unknown distribution {distribution!r}.")
    return normalize_kernels(kernels, zero_mean=zero_mean, unit_norm=unit_norm)


def gabor_sigma(frequency, bandwidth):
    """Gaussian width of a Gabor filter with a half-response ``bandwidth`` (octaves)."""
    return np.sqrt(np.log(2) / 2) / (np.pi * frequency) * (2**bandwidth + 1) / (2**bandwidth - 1)


def gabor_kernel(kernel_size, frequency, theta, phase, sigma, aspect_ratio=1.0):
    """One real Gabor kernel ``exp(-(x'^2 + g^2 y'^2) / 2s^2) cos(2 pi f x' + phase)``.

    Parameters
    ----------
    kernel_size : tuple of int
        ``(k,)`` for a 1-D kernel or ``(kh, kw)``; the grid is centred.
    frequency : float
        Spatial frequency in cycles per pixel.
    theta : float
        Orientation in radians (direction of the wave vector; 2-D only).
    phase : float
        0 for the even (cosine, "real") part, pi/2 for the odd ("imaginary") part.
    sigma : float
        Width of the Gaussian envelope in pixels.
    aspect_ratio : float, default=1.0
        Envelope elongation ``g`` across the wave direction (2-D only).

    Returns
    -------
    kernel : ndarray of shape kernel_size
    """
    axes = [np.arange(k) - (k - 1) / 2 for k in kernel_size]
    if len(kernel_size) == 1:
        x_rot, y_rot = axes[0], 0.0
    else:
        y, x = np.meshgrid(*axes, indexing="ij")
        x_rot = x * np.cos(theta) + y * np.sin(theta)
        y_rot = -x * np.sin(theta) + y * np.cos(theta)
    envelope = np.exp(-(x_rot**2 + (aspect_ratio * y_rot) ** 2) / (2 * sigma**2))
    return envelope * np.cos(2 * np.pi * frequency * x_rot + phase)


def gabor_kernels(
    n_channels,
    kernel_size,
    *,
    frequencies,
    n_orientations,
    bandwidth=1.0,
    aspect_ratio=1.0,
    parts="both",
    channels="sum",
    zero_mean=True,
    unit_norm=True,
):
    """A bank of Gabor kernels and the parameters of each.

    Parameters
    ----------
    n_channels : int
        Number of image channels ``C``.
    kernel_size : tuple of int
        ``(k,)`` or ``(kh, kw)``.
    frequencies : sequence of float
        Frequencies in cycles per pixel, in (0, 0.5].
    n_orientations : int
        Orientations ``pi * i / n_orientations``; 1-D kernels have one.
    bandwidth : float, default=1.0
        Half-response frequency bandwidth in octaves; sets the envelope width.
    aspect_ratio : float, default=1.0
        Envelope elongation across the wave direction.
    parts : {"real", "imag", "both"}, default="both"
        Even (cosine), odd (sine) or both phases.
    channels : {"sum", "separate"}, default="sum"
        ``"sum"``: each kernel is the same filter on every channel (it responds to
        the channel sum, e.g. intensity); ``"separate"``: one kernel per filter and
        channel, zero on the other channels.
    zero_mean, unit_norm : bool, default=True
        Remove each filter's mean, scale it to unit norm (over all channels).

    Returns
    -------
    kernels : ndarray of shape (K, C, *kernel_size)
    params : dict of ndarray of shape (K,)
        ``"orientation"`` (radians), ``"frequency"``, ``"phase"``, ``"sigma"`` and
        ``"channel"`` (-1 when the kernel spans every channel).
    """
    thetas = np.pi * np.arange(n_orientations) / n_orientations
    if len(kernel_size) == 1:
        thetas = thetas[:1]
    phases = {"real": [0.0], "imag": [np.pi / 2], "both": [0.0, np.pi / 2]}[parts]
    channel_list = [-1] if channels == "sum" else list(range(n_channels))
    kernels, rows = [], []
    for frequency in frequencies:
        sigma = gabor_sigma(frequency, bandwidth)
        for theta in thetas:
            for phase in phases:
                base = gabor_kernel(kernel_size, frequency, theta, phase, sigma, aspect_ratio)
                # Normalise the filter itself, so that a channel it does not read
                # stays exactly zero; "sum" spreads the unit norm over C copies.
                base = normalize_kernels(base[None], zero_mean=zero_mean, unit_norm=unit_norm)[0]
                for channel in channel_list:
                    kernel = np.zeros((n_channels, *kernel_size))
                    if channel < 0:
                        kernel[:] = base / (np.sqrt(n_channels) if unit_norm else 1.0)
                    else:
                        kernel[channel] = base
                    kernels.append(kernel)
                    rows.append((theta, frequency, phase, sigma, channel))
    kernels = np.array(kernels)
    names = ("orientation", "frequency", "phase", "sigma", "channel")
    params = {name: np.array(col) for name, col in zip(names, zip(*rows))}
    params["channel"] = params["channel"].astype(int)
    return kernels, params


def minirocket_kernels(n_channels=1, random_state=None, max_channels=9):
    """MiniRocket's 84 kernels of length 9: weight 2 on three taps, -1 on the other six.

    One kernel per choice of the three taps (Dempster et al. 2021); every
    kernel sums to zero, so the responses ignore the signal's offset. With
    several channels each kernel reads a random subset of
    ``floor(2 ** U(0, log2(min(C, max_channels) + 1)))`` channels (as MiniRocket
    does per kernel and dilation), and is zero on the others.

    Parameters
    ----------
    n_channels : int, default=1
    random_state : RandomState, default=None
        Draws the channel subsets (unused for one channel).
    max_channels : int, default=9

    Returns
    -------
    kernels : ndarray of shape (84, n_channels, 9), float64

    Examples
    --------
    >>> k = minirocket_kernels()
    >>> k.shape, k[0, 0].tolist()
    ((84, 1, 9), [2.0, 2.0, 2.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0])
    """
    from itertools import combinations

    taps = np.full((84, 9), -1.0)
    for k, chosen in enumerate(combinations(range(9), 3)):
        taps[k, list(chosen)] = 2.0
    kernels = np.zeros((84, n_channels, 9))
    if n_channels == 1:
        kernels[:, 0] = taps
        return kernels
    rng = check_random_state(random_state)
    top = np.log2(min(n_channels, max_channels) + 1)
    sizes = (2 ** rng.uniform(0, top, 84)).astype(int)
    for k, size in enumerate(sizes):
        kernels[k, rng.choice(n_channels, size, replace=False)] = taps[k]
    return kernels


class _BaseBank(BaseEstimator):
    """Common base: ``fit(images)`` stores ``kernels_`` of shape (K, C, *size)."""


_NORM_CONSTRAINTS = {"zero_mean": ["boolean"], "unit_norm": ["boolean"]}
_SIZE_CONSTRAINT = [Interval(Integral, 1, None, closed="left"), tuple, list]


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
    kernels_ : ndarray of shape (n_kernels, C, *kernel_size)
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, images, y=None):
        """Draw the kernels for images of shape ``(n, C, *spatial)``.

        Parameters
        ----------
        images : array of shape (n, C, L) or (n, C, H, W)
            Only the shape is read.
        y : None
            Ignored.

        Returns
        -------
        self : RandomBank
            The fitted bank.
        """
        n_channels, n_axes = _image_layout(images)
        size = resolve_kernel_size(self.kernel_size, n_axes)
        if self.zero_mean and n_channels * int(np.prod(size)) == 1:
            raise ValueError(
                f"RandomBank(kernel_size={self.kernel_size!r}, zero_mean=True) on "
                "single-channel data gives kernels of one tap, which are all zero once "
                "their mean is removed; use kernel_size >= 2 or zero_mean=False."
            )
        self.kernels_ = random_kernels(
            check_random_state(self.random_state),
            self.n_kernels,
            (n_channels, *size),
            distribution=self.distribution,
            zero_mean=self.zero_mean,
            unit_norm=self.unit_norm,
        )
        return self


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
    kernels_ : ndarray of shape (K, C, *kernel_size)
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
        frequencies = np.atleast_1d(np.asarray(self.frequencies, dtype=float))
        if frequencies.ndim != 1 or frequencies.size == 0 or not (
            np.all(frequencies > 0) and np.all(frequencies < 0.5)
        ):
            raise ValueError(
                "frequencies must be one or more numbers in (0, 0.5) cycles per "
                "pixel (0.5 is the Nyquist frequency, where a Gabor kernel aliases); "
                f"got {self.frequencies!r}."
            )
        return frequencies

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, images, y=None):
        """Build the kernels for images of shape ``(n, C, *spatial)``.

        Parameters
        ----------
        images : array of shape (n, C, L) or (n, C, H, W)
            Only the shape is read.
        y : None
            Ignored.

        Returns
        -------
        self : GaborBank
            The fitted bank.
        """
        n_channels, n_axes = _image_layout(images)
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
        self.kernels_, params = gabor_kernels(
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
        return self


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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, images, y=None):
        """Build the kernels for series of shape ``(n, C, L)``.

        Parameters
        ----------
        images : array of shape (n, C, L) or (n, C, 1, L)
            Only the shape is read; images taller than one row are refused.
        y : None
            Ignored.

        Returns
        -------
        self : MiniRocketBank
            The fitted bank.
        """
        n_channels, n_axes = _image_layout(images)
        if n_axes == 2 and images.shape[2] != 1:
            raise ValueError(
                "MiniRocketBank makes 1-D kernels for time series; got images of shape "
                f"{tuple(images.shape[1:])}. For images use RandomBank, GaborBank or "
                "PatchBank."
            )
        kernels = minirocket_kernels(
            n_channels, check_random_state(self.random_state), self.max_channels
        )
        # Multichannel series come as images of height 1: (C, 1, L).
        self.kernels_ = kernels[:, :, None, :] if n_axes == 2 else kernels
        return self


class ArrayBank(_BaseBank):
    """Kernels given as an array.

    Parameters
    ----------
    kernels : array-like of shape (K, C, *kernel_size) or (K, *kernel_size)
        The kernels; without a channel axis they are single-channel kernels.

    Attributes
    ----------
    kernels_ : ndarray of shape (K, C, *kernel_size)
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, images, y=None):
        """Check the kernels against images of shape ``(n, C, *spatial)``.

        Parameters
        ----------
        images : array of shape (n, C, L) or (n, C, H, W)
            Only the shape is read.
        y : None
            Ignored.

        Returns
        -------
        self : ArrayBank
            The fitted bank.
        """
        n_channels, n_axes = _image_layout(images)
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
                f"bank kernels have {kernels.shape[1]} channel(s) but the images have "
                f"{n_channels}."
            )
        if not np.all(np.isfinite(kernels)):
            raise ValueError("bank kernels contain NaN or infinity.")
        self.kernels_ = kernels
        return self


def sample_patches(images, kernel_size, n_patches, random_state):
    """A reproducible random sample of patches, each spanning all channels.

    Only the sampled images are read (for a dask array, only the blocks that
    hold them are computed, once); the patches of the whole dataset never exist.

    Parameters
    ----------
    images : array of shape (n, C, L) or (n, C, H, W)
        numpy or dask array.
    kernel_size : tuple of int
        ``(k,)`` or ``(kh, kw)``; must fit inside the images (no padding).
    n_patches : int
    random_state : numpy.random.RandomState

    Returns
    -------
    patches : ndarray of shape (n_patches, C * prod(kernel_size)), float64
        Flattened in (channel, row, column) order, like a kernel ``(C, kh, kw)``.
    """
    n, n_channels, *spatial = images.shape
    if any(k > s for k, s in zip(kernel_size, spatial)):
        raise ValueError(
            f"kernel_size={tuple(kernel_size)} does not fit in images of size {tuple(spatial)}."
        )
    which = random_state.randint(0, n, n_patches)
    starts = [random_state.randint(0, s - k + 1, n_patches) for s, k in zip(spatial, kernel_size)]
    unique, inverse = np.unique(which, return_inverse=True)
    picked = images[unique]
    if hasattr(picked, "compute"):
        picked = picked.compute()
    picked = np.asarray(picked, dtype=np.float64)
    offsets = np.meshgrid(*[np.arange(k) for k in kernel_size], indexing="ij")
    index = [start.reshape((-1,) + (1,) * len(kernel_size)) + off for start, off in zip(starts, offsets)]
    rows = inverse.reshape((-1,) + (1,) * len(kernel_size))
    patches = np.stack([picked[(rows, c, *index)] for c in range(n_channels)], axis=1)
    return patches.reshape(n_patches, -1)


def resolve_norm_reg(norm_reg, patches):
    """``norm_reg`` itself, or for ``"auto"`` Coates's 10 rescaled to the patches' range.

    Examples
    --------
    >>> import numpy as np
    >>> resolve_norm_reg("auto", np.array([[0.0, 255.0]]))
    10.0
    >>> round(resolve_norm_reg("auto", np.array([[0.0, 1.0]])), 6)
    0.000154
    """
    if norm_reg != "auto":
        return float(norm_reg)
    value_range = float(np.ptp(patches)) if np.size(patches) else 0.0
    if not value_range > 0:
        value_range = 255.0  # constant patches: any positive value keeps them finite
    return 10.0 * (value_range / 255.0) ** 2


def normalize_patches(patches, reg):
    """Subtract each patch's mean and divide by ``sqrt(variance + reg)``."""
    mean = patches.mean(axis=1, keepdims=True)
    var = patches.var(axis=1, keepdims=True)
    return (patches - mean) / np.sqrt(var + reg)


def zca_whitening(patches, reg):
    """Mean and ZCA matrix ``U diag(1 / sqrt(s + reg)) U^T`` of the patches.

    Parameters
    ----------
    patches : ndarray of shape (n, D)
    reg : float
        Added to the eigenvalues of the covariance.

    Returns
    -------
    mean : ndarray of shape (D,)
    whitening : ndarray of shape (D, D)
        Symmetric.
    """
    mean = patches.mean(axis=0)
    centered = patches - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centered.T @ centered / len(patches))
    scale = 1.0 / np.sqrt(np.clip(eigenvalues, 0, None) + reg)
    return mean, (eigenvectors * scale) @ eigenvectors.T


def _learner(estimator, n_kernels, random_state):
    """A fresh scikit-learn estimator for a shortcut name, or a clone."""
    from sklearn.base import clone

    if not isinstance(estimator, str):
        learner = clone(estimator)
        if "random_state" in learner.get_params() and learner.get_params()["random_state"] is None:
            learner.set_params(random_state=random_state)
        return learner
    if estimator == "kmeans":
        from sklearn.cluster import MiniBatchKMeans

        return MiniBatchKMeans(n_kernels, n_init=3, batch_size=2048, random_state=random_state)
    if estimator == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_kernels, random_state=random_state)
    if estimator == "ica":
        from sklearn.decomposition import FastICA

        return FastICA(n_kernels, whiten="unit-variance", max_iter=500, random_state=random_state)
    from sklearn.decomposition import MiniBatchDictionaryLearning

    return MiniBatchDictionaryLearning(n_kernels, batch_size=256, random_state=random_state)


class PatchBank(_BaseBank):
    """Kernels learned from the training images' own patches.

    The single-layer recipe of Coates, Lee & Ng (2011) and of PCANet: sample
    patches, optionally normalise each one (contrast normalisation) and ZCA-whiten
    them, then fit any scikit-learn estimator exposing ``cluster_centers_`` or
    ``components_``; its centres or components are the kernels. Inside
    :class:`~skconv.ConvFeatures` every patch of the data gets the same
    normalisation and whitening before it meets the kernels, without the patches
    being materialised: the whitening folds into the kernels and a bias, and each
    patch's mean and norm come from box sums over the patch.

    Parameters
    ----------
    estimator : {"kmeans", "pca", "ica", "dictionary"} or estimator, default="kmeans"
        ``"kmeans"``: MiniBatchKMeans; ``"pca"``: PCA; ``"ica"``: FastICA;
        ``"dictionary"``: MiniBatchDictionaryLearning, each with ``n_kernels``
        components. An estimator object (e.g. KMeans, or dask-ml's KMeans) is
        cloned and used with its own size.
    n_kernels : int, default=64
        Number of kernels for a shortcut ``estimator``.
    kernel_size : int or tuple of int, default=5
        Patch (and kernel) size.
    n_patches : int, default=10000
        Patches sampled (reproducibly, from ``random_state``) to learn from.
    normalize : bool, default=True
        Subtract each patch's mean and divide by ``sqrt(var + norm_reg)``.
    norm_reg : "auto" or float, default="auto"
        Variance regulariser of the normalisation (> 0: flat patches are then
        divided by ``sqrt(norm_reg)``, not by zero). ``"auto"`` follows the
        data's scale: ``10 * (r / 255) ** 2`` with ``r`` the range of the
        sampled patch values, which is the 10 Coates et al. use for pixels in
        0..255 and 1.5e-4 for pixels in 0..1, so that both scalings learn the
        same kernels. The value used is ``norm_reg_``.
    whiten : bool, default=True
        ZCA-whiten the (normalised) patches.
    whiten_reg : float, default=0.1
        Added to the covariance's eigenvalues before whitening.
    random_state : int, RandomState instance or None, default=None
        Seeds the patch sample and the estimator.

    Attributes
    ----------
    kernels_ : ndarray of shape (K, C, *kernel_size)
        Centres or components, in the normalised and whitened patch space.
    estimator_ : estimator
        The fitted estimator.
    patch_mean_ : ndarray of shape (C * prod(kernel_size),) or None
        Mean of the normalised patches (subtracted before whitening).
    whitening_ : ndarray of shape (D, D) or None
        The ZCA matrix, None without whitening.
    cluster_sizes_ : ndarray of shape (K,) or None
        Sampled patches assigned to each centre, for clustering estimators.
    norm_reg_ : float
        The normalisation's regulariser actually used.

    See Also
    --------
    RandomBank : Random kernels.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skconv import PatchBank
    >>> images = load_digits().images[:, None]          # (1797, 1, 8, 8)
    >>> bank = PatchBank("pca", n_kernels=8, kernel_size=3, whiten=False, random_state=0)
    >>> bank.fit(images).kernels_.shape
    (8, 1, 3, 3)
    """

    _parameter_constraints = {
        "estimator": [StrOptions({"kmeans", "pca", "ica", "dictionary"}), HasMethods(["fit"])],
        "n_kernels": [Interval(Integral, 1, None, closed="left")],
        "kernel_size": _SIZE_CONSTRAINT,
        "n_patches": [Interval(Integral, 2, None, closed="left")],
        "normalize": ["boolean"],
        "norm_reg": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "whiten": ["boolean"],
        "whiten_reg": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator="kmeans",
        n_kernels=64,
        kernel_size=5,
        *,
        n_patches=10000,
        normalize=True,
        norm_reg="auto",
        whiten=True,
        whiten_reg=0.1,
        random_state=None,
    ):
        self.estimator = estimator
        self.n_kernels = n_kernels
        self.kernel_size = kernel_size
        self.n_patches = n_patches
        self.normalize = normalize
        self.norm_reg = norm_reg
        self.whiten = whiten
        self.whiten_reg = whiten_reg
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, images, y=None):
        """Sample patches, normalise and whiten them, fit the estimator.

        Parameters
        ----------
        images : array of shape (n, C, L) or (n, C, H, W)
            Training images (numpy or dask).
        y : None
            Ignored.

        Returns
        -------
        self : PatchBank
            The fitted bank.
        """
        n_channels, n_axes = _image_layout(images)
        size = resolve_kernel_size(self.kernel_size, n_axes)
        rng = check_random_state(self.random_state)
        patches = sample_patches(images, size, self.n_patches, rng)
        self.norm_reg_ = resolve_norm_reg(self.norm_reg, patches)
        if self.normalize:
            patches = normalize_patches(patches, self.norm_reg_)
        self.patch_mean_, self.whitening_ = None, None
        if self.whiten:
            self.patch_mean_, self.whitening_ = zca_whitening(patches, self.whiten_reg)
            patches = (patches - self.patch_mean_) @ self.whitening_
        self.estimator_ = _learner(self.estimator, self.n_kernels, rng).fit(patches)
        centres = getattr(self.estimator_, "cluster_centers_", None)
        if centres is None:
            centres = getattr(self.estimator_, "components_", None)
        if centres is None:
            raise TypeError(
                f"estimator {type(self.estimator_).__name__} has neither cluster_centers_ "
                "nor components_ after fit."
            )
        self.kernels_ = np.asarray(centres, dtype=np.float64).reshape(-1, n_channels, *size)
        labels = getattr(self.estimator_, "labels_", None)
        self.cluster_sizes_ = (  # np.asarray also computes dask-ml's lazy labels
            np.bincount(np.asarray(labels), minlength=len(self.kernels_))
            if labels is not None
            else None
        )
        return self

    @property
    def patch_transform_(self):
        """What ConvFeatures applies to every patch: see :class:`PatchTransform`."""
        check_is_fitted(self, "kernels_")
        return PatchTransform(
            self.norm_reg_ if self.normalize else None, self.patch_mean_, self.whitening_
        )


class PatchTransform:
    """An affine map of patches: ``x = W ((p - mean(p)) / sqrt(var(p) + reg) - mu)``.

    Parameters
    ----------
    norm_reg : float or None
        Contrast normalisation's regulariser; None skips the normalisation.
    mean : ndarray of shape (D,) or None
        ``mu``, subtracted after normalisation (None: zero).
    whitening : ndarray of shape (D, D) or None
        ``W``, symmetric (None: identity).
    """

    def __init__(self, norm_reg, mean, whitening):
        self.norm_reg = norm_reg
        self.mean = mean
        self.whitening = whitening

    def apply(self, patches):
        """Transform explicit patches ``(n, D)`` (the reference the engine matches)."""
        x = normalize_patches(patches, self.norm_reg) if self.norm_reg is not None else patches
        if self.mean is not None:
            x = x - self.mean
        return x @ self.whitening if self.whitening is not None else x
