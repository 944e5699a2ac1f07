"""Responses of normalised, whitened patches, and the encoders that use them.

A learned bank's kernels ``c_k`` live in the space of transformed patches
``x = W ((p - m_p) / s_p - mu)`` (``m_p`` and ``s_p = sqrt(var_p + reg)`` are the
patch's own mean and deviation, ``W`` the ZCA matrix, ``mu`` the mean patch).
With ``v_k = W c_k`` (W is symmetric)::

    c_k . x = (v_k . p - m_p * sum(v_k)) / s_p - v_k . mu

so one convolution with the folded kernels ``v_k``, a box sum of each patch
(one more GEMM column of ones) and a box sum of its square give every response,
and the normalised, whitened patches are never materialised. The triangle
encoder also needs ``||x||^2``: with whitening, the rows of ``W`` join the GEMM
as extra kernels; without, it follows from the box sums.
"""

from typing import NamedTuple

import numpy as np

from ..pooling.pooler import finish_features
from ..pooling.statistics import PARTIALS, STATISTICS, region_context
from .compiled import load, warn_missing
from .core import kernel_matrix, pad_batch, single_threaded_blas, split_over_threads

# The compiled encoder (optional: without it, numpy computes the same values).
_encoders = load("_encoders")
compiled_encode = getattr(_encoders, "encode_patches", None)
# ... and its pooled form, which folds the encoded patches into pooling states.
compiled_pool = getattr(_encoders, "pool_encoded", None)
POOLED_STATES = getattr(_encoders, "STATES", {})
POOLED_BLOCK_POSITIONS = getattr(_encoders, "BLOCK_POSITIONS", 0)
POOLED_COLUMN_LANES = getattr(_encoders, "COLUMN_LANES", 0)
"""The partial states (:data:`~skconv.pooling.statistics.PARTIALS`) the pooled
loop specializes."""

ENCODERS = ("triangle", "soft_threshold")
"""Nonlinearities that need the kernels as centres: they go through a plan."""


class ResponsePlan(NamedTuple):
    """Everything the per-batch encoder needs, built once in ``fit``."""

    weights: np.ndarray  # (kh * kw * C, n_columns) GEMM operand
    n_kernels: int
    n_whitened: int  # extra columns: their squares sum to ||W (x - mean)||^2 (norm_rows)
    patch_size: int
    norm_reg: object  # float, or None without normalisation
    column_sums: np.ndarray  # (n_kernels + n_whitened,)
    bias: np.ndarray  # (n_kernels + n_whitened,)
    centre_norms: np.ndarray  # (n_kernels,) ||c_k||^2


def make_response_plan(kernels, transform, kernel_shape, dtype, with_norms):
    """Fold a patch transform into GEMM columns.

    Parameters
    ----------
    kernels : ndarray of shape (K, C, *kernel_size)
        Centres in the transformed patch space.
    transform : PatchTransform or None
        None is the identity (raw patches).
    kernel_shape : tuple of int
        The engine's 2-D kernel shape ``(kh, kw)``.
    dtype : dtype
        Computation dtype.
    with_norms : bool
        Whether ``||x||^2`` is needed (triangle encoder).

    Returns
    -------
    plan : ResponsePlan
    """
    n_kernels, n_channels = kernels.shape[:2]
    flat = kernels.reshape(n_kernels, -1).astype(np.float64)
    norm_reg = mean = whitening = None
    if transform is not None:
        norm_reg, mean, whitening = transform.norm_reg, transform.mean, transform.whitening
    folded = flat @ whitening if whitening is not None else flat
    if with_norms and whitening is not None:
        folded = np.concatenate([folded, norm_rows(whitening, n_channels)])
    bias = folded @ mean if mean is not None else np.zeros(len(folded))
    columns = folded
    if norm_reg is not None:
        columns = np.concatenate([folded, np.ones((1, flat.shape[1]))])
    weights = kernel_matrix(columns.reshape(len(columns), n_channels, *kernel_shape), dtype)
    return ResponsePlan(
        weights=weights,
        n_kernels=n_kernels,
        n_whitened=len(folded) - n_kernels,
        patch_size=flat.shape[1],
        norm_reg=norm_reg,
        column_sums=folded.sum(axis=1).astype(dtype),
        bias=bias.astype(dtype),
        centre_norms=(flat**2).sum(axis=1).astype(dtype),
    )


