"""Dask support: lazy checks, a block-wise transform, sampling for learned banks.

dask is imported here only, and this module only when a dask array is seen, so
``import skconv`` stays light. The checks follow ``dask_ml.utils.check_array``:
nothing is computed to validate a dask array except a tiny numpy sample of its
first rows, which goes through scikit-learn's own checks.

Thread policy: dask already runs one task per core, so each block is
transformed with a single engine thread. BLAS threads are left alone inside
blocks: changing OpenBLAS's thread count from dask's worker threads is not
reliable (measured with OpenBLAS 0.3.31), so the limit is set where the compute
starts. dask.distributed workers already start with one BLAS thread (their nanny
sets OPENBLAS_NUM_THREADS=1 and friends); with the threaded scheduler, compute
inside ``threadpoolctl.threadpool_limits(1)``, which on the 2-core test machine
halves the time of a 10,000-image transform (benchmarks/bench_dask_threads.py).
"""

import numpy as np


def is_dask_array(X):
    """True for a ``dask.array.Array`` (checked without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "chunks")


def check_dask_rows(X):
    """Validate a dask array lazily and bring it to rows ``(n, n_features)``.

    Parameters
    ----------
    X : dask.array.Array of shape (n, F), (n, H, W) or (n, C, H, W)

    Returns
    -------
    rows : dask.array.Array of shape (n, n_features)
        Float32 if ``X`` is float32, float64 otherwise; one block along the
        features, no empty blocks along the samples.
    sample_shape : tuple of int or None
        ``X.shape[1:]`` for 3-D and 4-D input.
    """
    if any(np.isnan(size) for sizes in X.chunks for size in sizes):
        raise ValueError(
            "X is a dask array with unknown chunk sizes (nan); call "
            "X.compute_chunk_sizes() first, or build it with known chunks."
        )
    if X.ndim not in (2, 3, 4):
        raise ValueError(
            "X must be 2-D (n_samples, n_features), 3-D (n, H, W) or 4-D (n, C, H, W); "
            f"got a dask array of shape {X.shape}."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold real numbers; got a dask array of dtype {X.dtype}.")
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    sample_shape = tuple(X.shape[1:]) if X.ndim > 2 else None
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    nonempty = tuple(size for size in X.chunks[0] if size > 0)
    if len(nonempty) != len(X.chunks[0]):
        X = X.rechunk({0: nonempty})
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    return X.astype(dtype, copy=False), sample_shape


def check_dask_input(estimator, X, reset):
    """Dask rows validated for ``estimator``: its checks on the first rows only.

    Parameters
    ----------
    estimator : ConvFeatures
    X : dask.array.Array
        Samples, channels first.
    reset : bool
        True in ``fit``; after it, N-D samples must have the fitted shape.

    Returns
    -------
    rows : dask.array.Array of shape (n, n_features)
    sample_shape : tuple of int or None
    """
    from ._compat import validate_data
    from ._input import check_sample_shape

    rows, sample_shape = check_dask_rows(X)
    validate_data(estimator, head(rows), dtype=[np.float64, np.float32], reset=reset)
    if estimator.dtype is not None:
        rows = rows.astype(estimator.dtype)
    if not reset:
        check_sample_shape(estimator.input_shape_, sample_shape)
    return rows, sample_shape


def head(rows, n=2):
    """The first ``n`` rows as a numpy array (computes only the first block)."""
    return np.asarray(rows[: min(n, rows.shape[0])].compute())


def _transform_block(block, estimator):
    """Check and transform one numpy block with one engine thread."""
    from sklearn.utils import assert_all_finite

    assert_all_finite(block, input_name="X")
    return estimator._transform_rows(block, n_threads=1)


def transform(estimator, rows):
    """Lazy, block-wise transform of checked dask rows.

    The declared shape, chunks and dtype are exact:
    ``(rows.chunks[0], (n_features_out,))``, in the data's float dtype. The fitted
    estimator enters the graph once (as a delayed object), so a distributed
    cluster ships it once to each worker instead of once per task.

    Parameters
    ----------
    estimator : ConvFeatures
        Fitted.
    rows : dask.array.Array of shape (n, n_features)
        From :func:`check_dask_rows`.

    Returns
    -------
    features : dask.array.Array of shape (n, n_features_out)
    """
    import copy

    import dask

    n_out = estimator.n_features_out_
    # A snapshot of the fitted state: refitting the estimator before the
    # result is computed must not change it (fit replaces attributes, it does
    # not modify the arrays, so a shallow copy is enough).
    fitted = dask.delayed(copy.copy(estimator), pure=True, traverse=False)
    return rows.map_blocks(
        _transform_block,
        fitted,
        dtype=rows.dtype,
        chunks=(rows.chunks[0], (n_out,)),
        meta=np.empty((0, n_out), dtype=rows.dtype),
    )
