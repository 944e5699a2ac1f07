"""Independent references for the tests: scipy.signal and direct loops."""

import numpy as np
from scipy import signal


def dilate_kernel(kernel, dilation):
    """Insert ``dilation - 1`` zeros between the taps of a 2-D kernel."""
    kh, kw = kernel.shape
    dh, dw = dilation
    out = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=kernel.dtype)
    out[::dh, ::dw] = kernel
    return out


def reference_correlate(images, kernels, stride, pads, dilation, mode="constant"):
    """Correlation of ``(n, C, H, W)`` images with ``(K, C, kh, kw)`` kernels.

    Pads with :func:`numpy.pad`, dilates kernels by zero insertion, correlates
    each (image, channel, kernel) with :func:`scipy.signal.correlate` in
    ``"valid"`` mode, sums channels, then subsamples by the stride. All in
    float64.
    """
    images = np.asarray(images, dtype=np.float64)
    kernels = np.asarray(kernels, dtype=np.float64)
    padded = np.pad(images, ((0, 0), (0, 0), *pads), mode=mode)
    n, c = images.shape[:2]
    maps = []
    for i in range(n):
        per_kernel = []
        for kernel in kernels:
            total = sum(
                signal.correlate(padded[i, ch], dilate_kernel(kernel[ch], dilation), "valid")
                for ch in range(c)
            )
            per_kernel.append(total[:: stride[0], :: stride[1]])
        maps.append(per_kernel)
    return np.array(maps)


def gaussian_weights(h, w, grid, sigma, i, j):
    """2-D Gaussian weights of window ``(i, j)`` over an ``(h, w)`` map, summing to one.

    Computed position by position (not as a product of two 1-D windows): the
    window is centred on grid region ``(i, j)`` and its standard deviation along
    each axis is ``sigma`` times that axis's mean region length.
    """
    rows = [(a * h) // grid[0] for a in range(grid[0] + 1)]
    cols = [(b * w) // grid[1] for b in range(grid[1] + 1)]
    cy, cx = (rows[i] + rows[i + 1] - 1) / 2, (cols[j] + cols[j + 1] - 1) / 2
    sy, sx = sigma * h / grid[0], sigma * w / grid[1]
    weights = np.empty((h, w))
    for y in range(h):
        for x in range(w):
            weights[y, x] = np.exp(-(((y - cy) / sy) ** 2) / 2 - ((x - cx) / sx) ** 2 / 2)
    return weights / weights.sum()


def mean_of_positive_values(region):
    """MultiRocket's MPV: the mean of the positive values of a region; 0 where none."""
    values = [v for v in np.asarray(region, dtype=np.float64).ravel() if v > 0]
    return sum(values) / len(values) if values else 0.0


def mean_index_of_positive_values(region):
    """MultiRocket's MIPV, scaled: the mean 0-based index of the positive values / n; -1 if none.

    Indices count positions in row-major order within the region.
    """
    flat = np.asarray(region).ravel()
    indices = [i for i, v in enumerate(flat) if v > 0]
    return sum(indices) / len(indices) / len(flat) if indices else -1.0


def longest_stretch_of_positive_values(region):
    """MultiRocket's LSPV, scaled: the longest run of consecutive positive values / n.

    Runs are read in row-major order within the region (they continue from one
    row to the next).
    """
    flat = np.asarray(region).ravel()
    best = run = 0
    for v in flat:
        run = run + 1 if v > 0 else 0
        best = max(best, run)
    return best / len(flat)


def group_wins(values, group, largest):
    """Hydra's competition, position by position: ``(counts, sums)`` maps ``(n, K, h, w)``.

    At each position, of each ``group`` consecutive kernels the one with the
    largest (or smallest) value wins, the first on ties: its count map gets 1
    and its sum map its value there.
    """
    n, k, h, w = values.shape
    counts, sums = np.zeros(values.shape), np.zeros(values.shape)
    for a in range(n):
        for y in range(h):
            for x in range(w):
                for g in range(0, k, group):
                    column = list(values[a, g : g + group, y, x])
                    best = column.index(max(column) if largest else min(column))
                    counts[a, g + best, y, x] = 1.0
                    sums[a, g + best, y, x] = column[best]
    return counts, sums


def loop_pool(maps, nonlinearity, poolings, grid, sigma=None, group=None):
    """Nonlinearity then grid pooling with explicit loops; ``maps`` is (n, K, h, w).

    With ``sigma``, "mean", "sum" and "l2" use the Gaussian windows of
    :func:`gaussian_weights` over the whole map instead of the region alone.
    The competing statistics compare each kernel with the others of its
    ``group`` (see :func:`group_wins`), then sum over the region.
    """
    funcs = {
        None: lambda v: v,
        "relu": lambda v: np.maximum(v, 0),
        "abs": np.abs,
        "square": np.square,
        "tanh": np.tanh,
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    }
    stats = {
        "max": np.max,
        "sum": np.sum,
        "mean": np.mean,
        "ppv": lambda v: np.mean(v > 0),
        "l2": lambda v: np.sqrt(np.mean(np.square(v))),
        "mpv": mean_of_positive_values,
        "mipv": mean_index_of_positive_values,
        "lspv": longest_stretch_of_positive_values,
    }
    values = funcs[nonlinearity](np.asarray(maps, dtype=np.float64))
    n, k, h, w = values.shape
    competing = {}
    if any(name.startswith(("max_wins", "min_wins")) for name in poolings):
        for side, largest in (("max", True), ("min", False)):
            counts, sums = group_wins(values, group, largest)
            competing[f"{side}_wins"], competing[f"{side}_wins_sum"] = counts, sums
    rows = [(i * h) // grid[0] for i in range(grid[0] + 1)]
    cols = [(j * w) // grid[1] for j in range(grid[1] + 1)]
    out = np.empty((n, k, len(poolings), grid[0], grid[1]))
    for a in range(n):
        for b in range(k):
            for s, name in enumerate(poolings):
                for i in range(grid[0]):
                    for j in range(grid[1]):
                        region = values[a, b, rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
                        if name in competing:
                            won = competing[name][
                                a, b, rows[i] : rows[i + 1], cols[j] : cols[j + 1]
                            ]
                            out[a, b, s, i, j] = won.sum()
                            continue
                        if sigma is None:
                            out[a, b, s, i, j] = stats[name](region)
                            continue
                        weights = gaussian_weights(h, w, grid, sigma, i, j)
                        mean = np.sum(weights * values[a, b])
                        if name == "sum":
                            out[a, b, s, i, j] = mean * region.size
                        elif name == "mean":
                            out[a, b, s, i, j] = mean
                        else:  # l2
                            out[a, b, s, i, j] = np.sqrt(np.sum(weights * values[a, b] ** 2))
    return out.reshape(n, -1)


def assert_equal_but_for_ties(actual, desired, n_positions, max_fraction=1e-4):
    """Proportions of values above biases, from float32 maps summed in two orders.

    Equal, except where a value sits exactly on its bias (MiniRocket's biases
    are quantiles of the training maps, so some do): the two sums may round
    to either side, and that proportion differs by one position in
    ``n_positions``. At most ``max_fraction`` of the features may.
    """
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert actual.shape == desired.shape
    differ = ~np.isclose(actual, desired, rtol=0, atol=1e-6)
    assert differ.mean() <= max_fraction, f"{differ.sum()} of {differ.size} features differ"
    if differ.any():
        assert np.abs(actual - desired)[differ].max() <= 1 / n_positions + 1e-6
