"""Fit the constants of skconv's method cost model (``skconv/engine/costs.py``).

Times ``convolve(method="gemm")`` and ``convolve(method="fft")`` (float32, one
thread, best of 3) on a set of geometries, computes the work terms of the cost
model for each, and fits the seconds per unit of work by non-negative least
squares on relative errors (each measurement weighted by 1 / its time). The
"gemm" method is timed twice: as it runs (on these few-channel geometries, the
compiled direct loop of ``skconv/engine/_direct.pyx``: the ``DIRECT_*`` constants)
and with that loop switched off (the patch matrix and BLAS: ``GEMM_*``). Prints
the fitted constants, to be copied into ``skconv/engine/costs.py``, and for each
geometry the measured and predicted times and whether the model picks the
faster method.

Run:  python benchmarks/calibrate_methods.py        (about 25 seconds)
"""

import math
import time

import numpy as np
from scipy.optimize import nnls

from skconv import convolve
from skconv.engine import costs as _methods
from skconv.engine import gemm as _gemm
from skconv.engine.core import make_geometry
from skconv.engine.fft import fft_bytes_per_image, fft_shape

# (n, C, size, K, k): images of size x size (size 1 x L for 1-D rows: L given as -L)
GEOMETRIES = [
    (256, 1, 32, 16, 3),
    (64, 3, 32, 64, 5),
    (128, 1, 64, 16, 7),
    (32, 3, 64, 32, 11),
    (16, 1, 128, 16, 15),
    (16, 3, 128, 64, 5),
    (8, 1, 256, 16, 7),
    (4, 1, 256, 16, 31),
    (4, 3, 256, 16, 15),
    (2, 1, 512, 16, 11),
    (1, 1, 512, 64, 15),
    (1, 1, 1024, 16, 3),
    (1, 1, 1024, 16, 31),
    (1, 3, 512, 16, 63),
    (2, 1, 256, 64, 63),
    (8, 1, 128, 64, 31),
    (32, 1, -10_000, 32, 9),
    (4, 1, -100_000, 32, 9),
    (64, 1, -1_000, 32, 63),
    (8, 16, 64, 32, 5),
    (16, 32, 32, 64, 3),
    (4, 64, 64, 128, 3),
    # three channels of 11x11 kernels, where the direct loop and FFT are close
    (16, 3, 64, 16, 11),
    (4, 3, 128, 64, 11),
    (1, 3, 256, 64, 11),
    (1, 3, 1024, 16, 11),
]


def best_time(func, repeat=3):
    func()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_terms(geometry, n_kernels, n):
    p, positions = geometry.patch_size, geometry.n_positions
    return n * positions * np.array([p * n_kernels, p, n_kernels], dtype=float)