def norm_rows(whitening, n_channels):
    """Rows ``R`` with ``||R x|| = ||whitening @ x||``, triangular in the engine's tap order.

    The triangle encoder needs ``||W (x - mean)||^2`` of every patch; any
    ``R`` with ``R^T R = W^T W`` gives it. ``R = Q^T W`` of the QR
    decomposition (the whitened coordinates in another orthonormal basis) of
    ``W`` with its columns in the engine's order (taps ``(ky, kx, c)``, see
    :func:`~skconv.engine.core.kernel_matrix`) is upper triangular there, so
    the pooled loop multiplies about half of its entries (the zeros of whole
    groups of columns are skipped).

    Parameters
    ----------
    whitening : ndarray of shape (D, D)
        The ZCA matrix, acting on patches flattened channels first ``(c, ky, kx)``.
    n_channels : int

    Returns
    -------
    rows : ndarray of shape (D, D)
        In the same flattened order as ``whitening``.
    """
    d = whitening.shape[1]
    taps = np.arange(d).reshape(n_channels, -1).T.ravel()  # flat index of each tap
    upper = np.linalg.qr(whitening[:, taps], mode="r")
    rows = np.zeros_like(upper)
    rows[:, taps] = upper
    return rows


def responses(raw, patches, plan, with_norms=False):
    """``c_k . x`` for every patch (and ``||x||^2`` if asked).

    Parameters
    ----------
    raw : ndarray of shape (N, n_columns)
        GEMM output for N patches.
    patches : ndarray of shape (N, D)
        The raw patches of the batch (for the box sum of squares).
    plan : ResponsePlan
    with_norms : bool, default=False

    Returns
    -------
    values : ndarray of shape (N, K), C-contiguous
    norms : ndarray of shape (N,) or None
        ``||x||^2``.
    """
    k, j, d = plan.n_kernels, plan.n_whitened, plan.patch_size
    if plan.norm_reg is not None:
        mean = raw[:, -1] / d
        # Centred before squaring: E[x^2] - E[x]^2 cancels catastrophically in
        # float32 on data with a large offset.
        centred = patches - mean[:, None]
        var = np.einsum("ij,ij->i", centred, centred) / d
        inv_std = 1.0 / np.sqrt(var + plan.norm_reg)
        out = raw[:, : k + j] - mean[:, None] * plan.column_sums
        out *= inv_std[:, None]
    else:
        out = raw[:, : k + j].copy()
    out -= plan.bias
    values = np.ascontiguousarray(out[:, :k]) if j else out
    if not with_norms:
        return values, None
    if j:
        norms = np.einsum("ij,ij->i", out[:, k:], out[:, k:])
    elif plan.norm_reg is not None:
        norms = d * var / (var + plan.norm_reg)
    else:
        norms = np.einsum("ij,ij->i", patches, patches)
    return values, norms


def encode(raw, patches, plan, nonlinearity, threshold):
    """Responses, then the encoder named by ``nonlinearity``.

    ``"triangle"`` (Coates et al.): with ``z_k = ||x - c_k||``,
    ``f_k = max(0, mean(z) - z_k)``. ``"soft_threshold"``: ``max(0, c_k . x - a)``
    with ``a = threshold``. Any other value returns the raw responses (its
    nonlinearity is applied by the pooling step).

    The compiled loop (:mod:`skconv.engine._encoders`) computes the same
    values in one pass per patch; :func:`encode_numpy` is its reference and
    its fallback.

    Returns
    -------
    values : ndarray of shape (N, K)
    """
    if raw.dtype not in (np.float32, np.float64) or patches.dtype != raw.dtype:
        return encode_numpy(raw, patches, plan, nonlinearity, threshold)
    if compiled_encode is None:
        warn_missing("_encoders")
        return encode_numpy(raw, patches, plan, nonlinearity, threshold)
    dtype = raw.dtype
    mode = {"triangle": 1, "soft_threshold": 2}.get(nonlinearity, 0)
    out = np.empty((raw.shape[0], plan.n_kernels), dtype=dtype)
    compiled_encode(
        np.ascontiguousarray(raw),
        np.ascontiguousarray(patches),
        out,
        *loop_arguments(plan, dtype),
        mode,
        float(threshold),
    )
    return out


