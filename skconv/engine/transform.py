"""A fitted transform as plain data, and the two functions that plan and run it.

:class:`FittedTransform` holds everything ``ConvFeatures.transform`` needs once
``fit`` is done (the parts of every dilation group, the biases, the pooling,
the learned responses, where each group's features go); it is immutable and
holds no estimator. :func:`plan_transform` asks the planner how each part runs,
:func:`run_transform` carries the plan out. :func:`run_samples` is the
estimator's one entry: it hands what it read down once (a collection of
series, or rows), and the features come back.
"""

from dataclasses import dataclass

import numpy as np

from .features import PoolingSpec, allocate_output, conv_features
from .planner import TransformPlan, plan_conv, plan_series, series_applies
from .series import biased_series_features, split_rows


@dataclass(frozen=True)
class FittedTransform:
    """What a fitted ``ConvFeatures`` transforms with.

    Attributes
    ----------
    input_shape : tuple of int
        ``(C, L)`` or ``(C, H, W)`` of one sample.
    groups : list of list of ConvPart
        The parts of each dilation group.
    n_kernels : int
    biases : list of (ndarray of shape (K, B) or None)
        Per group.
    columns : list of slice
        Each group's columns in the output.
    n_features_out : int
    nonlinearity, poolings, grid, sigma, threshold :
        The pooling (see :class:`~skconv.engine.features.PoolingSpec`).
    response : ResponsePlan or None
        A learned bank's responses (its ``weights`` are the GEMM operand).
    padding_mode : str
    batch_size : int or None
        The estimator's ``batch_size`` (forces batches of that size).
    alternate : bool
        MiniRocket's alternating padding (labels the parts "same" / "valid").
    group : int or None
        Consecutive kernels that compete (the competing statistics).
    """

    input_shape: tuple
    groups: list
    n_kernels: int
    biases: list
    columns: list
    n_features_out: int
    nonlinearity: object
    poolings: object
    grid: tuple
    sigma: object
    threshold: float
    response: object
    padding_mode: str
    batch_size: object
    alternate: bool
    group: object = None

    def parts(self):
        """``(group index, ConvPart)`` of every part, in the order they run."""
        return [(g, part) for g, group in enumerate(self.groups) for part in group]

    def spec(self, g, part, dtype):
        """The pooling spec of one part, its biases in ``dtype``."""
        biases = self.biases[g]
        return PoolingSpec(
            self.nonlinearity,
            self.poolings,
            self.grid,
            self.sigma,
            self.threshold,
            None if biases is None else biases[part.kernels].astype(dtype, copy=False),
            self.group,
        )

    def weights(self, part, dtype):
        """The GEMM operand of one part in ``dtype``."""
        weights = self.response.weights if self.response is not None else part.weights
        return weights.astype(dtype, copy=False)

    def response_for(self, dtype):
        """The learned responses in the computation dtype (fit's dtype may differ)."""
        if self.response is None or self.response.weights.dtype == dtype:
            return self.response
        names = ("weights", "column_sums", "bias", "centre_norms")
        return self.response._replace(
            **{name: getattr(self.response, name).astype(dtype) for name in names}
        )

    def label(self, part):
        """A part's name in a plan: its dilation (and padding with alternating padding)."""
        dilation = part.geometry.dilation[2 - (len(self.input_shape) - 1) :]
        label = "dilation " + "x".join(map(str, dilation))
        if self.alternate:
            label += " valid" if not any(sum(part.geometry.pads, ())) else " same"
        return label


def plan_transform(fitted, n_samples, dtype, n_threads, per_block=False):
    """How a transform of ``n_samples`` samples in ``dtype`` runs.

    Parameters
    ----------
    fitted : FittedTransform
    n_samples : int
    dtype : dtype
        The computation dtype.
    n_threads : int
    per_block : bool, default=False
        The plan of one dask block (labels the plan).

    Returns
    -------
    plan : TransformPlan
    """
    dtype = np.dtype(dtype)
    parts = fitted.parts()
    counts = [len(range(*part.kernels.indices(fitted.n_kernels))) for _, part in parts]
    geometries = [part.geometry for _, part in parts]
    learned = fitted.response is not None
    has_biases = fitted.biases[0] is not None
    if series_applies(geometries, fitted.poolings, fitted.nonlinearity, learned, has_biases):
        n_biases = [fitted.biases[g].shape[1] for g, _ in parts]
        # The compiled direct loop when every part's kernels split into a
        # shared sum of the taps and a few taps (MiniRocket's), else GEMMs.
        direct = all(split_rows(part.weights.T)[1] is not None for _, part in parts)
        plan = plan_series(
            n_samples, geometries, counts, n_biases, dtype, n_threads, fitted.poolings, direct
        )
        label = f"{len(fitted.groups)} dilation(s), at once"
        return TransformPlan(n_samples, dtype, ((label, fitted.n_kernels, plan),), per_block)
    rows = []
    for (g, part), count in zip(parts, counts):
        plan = plan_conv(
            n_samples,
            part.geometry,
            fitted.weights(part, dtype).shape[1],
            dtype,
            fitted.spec(g, part, dtype),
            response=fitted.response,
            method=part.method,
            n_threads=n_threads,
            batch_size=fitted.batch_size,
        )
        rows.append((fitted.label(part), count, plan))
    return TransformPlan(n_samples, dtype, tuple(rows), per_block)


