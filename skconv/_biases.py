"""Biases fitted from the data: quantiles of each kernel's responses, as in MiniRocket.

With biases, each map is pooled once per bias as ``pool(nonlinearity(map -
bias))``: the proportion of positive values then measures how often the
response exceeds a level typical of the data, not zero. For every dilation
group and kernel, ``fit`` draws one training sample at random (MiniRocket's
rule: cheap, and different samples for different kernels), computes the
kernel's map on it, and takes the map's quantiles at levels from the
golden-ratio sequence ``(i * phi) mod 1``, which spreads the levels evenly
over (0, 1) whatever their number.
"""

import numpy as np

GOLDEN_RATIO = (np.sqrt(5) + 1) / 2
# Above this many bytes of patches, pair_maps computes one kernel at a time.
_PAIR_BYTES = 64 << 20


def quantile_levels(n):
    """The first ``n`` levels of the golden-ratio sequence ``(i * phi) mod 1``, i = 1..n."""
    return (np.arange(1, n + 1) * GOLDEN_RATIO) % 1


def check_bias_samples(n_samples):
    """Raise unless there are enough training samples to fit biases from."""
    if n_samples < 2:
        raise ValueError(
            f"n_biases fits each kernel's biases from quantiles of its responses to "
            f"training samples, which needs at least 2 samples; got {n_samples}. With "
            "one sample its own features would be the quantile levels themselves. "
            "Use n_biases=None (no biases) or fit on more samples."
        )


def biases_from_maps(maps, counts, levels):
    """Quantiles of each kernel's map at its levels.

    Parameters
    ----------
    maps : ndarray of shape (K, n_positions)
        One map per kernel (each from its own drawn sample).
    counts : int
        Biases per kernel.
    levels : ndarray of shape (K * counts,)
        The quantile levels, kernel by kernel.

    Returns
    -------
    biases : ndarray of shape (K, counts)
        ``np.quantile(maps[k], levels[k * counts:(k + 1) * counts])`` (its
        default linear interpolation, computed for all kernels at once), in
        the maps' dtype.
    """
    ordered = np.sort(maps, axis=1).astype(np.float64)
    n_kernels, n_positions = ordered.shape
    position = levels.reshape(n_kernels, counts) * (n_positions - 1)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, n_positions - 1)
    fraction = position - below
    low = np.take_along_axis(ordered, below, axis=1)
    high = np.take_along_axis(ordered, above, axis=1)
    # numpy's lerp: from the nearer end, so that a fraction of 1 gives ``high``.
    biases = np.where(
        fraction < 0.5, low + (high - low) * fraction, high - (high - low) * (1 - fraction)
    )
    return biases.astype(maps.dtype)


def fit_biases(images, kernel_maps, n_kernels, counts, random_state):
    """Fit the biases of every dilation group.

    Parameters
    ----------
    images : array of shape (n, C, *spatial), or list of ndarray
        Training samples (numpy or dask; only the drawn ones are read), or a
        list of series of unequal lengths.
    kernel_maps : callable
        ``kernel_maps(g, samples, which)`` returns the maps ``(K, n_positions)``
        of group ``g``: kernel ``k``'s map of ``samples[which[k]]``, for a numpy
        array of samples ``(m, C, *spatial)`` (or a list of ``K`` 1-D maps of
        different lengths, for a list of samples).
    n_kernels : int
    counts : list of int
        Biases per kernel in each group (a group may have 0).
    random_state : numpy.random.RandomState

    Returns
    -------
    biases : list of (ndarray of shape (K, counts[g]) or None)
        None for a group without biases. Levels are assigned in (group,
        kernel, bias) order from one golden-ratio sequence, as MiniRocket
        assigns them to its features.
    """
    n_samples = len(images) if isinstance(images, list) else images.shape[0]
    check_bias_samples(n_samples)
    levels = quantile_levels(n_kernels * sum(counts))
    biases, offset = [], 0
    for g, count in enumerate(counts):
        if not count:
            biases.append(None)
            continue
        chosen = random_state.randint(n_samples, size=n_kernels)
        unique, where = np.unique(chosen, return_inverse=True)
        maps = kernel_maps(g, _take(images, unique), where)
        size = n_kernels * count
        if isinstance(maps, list):  # maps of different lengths: one kernel at a time
            biases.append(
                np.concatenate(
                    [
                        biases_from_maps(
                            kernel_map[None], count, levels[offset + k * count :][:count]
                        )
                        for k, kernel_map in enumerate(maps)
                    ]
                )
            )
        else:
            biases.append(biases_from_maps(maps, count, levels[offset : offset + size]))
        offset += size
    return biases


def pair_maps(samples, which, geometry, weights, padding_mode="constant"):
    """Map of kernel ``k`` on ``samples[which[k]]``, for every kernel: ``(K, n_positions)``.

    Only the K maps asked for are computed, plane-wise: for each tap and
    channel, the shifted window of every kernel's own sample times that tap's
    weight, accumulated (no index gather, no map of a kernel on a sample it
    did not draw).

    Parameters
    ----------
    samples : ndarray of shape (m, C, H, W)
    which : ndarray of int of shape (K,)
    geometry : Geometry
    weights : ndarray of shape (kh * kw * C, K)
        The kernel matrix (:func:`~skconv.engine.core.kernel_matrix`), rows in
        (row, column, channel) tap order.
    padding_mode : str, default="constant"

    Returns
    -------
    maps : ndarray of shape (K, n_positions)
    """
    (top, bottom), (left, right) = geometry.pads
    padded = np.pad(
        np.moveaxis(samples, 1, -1),
        ((0, 0), (top, bottom), (left, right), (0, 0)),
        mode=padding_mode,
    )
    n_kernels = len(which)
    maps = np.zeros((n_kernels, *geometry.out_shape), dtype=weights.dtype)
    # All kernels at once, or one at a time when K copies of a sample are large.
    step = n_kernels if n_kernels * padded[0].nbytes <= _PAIR_BYTES else 1
    for k0 in range(0, n_kernels, step):
        rows = padded[which[k0 : k0 + step]]
        _accumulate_taps(maps[k0 : k0 + step], rows, geometry, weights[:, k0 : k0 + step])
    return maps.reshape(n_kernels, -1)


def _accumulate_taps(maps, rows, geometry, weights):
    """``maps[k] += sum over taps of weight * window of rows[k]`` (see :func:`pair_maps`)."""
    (kh, kw), (sy, sx), (dy, dx) = geometry.kernel_shape, geometry.stride, geometry.dilation
    h_out, w_out = geometry.out_shape
    n_channels = rows.shape[-1]
    shape = (-1, 1, 1)
    for ty in range(kh):
        for tx in range(kw):
            y0, x0 = ty * dy, tx * dx
            window = rows[
                :, y0 : y0 + (h_out - 1) * sy + 1 : sy, x0 : x0 + (w_out - 1) * sx + 1 : sx
            ]
            for c in range(n_channels):
                tap = weights[(ty * kw + tx) * n_channels + c].reshape(shape)
                maps += window[..., c] * tap


def _take(images, indices):
    """Rows ``indices`` (sorted, unique) of a numpy or dask array (as numpy) or of a list."""
    if isinstance(images, list):
        return [images[i] for i in indices]
    taken = images[indices]
    return np.asarray(taken.compute() if hasattr(taken, "compute") else taken)
