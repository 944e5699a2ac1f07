"""Kernel banks: small hyper-parameter objects whose builders are pure functions.

A bank is a scikit-learn style object (``get_params``/``set_params``/``clone``),
like the kernels of :class:`~sklearn.gaussian_process.GaussianProcessRegressor`,
so that ``GridSearchCV`` can search over ``convfeatures__bank`` (a list of banks)
and ``convfeatures__bank__<param>``. ``bank.fit(images)`` stores the kernels as
``kernels_`` of shape ``(K, C, *kernel_size)``; :class:`~skconv.ConvFeatures`
fits a clone of its bank, never the object it was given.

This module holds the bank classes only. The kernel mathematics lives in
:mod:`skconv._kernels` (``random_kernels``, ``gabor_kernels``,
``minirocket_kernels``, re-exported here) and patch learning in
:mod:`skconv._patches`.
"""

import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._compat import DocLinkMixin, HasMethods, Interval, StrOptions, _fit_context
from ._input import reject_complex
from ._kernels import (
    gabor_kernels,
    gabor_sigma,
    minirocket_kernels,
    random_kernels,
    resolve_kernel_size,
)
from ._patches import (
    PatchTransform,
    _learner,
    normalize_patches,
    resolve_norm_reg,
    sample_patches,
    zca_whitening,
)
from ._validation import real_sequence

__all__ = [
    "RandomBank",
    "GaborBank",
    "ArrayBank",
    "PatchBank",
    "MiniRocketBank",
    "random_kernels",
    "gabor_kernels",
    "minirocket_kernels",
]


def _image_layout(images):
    """``(n_channels, n_spatial_axes)`` of an ``(n, C, *spatial)`` array."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) not in (3, 4):
        raise ValueError(
            "A bank is fitted on images of shape (n, C, L) or (n, C, H, W); got "
            f"{'an object without a shape' if shape is None else f'shape {shape}'}."
        )
    return int(shape[1]), len(shape) - 2


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
    """Common base: ``fit(images)`` stores ``kernels_`` of shape ``(K, C, *size)``."""


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
        self.kernels_ = kernels
        return self


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
    verbose : int or None, default=None
        Above 0, ``fit`` prints what it did and how long each step took
        (sampling, normalising and whitening, the learner). None: as the
        ``verbose`` of the :class:`~skconv.ConvFeatures` holding the bank.

    Attributes
    ----------
    kernels_ : ndarray of shape ``(K, C, *kernel_size)``
        Centres or components, in the normalised and whitened patch space.
    estimator_ : estimator
        The fitted estimator.
    patch_mean_ : ndarray of shape ``(C * prod(kernel_size),)`` or None
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
        "verbose": [None, "verbose"],
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
        verbose=None,
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
        self.verbose = verbose

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
        step = _step_timer(self.verbose)
        patches = sample_patches(images, size, self.n_patches, rng)
        step(f"sampled {len(patches)} patches of {'x'.join(map(str, size))}")
        if not np.ptp(np.asarray(patches), axis=0).any():
            raise ValueError(
                f"PatchBank cannot learn kernels: all {len(patches)} patches sampled from "
                "the training images are the same (constant images?). Train on images "
                "with some variation, or use RandomBank / GaborBank."
            )
        self.norm_reg_ = resolve_norm_reg(self.norm_reg, patches)
        if self.normalize:
            patches = normalize_patches(patches, self.norm_reg_)
        self.patch_mean_, self.whitening_ = None, None
        if self.whiten:
            self.patch_mean_, self.whitening_ = zca_whitening(patches, self.whiten_reg)
            patches = (patches - self.patch_mean_) @ self.whitening_
        if self.normalize or self.whiten:
            done = [
                n for n, on in (("normalised", self.normalize), ("whitened", self.whiten)) if on
            ]
            step(" and ".join(done) + " them")
        learner = _learner(self.estimator, self.n_kernels, rng)
        self.estimator_ = learner.fit(patches)
        step(f"fitted {type(learner).__name__} on them")
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
