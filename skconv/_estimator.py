"""ConvFeatures: the scikit-learn front end. It holds no numerics."""

import warnings
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted

from ._biases import fit_biases, pair_maps
from ._compat import (
    DocLinkMixin,
    HasMethods,
    Interval,
    StrOptions,
    _check_feature_names_in,
    _fit_context,
)
from ._convolve import check_padding_mode
from ._dask import is_dask_array
from ._dilations import (
    DILATION_RULES,
    check_dilation_param,
    check_dilations_fit,
    is_multi_dilation,
    resolve_dilations,
    spread_biases,
)
from ._groups import ALTERNATE, make_parts
from ._input import (
    as_images,
    as_samples,
    check_channel_axis,
    check_series_list,
    compute_dtype,
    image_shape_channels_first,
    is_ragged,
    read_samples,
    resolve_input_shape,
)
from ._ragged import collection_dtype, stack_padded
from .banks import ArrayBank, GaborBank, HydraBank, MiniRocketBank, RandomBank
from .engine.core import (
    PADDING_MODES,
    PADDING_NAMES,
    kernel_matrix,
    make_geometry,
    normalize_axes_param,
)
from .engine.costs import METHODS
from .engine.features import FeatureLayout, PoolingSpec, conv_features
from .engine.learned import ENCODERS, make_response_plan
from .engine.transform import FittedTransform, plan_transform, run_samples
from .pooling import COMPETING_POOLINGS, NONLINEARITIES, POOLINGS, WINDOWED_POOLINGS

_BANK_SHORTCUTS = {
    "random": RandomBank,
    "gabor": GaborBank,
    "minirocket": MiniRocketBank,
    "hydra": HydraBank,
}
_AXES_CONSTRAINT = [Interval(Integral, 1, None, closed="left"), tuple, list]


class _Part:
    """A stand-in part holding only a geometry (for :meth:`ConvFeatures._padding_mode_for`)."""

    def __init__(self, geometry):
        self.geometry = geometry


def resolve_bank(bank):
    """A fresh, unfitted bank object for the ``bank`` parameter."""
    if isinstance(bank, str):
        return _BANK_SHORTCUTS[bank]()
    if hasattr(bank, "fit"):
        return clone(bank)
    return ArrayBank(bank)


def resolve_poolings(pooling):
    """``pooling`` as a tuple of statistic names, or None."""
    if pooling is None:
        return None
    poolings = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    unknown = [p for p in poolings if p not in POOLINGS]
    if not poolings or unknown or len(set(poolings)) != len(poolings):
        raise ValueError(
            f"pooling must be None, one of {POOLINGS} or a sequence of distinct names "
            f"from them; got {pooling!r}."
        )
    return poolings


def check_pool_sigma(pool_sigma, poolings):
    """Raise unless every statistic in ``poolings`` has a Gaussian-window form."""
    if pool_sigma is None:
        return
    boxed = [p for p in poolings or () if p not in WINDOWED_POOLINGS]
    if poolings is None or boxed:
        raise ValueError(
            f"pool_sigma={pool_sigma!r} (Gaussian pooling windows) applies to the "
            f"poolings {WINDOWED_POOLINGS} only; got pooling={poolings!r}. Use "
            f"pool_sigma=None for region pooling."
        )


def resolve_pool_grid(pool_grid, out_spatial):
    """``pool_grid`` per spatial axis; ``"auto"`` is 2x2 quadrants for images, 1 for signals.

    Measured on digits (5-fold, StandardScaler + LogisticRegression): global
    max pooling 0.934, 2x2 quadrants 0.987, raw pixels 0.969. Signals keep
    global pooling (shift invariance, as in Rocket). Capped at the map size.
    """
    if pool_grid == "auto":
        grid = (2, 2) if len(out_spatial) == 2 else (1,)
        return tuple(min(g, n) for g, n in zip(grid, out_spatial))
    return normalize_axes_param(pool_grid, len(out_spatial), "pool_grid")