def loop_arguments(plan, dtype):
    """A plan's arguments to the compiled loops, in their order and dtype.

    ``(n_kernels, n_whitened, normalise, norm_reg, column_sums, bias,
    centre_norms)``, as :func:`skconv.engine._encoders.encode_patches` and
    :func:`~skconv.engine._encoders.pool_encoded` take them.
    """
    return (
        plan.n_kernels,
        plan.n_whitened,
        plan.norm_reg is not None,
        0.0 if plan.norm_reg is None else float(plan.norm_reg),
        *(
            np.ascontiguousarray(a, dtype=dtype)
            for a in (plan.column_sums, plan.bias, plan.centre_norms)
        ),
    )


def encode_numpy(raw, patches, plan, nonlinearity, threshold):
    """:func:`encode` with numpy's array operations (the compiled loop's reference)."""
    if nonlinearity == "triangle":
        values, norms = responses(raw, patches, plan, with_norms=True)
        values *= -2
        values += norms[:, None]
        values += plan.centre_norms
        np.maximum(values, 0, out=values)
        np.sqrt(values, out=values)  # distances z_k
        values -= values.mean(axis=1, keepdims=True)
        np.negative(values, out=values)
        return np.maximum(values, 0, out=values)
    values, _ = responses(raw, patches, plan)
    if nonlinearity == "soft_threshold":
        values -= threshold
        np.maximum(values, 0, out=values)
    return values


def pooled_states(spec, dtype):
    """The partial states the compiled pooled loops keep for ``spec``, or None.

    The loops (:func:`skconv.engine._encoders.pool_encoded` and
    :func:`~skconv.engine._encoders.pool_planes`) pool region by
    region (no Gaussian windows, no biases) the states of
    :data:`POOLED_STATES`, after an encoder or the responses alone and at most
    a relu, in float32 or float64.

    Parameters
    ----------
    spec : PoolingSpec
    dtype : dtype
        The computation dtype.

    Returns
    -------
    states : tuple of str or None
        Keys of :data:`~skconv.pooling.statistics.PARTIALS`, None when the
        loop cannot pool ``spec`` (or is not built).
    """
    if compiled_pool is None or np.dtype(dtype) not in (np.float32, np.float64):
        return None
    if spec.poolings is None or spec.biases is not None or spec.sigma is not None:
        return None
    if spec.nonlinearity not in (None, "relu", *ENCODERS):
        return None
    names = []
    for pooling in spec.poolings:
        names += [n for n in STATISTICS[pooling].partials_for(None) if n not in names]
    return tuple(names) if all(n in POOLED_STATES for n in names) else None