def fft_terms(geometry, n_kernels, n):
    budget = _methods.working_memory_bytes()
    tiling, _ = _methods.fft_tiling(geometry, n_kernels, 4, budget)
    shape = fft_shape(tiling.window_shape)
    c = geometry.n_channels
    points = shape[0] * shape[1]
    spectrum = shape[0] * (shape[1] // 2 + 1)
    per_image = fft_bytes_per_image(c, n_kernels, shape, 4)
    group = max(1, min(_methods.FFT_TILE_BYTES, budget) // per_image)
    tiles = n * tiling.n_tiles
    return np.array(
        [
            tiles * (c + n_kernels) * points * math.log2(max(points, 2)),
            tiles * c * n_kernels * spectrum,
            tiles * n_kernels * points,
            tiles / min(group, n),
        ]
    )


def fit(rows, times):
    rows, times = np.array(rows), np.array(times)
    coefficients, _ = nnls(rows / times[:, None], np.ones(len(times)))
    return coefficients


def main():
    rng = np.random.default_rng(0)
    measured = []
    for n, c, size, n_kernels, k in GEOMETRIES:
        if size < 0:
            shape, kshape, sample = (n, c, -size), (n_kernels, c, k), (c, -size)
        else:
            shape, kshape, sample = (n, c, size, size), (n_kernels, c, k, k), (c, size, size)
        images = rng.standard_normal(shape).astype(np.float32)
        kernels = rng.standard_normal(kshape).astype(np.float32)
        ndim = len(shape) - 2
        geometry = make_geometry(sample, kshape[1:])
        times = {
            m: best_time(lambda m=m: convolve(images, kernels, method=m, spatial_ndim=ndim))
            for m in ("gemm", "fft")
        }
        times["direct"] = times["gemm"] if _methods.direct_applies(geometry, 4) else np.nan
        loop, _gemm.correlate_windows = _gemm.correlate_windows, None
        try:  # the patch matrix and BLAS
            times["gemm"] = best_time(
                lambda: convolve(images, kernels, method="gemm", spatial_ndim=ndim)
            )
        finally:
            _gemm.correlate_windows = loop
        measured.append((n, c, size, n_kernels, k, geometry, times))
        print(f"measured n={n} C={c} size={size} K={n_kernels} k={k}: {times}", flush=True)
    gemm = fit(
        [gemm_terms(g, K, n) for n, _, _, K, _, g, _ in measured], [t["gemm"] for *_, t in measured]
    )
    direct_rows = [row for row in measured if not np.isnan(row[-1]["direct"])]
    direct = fit(
        [gemm_terms(g, K, n) for n, _, _, K, _, g, _ in direct_rows],
        [t["direct"] for *_, t in direct_rows],
    )
    fft = fit(
        [fft_terms(g, K, n) for n, _, _, K, _, g, _ in measured], [t["fft"] for *_, t in measured]
    )
    names = ["GEMM_SECONDS_PER_MAC", "GEMM_SECONDS_PER_GATHERED", "GEMM_SECONDS_PER_OUTPUT"]
    names += ["DIRECT_SECONDS_PER_MAC", "DIRECT_SECONDS_PER_TAP", "DIRECT_SECONDS_PER_OUTPUT"]
    names += [
        "FFT_SECONDS_PER_POINT_LOG",
        "FFT_SECONDS_PER_COMPLEX_MAC",
        "FFT_SECONDS_PER_OUTPUT",
        "FFT_SECONDS_PER_TILE",
    ]
    print("\nfitted constants:")
    for name, value in zip(names, [*gemm, *direct, *fft]):
        print(f"{name} = {value:.2e}")
    print(
        "\ngemm = the method as it runs (the direct loop where it applies, else patch matrix "
        "and BLAS); patches = patch matrix and BLAS"
    )
    print(
        f"{'geometry':<32} {'gemm s':>8} {'model':>8} {'patches':>8} {'model':>8} "
        f"{'fft s':>8} {'model':>8} {'fit picks':>9} {'auto':>6} {'faster':>6}"
    )
    right = shipped = 0
    for n, c, size, n_kernels, k, g, times in measured:
        patches, pp = times["gemm"], gemm @ gemm_terms(g, n_kernels, n)
        spatial, pg = patches, pp
        if not np.isnan(times["direct"]):
            spatial, pg = times["direct"], direct @ gemm_terms(g, n_kernels, n)
        pf = fft @ fft_terms(g, n_kernels, n)
        picks = "fft" if pf < pg else "gemm"
        faster = "fft" if times["fft"] < spatial else "gemm"
        auto = _methods.choose_method(g, n_kernels, 4)  # the constants in the code
        right += picks == faster
        shipped += auto == faster
        label = f"n={n} C={c} size={size} K={n_kernels} k={k}"
        print(
            f"{label:<32} {spatial:8.4f} {pg:8.4f} {patches:8.4f} {pp:8.4f} "
            f"{times['fft']:8.4f} {pf:8.4f} {picks:>9} {auto:>6} {faster:>6}"
        )
    print(
        f"\nthe fitted model picks the faster method on {right} of {len(measured)} "
        f"geometries; auto (the constants in skconv/engine/costs.py) on {shipped}"
    )


if __name__ == "__main__":
    main()