class ConvFeatures(DocLinkMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Convolutional features: convolve with a kernel bank, rectify, pool.

    ``fit`` builds (or learns) the kernel bank and everything ``transform``
    needs; ``transform`` correlates every sample with every kernel, applies the
    nonlinearity, pools each map over a grid of regions and returns one row of
    features per sample.

    Parameters
    ----------
    bank : {"random", "gabor", "minirocket", "hydra"}, bank object or array-like, \
            default="random"
        The kernels: a shortcut for ``RandomBank()`` / ``GaborBank()`` /
        ``MiniRocketBank()`` / ``HydraBank()``, a bank
        object (any object with ``fit(images)`` setting ``kernels_``; a clone is
        fitted, and its parameters are searchable as ``bank__<param>``), or an
        array of kernels ``(K, C, *kernel_size)`` / ``(K, *kernel_size)``.
    image_shape : tuple of int, default=None
        Shape of one sample when ``X`` holds flattened samples: ``(L,)`` for a
        signal, ``(H, W)`` for an image, ``(C, H, W)`` for a multi-channel image
        (``(C, 1, L)`` for multi-channel signals); one entry may be -1, inferred
        from the number of features. None: each row of a 2-D ``X``
        is a signal (with a warning when its length is a square >= 64, as
        flattened images are); 3-D ``X`` is ``(n, H, W)``, 4-D ``X`` is
        ``(n, C, H, W)``.
    channel_axis : int or None, default=None
        The axis of each sample that holds the channels, as in scikit-image:
        ``-1`` for RGB images as PIL, imageio and scikit-image load them, 4-D
        ``X`` of shape ``(n, H, W, C)`` (or flattened rows with
        ``image_shape=(H, W, C)``). None: channels first, as described under
        ``image_shape``. The features are those of the channels-first images.
    stride : int or tuple of int, default=1
        Step between output positions, per spatial axis.
    padding : {"valid", "same", "full", "alternate"}, int or tuple of int, \
            default="same"
        See :func:`skconv.convolve`. ``"alternate"`` is MiniRocket's rule for
        pooled features: half of the kernels pool their whole same-padded
        maps, the other half only the positions whose taps all read data
        (valid padding), alternating from one dilation to the next.
    padding_mode : {"constant", "reflect", "edge", "symmetric", "wrap"}, \
            default="constant"
        How the border is filled ("constant" is zeros).
    dilation : int, tuple of int, list, "exponential" or "dyadic", default=1
        Spacing between kernel taps: an int (every axis) or a tuple (one int
        per spatial axis). A list of such values runs every kernel at each
        dilation (multi-scale features, named ``..._d{dilation}_k...``);
        ``"exponential"`` is MiniRocket's rule: 32 values spaced exponentially
        from 1 to the largest dilation whose kernel span fits the input,
        rounded down and deduplicated; ``"dyadic"`` is Hydra's: the powers of
        two up to that largest dilation. A dilated kernel longer than the
        input is an error.
    nonlinearity : {"relu", "abs", "square", "tanh", "sigmoid", "triangle", \
            "soft_threshold"} or None, default="relu"
        Applied to every map value before pooling; None keeps the raw maps. The
        encoders treat kernels as centres of (transformed) patches x:
        ``"triangle"`` (Coates et al. 2011) gives ``max(0, mean(z) - z_k)`` with
        ``z_k = ||x - c_k||``; ``"soft_threshold"`` gives ``max(0, c_k . x -
        threshold)``.
    threshold : float, default=0.25
        Offset of the ``"soft_threshold"`` encoder (unused otherwise).
    n_biases : int, default=None
        Biases fitted from the data, per kernel (over all its dilations). Each
        map is then pooled once per bias, as ``pool(nonlinearity(map -
        bias))``, so that ``"ppv"`` measures how often a response exceeds a
        level typical of the data rather than zero (MiniRocket's features).
        ``fit`` takes each kernel's biases, for each dilation, from quantiles
        of its map on one training sample drawn at random (seeded by
        ``random_state``); with ``dilation="exponential"`` small dilations
        get more of them, as in MiniRocket. Features are named
        ``..._k{kernel}_b{bias}_...``. None: no biases.
    pooling : str, tuple of str or None, default="max"
        Statistic(s) of each pooling region: "max", "mean", "sum", "ppv"
        (proportion of positive values, as in Rocket), "l2" (root mean square,
        the L2 pooling of Sermanet et al.), and MultiRocket's "mpv" (mean of the
        positive values, 0 where none), "mipv" (mean 0-based index of the
        positive values divided by the region's number of positions, -1 where
        none) and "lspv" (longest run of consecutive positive values divided by
        the region's number of positions). Positions are numbered in row-major
        order within a region (along the signal for 1-D data), so a run may
        continue from one row of a region to the next. Hydra's competing
        statistics read each kernel with the others of its group
        (``kernel_groups``): at each position the kernel with the group's
        largest response wins; "max_wins" counts a kernel's wins,
        "max_wins_sum" sums its responses where it wins, "min_wins" and
        "min_wins_sum" do the same for the smallest response. None returns
        the whole maps, flattened in (kernel, row, column) order.
    kernel_groups : int, default=None
        For the competing statistics: groups of this many consecutive kernels
        compete. None: the bank's ``group_size`` (:class:`~skconv.HydraBank`).
        Unused by the other statistics.
    pool_grid : "auto", int or tuple of int, default="auto"
        Pooling regions per spatial axis: 1 pools each map globally, 2 (or
        ``(2, 2)``) over its four quadrants. Regions are contiguous, do not
        overlap, and differ in size by at most one row/column. ``"auto"``:
        quadrants for images (where things are matters: on digits global max
        pooling scores below raw pixels, quadrants above), global pooling for
        signals (shift invariance, as in Rocket).
    pool_sigma : float, default=None
        None pools each region's own positions. A positive float pools over
        overlapping Gaussian windows instead, one centred on each region, with a
        standard deviation of ``pool_sigma`` times the region length (0.5 is a
        good start): "mean" and "l2" become Gaussian-weighted (weights summing to
        one over the map), "sum" the weighted mean times the region size. The
        features then change smoothly as the image shifts, which suits kernel
        classifiers such as ``SVC``. Only for "mean", "sum" and "l2" pooling.
    method : {"auto", "gemm", "fft"}, default="auto"
        The convolution algorithm: ``"gemm"`` (patch matrix times kernel
        matrix; fastest for small kernels), ``"fft"`` (overlap-save FFT in
        tiles; fastest for large kernels on large images) or ``"auto"`` (the
        faster one for the geometry according to a cost model; see
        :func:`skconv.choose_method`). The choice is stored in ``method_``.
        Learned banks and the encoders need ``"gemm"`` (or ``"auto"``).
        Large images are processed in tiles and pooled tile by tile, so
        working memory follows scikit-learn's ``working_memory`` setting
        (:func:`sklearn.config_context`), not the image size.
    batch_size : int, default=None
        Samples convolved at once by the GEMM method on small images; None sizes
        batches to about 4 MiB of working memory, which keeps the work in cache
        and peak memory flat.
    dtype : {"float32", "float64"} or None, default=None
        The dtype features are computed (and returned) in, whatever the input's:
        ``"float32"`` halves the memory and is up to twice as fast on float64
        data (what most loaders return). None: float32 for float32 input,
        float64 otherwise.
    n_jobs : int, default=None
        Threads that transform batches in parallel (BLAS then uses one thread
        each). None means 1 unless in a :func:`joblib.parallel_backend` context;
        -1 means all cores.
    verbose : int, default=0
        Above 0, ``transform`` of numpy data draws a progress bar on standard
        error, and ``fit`` on dask data shows dask's progress bar while a learned
        bank samples its patches. For the lazy output of ``transform`` on dask
        data, compute it under ``dask.diagnostics.ProgressBar`` or watch the
        distributed dashboard.
    random_state : int, RandomState instance or None, default=None
        Seeds a random bank whose own ``random_state`` is None.

    Attributes
    ----------
    bank_ : object
        The fitted clone of the bank.
    kernels_ : ndarray of shape ``(K, C, *kernel_size)``
        The kernels used, in the dtype of the data seen in ``fit``.
    input_shape_ : tuple of int
        ``(C, H, W)`` or ``(C, L)``: the shape of one sample.
    maps_shape_ : tuple of int
        ``(K, h_out, w_out)`` or ``(K, L_out)``: the maps of one sample (at
        the first dilation), before pooling. (``output_shape_``, its former
        name, still works and warns.)
    dilations_ : list of tuple of int
        The dilation of each group of maps, one int per spatial axis.
    biases_ : list of ndarray of shape (K, B) or None
        The fitted biases of each dilation group (with ``n_biases``).
    method_ : {"gemm", "fft"} or tuple of them
        The convolution method used by ``transform`` (one per dilation group
        when they differ).
    n_features_out_ : int
        Number of output features.
    n_features_in_ : int
        Number of values per sample seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, when it is a DataFrame with string column names.

    See Also
    --------
    skconv.convolve : The convolution on its own.
    skconv.RandomBank, skconv.GaborBank, skconv.ArrayBank : Kernel banks.
    sklearn.feature_extraction.image.PatchExtractor : Patches without features.

    Notes
    -----
    The convolution is a cross-correlation, summed over channels (the CNN
    convention). Patch indices for one image are built once with
    ``numpy.meshgrid`` and cached per geometry; each batch of images is gathered
    into a patch matrix (channels-last, or batch-last when the maps are small)
    and multiplied by the kernel matrix with BLAS, and the maps are pooled while
    still in cache. Features come in (kernel, statistic, region row, region column)
    order, as :meth:`get_feature_names_out` says.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skconv import ConvFeatures
    >>> X, y = load_digits(return_X_y=True)
    >>> conv = ConvFeatures(image_shape=(8, 8), pool_grid=2, random_state=0)
    >>> conv.fit_transform(X).shape
    (1797, 256)
    >>> list(conv.get_feature_names_out()[:2])
    ['convfeatures_k0_max_r0c0', 'convfeatures_k0_max_r0c1']
    """

    _parameter_constraints = {
        "bank": [StrOptions(set(_BANK_SHORTCUTS)), HasMethods(["fit"]), "array-like"],
        "image_shape": [None, tuple, list],
        "channel_axis": [None, Interval(Integral, -3, 2, closed="both")],
        "stride": _AXES_CONSTRAINT,
        "padding": [
            StrOptions({*PADDING_NAMES, ALTERNATE}),
            Interval(Integral, 0, None, closed="left"),
            tuple,
            list,
        ],
        "padding_mode": [StrOptions(set(PADDING_MODES))],
        "dilation": [*_AXES_CONSTRAINT, StrOptions(set(DILATION_RULES))],
        "nonlinearity": [None, StrOptions({*NONLINEARITIES, *ENCODERS})],
        "threshold": [Interval(Real, None, None, closed="neither")],
        "n_biases": [None, Interval(Integral, 1, None, closed="left")],
        "pooling": [None, StrOptions(set(POOLINGS)), tuple, list],
        "kernel_groups": [None, Interval(Integral, 1, None, closed="left")],
        "pool_grid": [StrOptions({"auto"}), *_AXES_CONSTRAINT],
        "pool_sigma": [None, Interval(Real, 0, None, closed="neither")],
        "method": [StrOptions(set(METHODS))],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "dtype": [None, StrOptions({"float32", "float64"})],
        "n_jobs": [None, Interval(Integral, None, None, closed="neither")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        bank="random",
        *,
        image_shape=None,
        channel_axis=None,
        stride=1,
        padding="same",
        padding_mode="constant",
        dilation=1,
        nonlinearity="relu",
        threshold=0.25,
        n_biases=None,
        pooling="max",
        kernel_groups=None,
        pool_grid="auto",
        pool_sigma=None,
        method="auto",
        batch_size=None,
        dtype=None,
        n_jobs=None,
        verbose=0,
        random_state=None,
    ):
        self.bank = bank
        self.image_shape = image_shape
        self.channel_axis = channel_axis
        self.stride = stride
        self.padding = padding
        self.padding_mode = padding_mode
        self.dilation = dilation
        self.nonlinearity = nonlinearity
        self.threshold = threshold
        self.n_biases = n_biases
        self.pooling = pooling
        self.kernel_groups = kernel_groups
        self.pool_grid = pool_grid
        self.pool_sigma = pool_sigma
        self.method = method
        self.batch_size = batch_size
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the kernel bank and the convolution geometry.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, H, W) or (n, C, H, W), \
                or list of series
            Training samples (flattened rows need ``image_shape`` for images),
            or series of unequal lengths as a list of ``(L_i,)`` or ``(C, L_i)``
            arrays (aeon's convention): the dilations are then those of the
            longest series, each kernel's biases are fitted on its drawn series
            at that series' own length, and ``n_features_in_`` counts the
            values of the longest series.
        y : None
            Ignored.

        Returns
        -------
        self : ConvFeatures
            The fitted estimator.
        """
        collection = None
        if is_ragged(X):  # series of unequal lengths: the longest sets the geometry
            collection, one_dimensional = self._check_collection(X)
            longest = max(c.shape[1] for c in collection)
            X = stack_padded(collection, longest, collection_dtype(collection, self.dtype))
            X = X[:, 0] if one_dimensional else X
        rows, sample_shape = read_samples(self, X, reset=True)
        bank = resolve_bank(self.bank)
        # A bank for time series knows rows are series (no "flattened images?"
        # warning) and 3-D input is (n, C, L) series.
        series = getattr(bank, "_series_only", False) or collection is not None
        if collection is not None:  # (C, L): series of C channels, whatever the bank
            self.input_shape_ = (collection[0].shape[0], X.shape[-1])
        else:
            self.input_shape_ = resolve_input_shape(
                self._image_shape_channels_first(),
                sample_shape,
                rows.shape[1],
                warn=not series,
                series=series,
            )
        # Series: transform takes collections of any lengths (rows of 2-D X
        # are series unless image_shape says they are images).
        self._series_input = len(self.input_shape_) == 2 or (
            series and self.input_shape_[1] == 1 and sample_shape is not None
        )
        images = as_samples(rows, self.input_shape_)
        self._check_axes_params(len(self.input_shape_) - 1)  # before a costly bank fit
        if self.n_jobs == 0:
            raise ValueError("n_jobs must be a positive int, -1 (all cores) or None; got 0.")
        if hasattr(bank, "_validate_params"):
            # fit below skips nested validation (prefer_skip_nested_validation),
            # so the bank's parameters are checked here, also inside pipelines
            # and searches.
            bank._validate_params()
        if getattr(bank, "verbose", "absent") is None:  # a learned bank reports its fit
            bank.set_params(verbose=self.verbose)
        if getattr(bank, "random_state", "absent") is None:
            # The estimator's seed as given (an int stays an int in the fitted
            # bank's repr; None keeps numpy's global state, as before).
            bank.set_params(random_state=self.random_state)
        if self.verbose and is_dask_array(images):
            from dask.diagnostics import ProgressBar as DaskProgressBar

            with DaskProgressBar():
                self.bank_ = bank.fit(images)
        else:
            self.bank_ = bank.fit(images)
        self.kernels_ = np.asarray(self.bank_.kernels_, dtype=rows.dtype)
        short = (
            self._series_input
            and getattr(self.bank_, "_series_only", False)
            and self.kernels_.shape[-1] > self.input_shape_[-1]
        )
        if short:  # the Rocket banks' rule; other banks refuse kernels longer than the data
            # Series shorter than the kernels: fitted at the length transform
            # takes them at (their own, or zero-padded to the shortest length
            # that gives every map a position in every region).
            collection = self._as_collection(images) if collection is None else collection
            length = self.input_shape_[-1]
            self.input_shape_ = self._input_shape_for(self.kernels_.shape[-1])
            self._setup_geometry()
            self.input_shape_ = self._input_shape_for(self._effective_length(length))
            images = stack_padded(collection, self.input_shape_[-1], rows.dtype)
            images = images.reshape(images.shape[0], *self.input_shape_)
        self._setup_geometry(short_series=short)
        # One padding for the whole collection: when its shortest series is
        # padded with zeros (see _padding_mode_for), so is every series.
        shortest = (
            min(c.shape[1] for c in collection) if collection is not None else self.input_shape_[-1]
        )
        self._zero_padded = False
        self._zero_padded = self._padding_mode_for(shortest, self._groups) != self.padding_mode
        self._fit_biases(images, collection)
        return self

    def _check_collection(self, X):
        """Validated series of a list ``X`` (aeon's unequal-length collections)."""
        if self.image_shape is not None or self.channel_axis is not None:
            raise ValueError(
                "X is a list of series of unequal lengths; image_shape and channel_axis "
                f"do not apply to it (got image_shape={self.image_shape!r}, "
                f"channel_axis={self.channel_axis!r}). Give each series as (L,) or (C, L)."
            )
        return check_series_list(X)

    def _as_collection(self, images):
        """Each sample of ``images`` ``(n, C, [1,] L)`` as a ``(C, L)`` series."""
        samples = np.asarray(images)
        return list(samples.reshape(samples.shape[0], samples.shape[1], -1))

    def _check_axes_params(self, n_axes):
        """Check the per-axis parameters and the pooling spec for ``n_axes`` axes."""
        check_padding_mode(self.padding_mode)
        normalize_axes_param(self.stride, n_axes, "stride")
        check_dilation_param(self.dilation, n_axes)
        if self.padding == ALTERNATE and (self.pooling is None or self.nonlinearity in ENCODERS):
            raise ValueError(
                "padding='alternate' pools half of the maps over their valid positions "
                "only; it needs pooling (not None) and a pointwise nonlinearity (not an "
                f"encoder); got pooling={self.pooling!r}, nonlinearity={self.nonlinearity!r}."
            )
        if self.n_biases is not None:
            if self.pooling is None:
                raise ValueError(
                    f"n_biases={self.n_biases} pools each map once per bias; it needs "
                    "pooling (e.g. pooling='ppv'), not pooling=None."
                )
            if self.nonlinearity in ENCODERS:
                raise ValueError(
                    f"n_biases applies to raw responses; the {self.nonlinearity!r} encoder "
                    "has its own offset. Use another nonlinearity or n_biases=None."
                )
        if self.pool_grid != "auto":
            normalize_axes_param(self.pool_grid, n_axes, "pool_grid")
        check_pool_sigma(self.pool_sigma, resolve_poolings(self.pooling))

    def _setup_geometry(self, short_series=False):
        """Validate the parameters that depend on the data; cache transform state.

        ``short_series``: series shorter than the kernels, which read padding.
        """
        n_axes = len(self.input_shape_) - 1
        spatial, kernel_spatial = self.input_shape_[1:], self.kernels_.shape[2:]
        dilations, weights = resolve_dilations(self.dilation, spatial, kernel_spatial)
        padding = "same" if self.padding == ALTERNATE else self.padding
        # The whole maps of each group (what the biases are fitted on).
        geometries = [
            make_geometry(
                self.input_shape_,
                self.kernels_.shape[1:],
                stride=self.stride,
                padding=padding,
                dilation=d,
            )
            for d in dilations
        ]
        if not short_series:
            check_dilations_fit(
                dilations, spatial, kernel_spatial, several=is_multi_dilation(self.dilation)
            )
        counts = [None] * len(dilations)
        if self.n_biases is not None:  # dilations left without a bias make no features
            counts = spread_biases(self.n_biases, weights)
            dilations = [d for d, c in zip(dilations, counts) if c]
            geometries = [g for g, c in zip(geometries, counts) if c]
            counts = [c for c in counts if c]
        self.dilations_ = dilations
        self._geometries = geometries
        self._geometry = self._geometries[0]
        out_spatial = self._geometry.out_shape[2 - n_axes :]
        self.maps_shape_ = (self.kernels_.shape[0], *out_spatial)
        self._poolings = resolve_poolings(self.pooling)
        self._kernel_groups = self._check_kernel_groups()
        kernels4d = self.kernels_.reshape(self.kernels_.shape[:2] + self._geometry.kernel_shape)
        transform = getattr(self.bank_, "patch_transform_", None)
        self._response = None
        if transform is not None or self.nonlinearity in ENCODERS:
            # Learned banks see normalised, whitened patches; encoders need norms.
            self._response = make_response_plan(
                self.kernels_,
                transform,
                self._geometry.kernel_shape,
                self.kernels_.dtype,
                with_norms=self.nonlinearity == "triangle",
            )
            self._weights = self._response.weights
        else:
            self._weights = kernel_matrix(kernels4d, self.kernels_.dtype)
        self._groups = make_parts(
            self.input_shape_,
            self.kernels_.shape[1:],
            kernels4d,
            self._weights,
            dilations,
            stride=self.stride,
            padding=self.padding,
            method=self.method,
            learned=self._response is not None,
        )
        self._grid = self._check_pool_grid(n_axes)
        self._layout = FeatureLayout(
            n_kernels=self.kernels_.shape[0],
            poolings=self._poolings,
            grid=self._grid,
            n_axes=n_axes,
            dilations=tuple(dilations),
            n_biases=tuple(counts),
            map_shapes=tuple(g.out_shape for g in self._geometries),
            name_dilations=is_multi_dilation(self.dilation),
        )
        self.n_features_out_ = self._n_features_out = self._layout.n_features
        self.biases_ = [None] * len(dilations)
        methods = [part.method for parts in self._groups for part in parts]
        self.method_ = methods[0] if len(set(methods)) == 1 else tuple(methods)

    def _check_kernel_groups(self):
        """The competing groups' size for the competing statistics (None without them)."""
        competing = [p for p in self._poolings or () if p in COMPETING_POOLINGS]
        if not competing:
            return None
        group = self.kernel_groups
        if group is None:
            group = getattr(self.bank_, "group_size", None)
        n_kernels = self.kernels_.shape[0]
        if group is None:
            raise ValueError(
                f"pooling {tuple(competing)} makes kernels compete in groups: set "
                "kernel_groups (how many consecutive kernels form a group), or use a bank "
                "with a group_size such as HydraBank."
            )
        if n_kernels % group:
            raise ValueError(
                f"kernel_groups={group} must divide the number of kernels ({n_kernels}) for "
                f"the competing pooling {tuple(competing)}."
            )
        if self.padding == ALTERNATE:
            raise ValueError(
                "padding='alternate' pools half of the kernels differently from the other "
                f"half, which splits the competing groups of pooling {tuple(competing)}; "
                "use padding='same' or 'valid'."
            )
        return int(group)

    def _check_pool_grid(self, n_axes):
        """The pooling grid ``(gh, gw)``, checked against every part's maps."""
        out_spatial = self._geometry.out_shape[2 - n_axes :]
        grid = resolve_pool_grid(self.pool_grid, out_spatial)
        for parts in self._groups:
            for part in parts:
                shape = part.geometry.out_shape[2 - n_axes :]
                if any(gr > n for gr, n in zip(grid, shape)):
                    raise ValueError(
                        f"pool_grid={self.pool_grid!r} has more regions than the maps have "
                        f"positions {shape}; lower pool_grid or the stride"
                        + (", or use padding='same'." if self.padding == ALTERNATE else ".")
                    )
        return (1, *grid) if n_axes == 1 else grid

    def _fit_biases(self, images, collection=None):
        """Fit ``biases_`` from quantiles of the maps of drawn training samples.

        With a ``collection`` of series of unequal lengths, each kernel's map is
        that of its drawn series at the series' own length.
        """
        if self.n_biases is None:
            return
        if collection is not None:
            if self._response is not None:
                raise ValueError(
                    "Series of unequal lengths need a bank that is not learned from "
                    "patches (and no encoder); pad the series to one length first."
                )
            self.biases_ = fit_biases(
                collection,
                self._collection_maps,
                self.kernels_.shape[0],
                list(self._layout.n_biases),
                check_random_state(self.random_state),
            )
            return

        def kernel_maps(g, samples, which):
            samples = np.asarray(samples, dtype=self.kernels_.dtype)
            samples = as_images(samples.reshape(samples.shape[0], -1), self.input_shape_)
            geometry = self._geometries[g]
            if self._response is None:
                return pair_maps(samples, which, geometry, self._weights, self.padding_mode)
            # Learned responses: all kernels on one sample at a time, then the
            # map each kernel asked for.
            maps = [
                conv_features(
                    samples[i : i + 1],
                    geometry,
                    self._weights,
                    PoolingSpec(threshold=self.threshold),
                    response=self._response,
                    padding_mode=self.padding_mode,
                )
                for i in range(samples.shape[0])
            ]
            maps = np.concatenate(maps).reshape(samples.shape[0], len(which), -1)
            return maps[which, np.arange(len(which))]

        self.biases_ = fit_biases(
            images,
            kernel_maps,
            self.kernels_.shape[0],
            list(self._layout.n_biases),
            check_random_state(self.random_state),
        )

    def _collection_maps(self, g, samples, which):
        """Kernel ``k``'s whole map of group ``g`` on ``samples[which[k]]``, each at its length.

        Returns a list of ``K`` 1-D maps (their lengths differ).
        """
        maps = [None] * len(which)
        padding = "same" if self.padding == ALTERNATE else self.padding
        for j, sample in enumerate(samples):
            kernels = np.flatnonzero(which == j)
            length = self._effective_length(sample.shape[1])
            padded = stack_padded([sample], length, self.kernels_.dtype)
            input_shape = self._input_shape_for(length)
            geometry = make_geometry(
                input_shape,
                self.kernels_.shape[1:],
                stride=self.stride,
                padding=padding,
                dilation=self.dilations_[g],
            )
            sample_maps = pair_maps(
                as_images(padded.reshape(1, -1), input_shape),
                np.zeros(len(kernels), dtype=np.intp),
                geometry,
                self._weights[:, kernels],
                self._padding_mode_for(length, [[_Part(geometry)]]),
            )
            for k, kernel_map in zip(kernels, sample_maps):
                maps[k] = kernel_map
        return maps

    def _padding_mode_for(self, length, groups):
        """``padding_mode``, or zeros where it would copy the series more than once.

        Reflecting (or wrapping) a series into padding longer than itself
        repeats the series, which invents a periodic signal: series shorter
        than their widest pad are padded with zeros instead, and so is every
        series of a collection fitted with such a series (the features of one
        collection all come from one padding).
        """
        widest = max(max(part.geometry.pads[1]) for parts in groups for part in parts)
        if (
            getattr(self, "_series_input", False)
            and self.padding_mode in ("reflect", "symmetric", "wrap")
            and (widest >= length or getattr(self, "_zero_padded", False))
        ):
            return "constant"
        return self.padding_mode

    def _input_shape_for(self, length):
        """The fitted sample shape with the series length ``length``."""
        return (*self.input_shape_[:-1], int(length))

    def _fits_length(self, length):
        """True when series of ``length`` give every part at least one position per region."""
        if length == self.input_shape_[-1]:
            return True
        try:
            groups = self._parts_for_length(length)
        except ValueError:
            return False
        return all(
            part.geometry.out_shape[-1] >= self._grid[-1] for parts in groups for part in parts
        )

    def _effective_length(self, length):
        """The length series of ``length`` are transformed at (zero-padded when too short).

        The shortest length from ``length`` on that gives every map at least one
        position per pooling region.
        """
        if self._fits_length(length):
            return length
        low, high = length, max(length, self.input_shape_[-1])  # the fitted length fits
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if self._fits_length(middle) else (middle, high)
        return high

    def _parts_for_length(self, length):
        """The parts of every dilation group for series of ``length``."""
        n_kernels, n_channels, taps = *self.kernels_.shape[:2], self.kernels_.shape[-1]
        return make_parts(
            self._input_shape_for(length),
            self.kernels_.shape[1:],
            self.kernels_.reshape(n_kernels, n_channels, 1, taps),
            self._weights,
            self.dilations_,
            stride=self.stride,
            padding=self.padding,
            method=self.method,
            learned=self._response is not None,
        )

    def _fitted_for_length(self, length):
        """The fitted state for series of ``length``: ``(length they run at, FittedTransform)``."""
        from dataclasses import replace

        length = self._effective_length(length)
        if length == self.input_shape_[-1]:
            return length, self._fitted
        groups = self._parts_for_length(length)
        fitted = replace(
            self._fitted,
            input_shape=self._input_shape_for(length),
            groups=groups,
            padding_mode=self._padding_mode_for(length, groups),
        )
        return length, fitted

    def _fitted_by_length(self, collection):
        """``{L_i: (length, FittedTransform)}`` for the lengths of ``collection``."""
        lengths = {series.shape[1] for series in collection}
        return {length: self._fitted_for_length(length) for length in lengths}

    def transform(self, X):
        """Convolve, apply the nonlinearity and pool.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, H, W) or (n, C, H, W), \
                or list of series
            Samples of the shape seen in ``fit``. Estimators fitted on series
            (rows of 2-D ``X``, ``(n, C, L)`` series, or a list) also take a
            list of ``(L_i,)`` or ``(C, L_i)`` series of any lengths: each is
            transformed at its own length (the series of one length together),
            never padded to another's. A series that leaves a map with no
            position in some pooling region (shorter than a kernel's dilated
            span with ``padding="valid"``) is zero-padded at its end to the
            shortest length that gives every region a position, so every
            series gets finite features; a series shorter than its widest
            pad is padded with zeros where ``padding_mode`` would reflect or
            wrap it.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            The features, float32 for float32 input and float64 otherwise.
        """
        check_is_fitted(self)
        samples = self._read(X)
        if isinstance(samples, (list, np.ndarray)):  # a collection of series, or rows
            fitted = self._fitted_by_length(samples) if isinstance(samples, list) else self._fitted
            label = "ConvFeatures.transform" if self.verbose else None
            return run_samples(samples, fitted, self.dtype, effective_n_jobs(self.n_jobs), label)
        return self._transform_lazily(samples)  # dask rows

    def _read(self, X):
        """``X`` read for transform: a collection of series, or rows (numpy or dask)."""
        return read_samples(self, X, reset=False)[0]

    def _transform_lazily(self, rows):
        """The lazy transform of checked dask rows (computed for DataFrame output)."""
        from . import _dask

        lazy = _dask.transform(self, rows)
        if _get_output_config("transform", self)["dense"] != "default":
            # A DataFrame output needs the values: compute the graph once
            # here (wrapping the lazy array would compute it twice).
            return lazy.compute()
        return lazy

    def explain(self, X):
        """How :meth:`transform` would run on ``X``, without running it.

        As SQL's ``EXPLAIN``: for each part of the transform (dilation group,
        and padding with ``padding="alternate"``), the path (small images in
        batches, the fused max, tiles of large images, or the series path), the
        method (GEMM, the compiled direct loop, FFT), the batch layout, batch
        and tile sizes, threads (``in_loop``: of them, those the compiled
        ``"planes"`` loop runs itself, with OpenMP), the statistics fused into
        a compiled loop, and the cost model's predicted seconds and working
        memory. ``X`` is checked
        as :meth:`transform` checks it. ``benchmarks/bench_plan.py`` compares
        the predicted times with measured ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, H, W) or (n, C, H, W)
            Samples of the shape seen in ``fit`` (numpy or dask; for dask, the
            plan of the largest block, which every block follows). For a list
            of series of other lengths, the plan at the fitted length (each
            length runs its own plan, on the same rules).

        Returns
        -------
        plan : TransformPlan
            Prints as a table; ``plan.rows()`` gives one dict per part,
            ``plan.seconds`` and ``plan.memory`` the totals.

        Examples
        --------
        >>> import numpy as np
        >>> from skconv import ConvFeatures
        >>> X = np.random.default_rng(0).random((100, 64))
        >>> conv = ConvFeatures(image_shape=(8, 8), random_state=0).fit(X)
        >>> plan = conv.explain(X)
        >>> plan.rows()[0]["kernels"]
        64
        >>> plan.rows()[0]["path"] in ("batches", "fused_max", "encoded", "tiles")
        True

        Which path and method run depends on the CPU (the register loops need
        AVX-512 or AVX2); ``print(plan)`` shows the whole table.
        """
        check_is_fitted(self)
        rows = self._read(X)
        if isinstance(rows, list):  # each length runs its own plan: the fitted length's
            dtype = collection_dtype(rows, self.dtype)
            n_jobs = effective_n_jobs(self.n_jobs)
            return plan_transform(self._fitted, len(rows), dtype, n_jobs)
        dtype = self._compute_dtype(rows)
        if is_dask_array(rows):  # each block runs on one thread (dask's threads share blocks)
            largest = int(max(rows.chunks[0]))
            return plan_transform(self._fitted, largest, dtype, 1, per_block=True)
        return plan_transform(self._fitted, rows.shape[0], dtype, effective_n_jobs(self.n_jobs))

    def feature_maps(self, X, *, dilation_index=0):
        """The maps of ``X`` after the nonlinearity, before pooling.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, H, W) or (n, C, H, W)
            Samples of the shape seen in ``fit`` (numpy data; a few samples: the
            maps are ``K`` times larger than the samples).
        dilation_index : int, default=0
            Which dilation group (an index into ``dilations_``).

        Returns
        -------
        maps : ndarray of shape (n_samples, K, h_out, w_out) or (n_samples, K, L_out)
            The whole maps (same-padded with ``padding="alternate"``). Encoders
            of learned banks are shown as their linear responses.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            raise TypeError("feature_maps takes numpy data; compute a few samples first.")
        if not 0 <= dilation_index < len(self._geometries):
            raise ValueError(
                f"dilation_index must be in [0, {len(self._geometries)}) (one per entry of "
                f"dilations_); got {dilation_index!r}."
            )
        rows, _ = read_samples(self, X, reset=False)
        if isinstance(rows, list):
            raise ValueError(
                "feature_maps takes samples of the fitted shape; transform a list of "
                "series of other lengths with transform."
            )
        geometry = self._geometries[dilation_index]
        images = as_images(rows, self.input_shape_)
        maps = conv_features(
            images,
            geometry,
            self._weights.astype(self._compute_dtype(rows), copy=False),
            PoolingSpec(threshold=self.threshold),
            response=self._fitted.response_for(self._compute_dtype(rows)),
            padding_mode=self.padding_mode,
        )
        if self.nonlinearity in NONLINEARITIES:
            NONLINEARITIES[self.nonlinearity](maps)
        n_axes = len(self.input_shape_) - 1
        return maps.reshape(rows.shape[0], -1, *geometry.out_shape[2 - n_axes :])

    def _compute_dtype(self, rows):
        """The dtype features are computed in: ``dtype``, or the data's float dtype."""
        return np.dtype(self.dtype) if self.dtype is not None else compute_dtype(rows)

    def _image_shape_channels_first(self):
        """``image_shape`` with its channel entry first (it is given in the samples' order)."""
        if self.channel_axis is None or self.image_shape is None:
            return self.image_shape
        axis = check_channel_axis(self.channel_axis, len(self.image_shape))
        return image_shape_channels_first(self.image_shape, axis)

    def _transform_rows(self, rows, n_threads):
        """Features of validated numpy rows (each dask block's transform)."""
        return run_samples(rows, self._fitted, self.dtype, n_threads)

    @property
    def _fitted(self):
        """The fitted state as the engine takes it (:class:`FittedTransform`)."""
        return FittedTransform(
            input_shape=self.input_shape_,
            groups=self._groups,
            n_kernels=self.kernels_.shape[0],
            biases=self.biases_,
            columns=self._layout.group_slices(),
            n_features_out=self._n_features_out,
            nonlinearity=self.nonlinearity,
            poolings=self._poolings,
            grid=self._grid,
            sigma=self.pool_sigma,
            threshold=self.threshold,
            response=self._response,
            padding_mode=self._padding_mode_for(self.input_shape_[-1], self._groups),
            batch_size=self.batch_size,
            alternate=self.padding == ALTERNATE,
            group=self._kernel_groups,
        )

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Checked against ``feature_names_in_``; not used otherwise.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``convfeatures_k{kernel}_{statistic}_r{row}c{col}`` for pooled features
            (``_r{index}`` for 1-D data, no region suffix with ``pool_grid=1``);
            ``convfeatures_k{kernel}_y{row}_x{col}`` (``_t{index}`` for 1-D) when
            ``pooling=None``. With several dilations the kernel is preceded by
            ``d{dilation}_`` (``d{dy}x{dx}_`` for images), with biases followed
            by ``_b{bias}``. See :class:`~skconv.engine.features.FeatureLayout`.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        return self._layout.names(self.__class__.__name__.lower())

    @property
    def output_shape_(self):
        """Deprecated name of ``maps_shape_`` (the maps, not the output)."""
        warnings.warn(
            "output_shape_ is the shape of the maps and was renamed maps_shape_; the "
            "output has n_features_out_ columns. output_shape_ will be removed in 0.4.",
            FutureWarning,
            stacklevel=2,
        )
        return self.maps_shape_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        preserved = ["float64", "float32"] if self.dtype is None else [self.dtype]
        tags.transformer_tags.preserves_dtype = preserved
        return tags
