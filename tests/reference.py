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


def loop_pool(maps, nonlinearity, poolings, grid):
    """Nonlinearity then grid pooling with explicit loops; ``maps`` is (n, K, h, w)."""
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
    }
    values = funcs[nonlinearity](np.asarray(maps, dtype=np.float64))
    n, k, h, w = values.shape
    rows = [(i * h) // grid[0] for i in range(grid[0] + 1)]
    cols = [(j * w) // grid[1] for j in range(grid[1] + 1)]
    out = np.empty((n, k, len(poolings), grid[0], grid[1]))
    for a in range(n):
        for b in range(k):
            for s, name in enumerate(poolings):
                for i in range(grid[0]):
                    for j in range(grid[1]):
                        region = values[a, b, rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
                        out[a, b, s, i, j] = stats[name](region)
    return out.reshape(n, -1)