def pooled_features(
    images, geometry, response, spec, out, plan, padding_mode, progress=None, weights=None
):
    """Pooled features, the maps never written (the plan's ``"encoded"`` path).

    Batch by batch, a compiled loop computes each block of map rows' responses
    and folds them into the partial states ``plan.fused``; the statistics then
    finish as on every other path (:func:`skconv.pooling.finish_features`).
    For a learned bank (``response``) the loop gathers each image's patches,
    computes the plan's GEMM columns, the responses and the encoder
    (:func:`~skconv.engine._encoders.pool_encoded`); for plain kernels
    (``weights``, the plan's method ``"planes"``) it computes the responses from
    the image's column phases (:func:`~skconv.engine._encoders.pool_planes`).

    Parameters
    ----------
    images : array of shape (n, C, H, W)
        Sliceable along the first axis; converted batch by batch.
    geometry : Geometry
    response : ResponsePlan or None
        A learned bank's responses; None for plain kernels (``weights``).
    spec : PoolingSpec
    out : ndarray of shape (n, n_out)
    plan : PartPlan
        Its ``batch_size``, ``n_threads`` and ``fused`` (the states).
    padding_mode : str
    progress : callable, default=None
        Called with the number of images of each finished batch.
    weights : ndarray of shape (kh * kw * C, K), default=None
        Plain kernels (when ``response`` is None), rows in (ky, kx, c) order.

    Returns
    -------
    out : ndarray
    """
    if response is None:
        n_kernels, dtype = weights.shape[1], weights.dtype
        packed = _encoders.plane_weights(weights)
        bias = np.zeros(n_kernels, dtype)
    else:
        n_kernels, dtype = response.n_kernels, response.weights.dtype
        arguments = loop_arguments(response, dtype)
        mode = {"triangle": 1, "soft_threshold": 2}.get(spec.nonlinearity, 0)
    n = images.shape[0]
    ctx = region_context(tuple(geometry.out_shape), tuple(spec.grid))
    row_bounds, col_bounds = (np.asarray(b, dtype=np.intp) for b in ctx.bounds)
    row_regions = np.repeat(np.arange(len(row_bounds) - 1, dtype=np.intp), np.diff(row_bounds))
    kinds = np.array([POOLED_STATES[name] for name in plan.fused], dtype=np.int32)
    n_regions = spec.grid[0] * spec.grid[1]
    hp, wp = geometry.padded_shape

    def initial_states(m):
        states = np.empty((m, len(plan.fused), n_regions, n_kernels))
        for i, name in enumerate(plan.fused):
            states[:, i] = PARTIALS[name].init((m, n_regions, n_kernels))
        return states

    shape = tuple(
        tuple(v)
        for v in (geometry.kernel_shape, geometry.stride, geometry.dilation, geometry.out_shape)
    )
    rectify = spec.nonlinearity == "relu"
    # Zeros around the images: the planes loop adds them while it splits each
    # image into its phases (no padded copy).
    pads_in_loop = response is None and padding_mode == "constant"
    pads = tuple(v for pair in geometry.pads for v in pair) if pads_in_loop else None

    def padded_batch(s, e, padded):
        batch = np.asarray(images[s:e], dtype=dtype)
        if pads_in_loop:
            return np.ascontiguousarray(batch)
        pad_batch(batch, geometry, padding_mode, padded[: e - s], channels_last=False)
        return padded[: e - s]

    def fold(padded, states, map_rows=None):
        pooling = (row_regions, col_bounds, kinds, states, map_rows)
        if response is None:
            _encoders.pool_planes(
                padded,
                packed,
                bias,
                *shape,
                rectify,
                *pooling,
                pads=pads,
                n_threads=plan.loop_threads,
            )
        else:
            threshold = float(spec.threshold)
            weights = response.weights
            compiled_pool(padded, weights, *shape, *arguments, mode, threshold, rectify, *pooling)

    def finish(states, s, e):
        results = {
            name: states[:, i].reshape(e - s, *spec.grid, n_kernels)
            for i, name in enumerate(plan.fused)
        }
        out[s:e] = finish_features(results, spec.poolings, ctx, None, (), dtype)
        if progress is not None:
            progress(e - s)

    def run(start, stop):
        size = max(1, min(plan.batch_size, stop - start))
        padded = None if pads_in_loop else np.zeros((size, geometry.n_channels, hp, wp), dtype)
        for s in range(start, stop, size):
            e = min(s + size, stop)
            states = initial_states(e - s)
            fold(padded_batch(s, e, padded), states)
            finish(states, s, e)

    oh = geometry.out_shape[0]
    if plan.n_threads == plan.loop_threads:  # no workers: the loop's threads, if any
        with single_threaded_blas():
            run(0, n)
    elif n < plan.n_threads and oh >= plan.n_threads:
        # Fewer images than threads: the threads share the map rows, each
        # with states of its own, merged as the partials define.
        padded = None if pads_in_loop else np.zeros((n, geometry.n_channels, hp, wp), dtype)
        padded = padded_batch(0, n, padded)
        shares = {}

        def run_rows(start, stop):
            shares[start] = states = initial_states(n)
            fold(padded, states, (start, stop))

        split_over_threads(run_rows, oh, plan.n_threads)
        states, *others = shares.values()
        for other in others:
            for i, name in enumerate(plan.fused):
                PARTIALS[name].merge(states[:, i], other[:, i])
        finish(states, 0, n)
    else:
        split_over_threads(run, n, plan.n_threads)
    return out