def run_samples(samples, fitted, dtype, n_threads, label=None):
    """The features of what :func:`skconv._input.read_samples` read.

    Parameters
    ----------
    samples : list of ndarray of shape (C, L_i), or ndarray of shape (n, n_features)
        A collection of series, or validated rows.
    fitted : dict or FittedTransform
        For a collection, ``{L_i: (length, FittedTransform)}`` (see
        :func:`run_collection`); for rows, the fitted transform. Rows of series
        shorter than the fitted length are zero-padded at their end.
    dtype : dtype or None
        The computation (and output) dtype; None: float32 for float32 data,
        float64 otherwise.
    n_threads : int
    label : str, default=None
        Draw a progress bar with this label (rows only).

    Returns
    -------
    features : ndarray of shape (n, n_features_out)
    """
    if isinstance(samples, list):
        return run_collection(samples, fitted, dtype, n_threads)
    if dtype is None:
        dtype = np.float32 if samples.dtype == np.float32 else np.float64
    dtype = np.dtype(dtype)
    n, shape = samples.shape[0], fitted.input_shape
    size = int(np.prod(shape))
    if samples.shape[1] < size:  # series shorter than the fitted length
        short = samples.reshape(n, shape[0], -1)
        samples = np.zeros((n, shape[0], size // shape[0]), dtype=samples.dtype)
        samples[:, :, : short.shape[2]] = short
    spatial = tuple(shape[1:]) if len(shape) > 2 else (1, shape[-1])
    images = samples.reshape(n, shape[0], *spatial)
    if label is None:
        return run_transform(fitted, images, dtype, n_threads)
    from .._progress import ProgressBar

    bar = ProgressBar(n, label)
    try:
        return run_transform(fitted, images, dtype, n_threads, bar.update)
    finally:
        bar.close()


def run_transform(fitted, images, dtype, n_threads, progress=None):
    """The features of ``images`` ``(n, C, H, W)``: plan, then run each part as planned.

    Parameters
    ----------
    fitted : FittedTransform
    images : array of shape (n, C, H, W)
        Any real dtype (each batch is converted as it is read).
    dtype : dtype
        The computation (and output) dtype.
    n_threads : int
    progress : callable, default=None
        Called with the number of samples done (fractions with several parts).

    Returns
    -------
    features : ndarray of shape (n, n_features_out)
    """
    n = images.shape[0]
    plan = plan_transform(fitted, n, dtype, n_threads)
    out = allocate_output(n, fitted.n_features_out, dtype, n_threads)
    first = plan.parts[0][2]
    if first.path == "series":
        return biased_series_features(
            images,
            fitted.groups,
            fitted.biases,
            fitted.grid[1],
            fitted.columns,
            out,
            dtype=dtype,
            padding_mode=fitted.padding_mode,
            progress=progress,
            plan=first,
            poolings=fitted.poolings,
        )
    parts = fitted.parts()
    if len(parts) == 1:
        return _part_features(fitted, images, *parts[0], first, dtype, progress, out)
    step = None if progress is None else (lambda count: progress(count / len(parts)))
    for (g, part), (_, _, part_plan) in zip(parts, plan.parts):
        group_out = out[:, fitted.columns[g]].reshape(n, fitted.n_kernels, -1)
        features = _part_features(fitted, images, g, part, part_plan, dtype, step)
        group_out[:, part.kernels] = features.reshape(n, -1, group_out.shape[2])
    return out


def _part_features(fitted, images, g, part, plan, dtype, progress=None, out=None):
    """Features of one part of dilation group ``g``, for its kernels only, as planned."""
    return conv_features(
        images,
        part.geometry,
        fitted.weights(part, dtype),
        fitted.spec(g, part, dtype),
        response=fitted.response_for(dtype),
        plan=plan,
        spectra=part.spectra,
        padding_mode=fitted.padding_mode,
        progress=progress,
        out=out,
    )


def run_collection(collection, fitted_by_length, dtype, n_threads):
    """The features of series of any lengths: the series of each length at once.

    Parameters
    ----------
    collection : list of ndarray of shape (C, L_i)
    fitted_by_length : dict
        ``{L_i: (length, FittedTransform)}``: the length series of ``L_i``
        samples are transformed at (zero-padded at their end up to it) and the
        fitted state for that length.
    dtype : dtype or None
        The computation (and output) dtype; None: float32 when every series
        is float32, float64 otherwise.
    n_threads : int

    Returns
    -------
    features : ndarray of shape (len(collection), n_features_out)
    """
    if dtype is None:
        single = all(series.dtype == np.float32 for series in collection)
        dtype = np.dtype(np.float32 if single else np.float64)
    lengths = np.array([series.shape[1] for series in collection])
    n_features = next(iter(fitted_by_length.values()))[1].n_features_out
    out = allocate_output(len(collection), n_features, dtype, n_threads)
    for own in np.unique(lengths):
        length, fitted = fitted_by_length[int(own)]
        indices = np.flatnonzero(lengths == own)
        batch = np.zeros((len(indices), collection[0].shape[0], 1, length), dtype=dtype)
        for row, i in zip(batch, indices):
            row[:, 0, :own] = collection[i]
        out[indices] = run_transform(fitted, batch, dtype, n_threads)
    return out
