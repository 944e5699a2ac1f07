"""Throughput of ConvFeatures.transform against PyTorch, the seed recipe and scipy.

Every workload is float32 (unless stated), ``transform`` of a fitted
ConvFeatures including the nonlinearity and the pooling, on random data (the
speed does not depend on the pixel values). For each it prints images/s for

* skconv (``n_jobs=--threads``),
* PyTorch's CPU ``conv2d``/``conv1d`` + the same nonlinearity + the same pooling
  (``torch.set_num_threads(--threads)``), outputs checked equal to skconv's,
* the seed article's formulation (a 6-D array of gathered patch coordinates,
  then ``np.einsum(..., optimize=True)``), on all the images (its index arrays
  grow with their number: several GB for W1; ``--seed-images`` caps it),
* a loop of ``scipy.signal.correlate`` over (image, kernel, channel), on a subset,

then the ratios, the GFLOP/s achieved by skconv (``2 n K C kh kw h_out w_out``
flops) and their share of the float32 (or float64) GEMM rate numpy's BLAS
reaches in the same run, and skconv's working memory (tracemalloc peak during
``transform`` minus the output's size). A scaling table follows (W1 at
n = 1k, 10k, 60k).

Run:  python benchmarks/bench_transform.py            (about 5 minutes)
      python benchmarks/bench_transform.py --workloads W3 --no-seed --no-scipy
                                                      (one workload against PyTorch)
      python benchmarks/bench_transform.py --quick    (smoke test, seconds)
"""

import argparse
import platform
import time
import tracemalloc

import numpy as np
from scipy import signal

from skconv import ConvFeatures, RandomBank

# name: (n, C, spatial, K, kernel, conv params, nonlinearity, pooling, grid)
WORKLOADS = {
    "W1 mnist-like": (10_000, 1, (28, 28), 64, 5, {}, "relu", ("max",), 2),
    "W1 stride 2": (10_000, 1, (28, 28), 64, 5, {"stride": 2}, "relu", ("max",), 2),
    "W1 dilation 2": (10_000, 1, (28, 28), 64, 5, {"dilation": 2}, "relu", ("max",), 2),
    "W2 cifar-like": (2_000, 3, (32, 32), 256, 5, {}, "relu", ("sum",), 2),
    "W3 digits-like": (1_797, 1, (8, 8), 32, 3, {}, "relu", ("max",), 1),
    "W4 1-D": (2_000, 1, (1000,), 256, 9, {"dilation": 4}, None, ("ppv", "max"), 1),
    # Larger grey images, beyond the small-image path (tiles, or the fused loop).
    "W5 128x128 grey": (256, 1, (128, 128), 32, 3, {}, "relu", ("max",), 4),
}


MIN_SECONDS = 0.5  # per timed measurement; 0 in --quick mode


def best_time(func, repeat, min_seconds=None):
    """Best wall time over at least ``repeat`` runs and ``min_seconds`` of runs.

    Short workloads (a few ms) get many runs, so that their best is as stable
    as a long workload's; one warm-up run first.
    """
    min_seconds = MIN_SECONDS if min_seconds is None else min_seconds
    func()
    best, spent, runs = np.inf, 0.0, 0
    while runs < repeat or spent < min_seconds:
        start = time.perf_counter()
        func()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best


def gemm_peak(dtype, repeat=3, size=4096):
    """GFLOP/s of a square matmul with numpy's BLAS (all its threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    return 2 * size**3 / best_time(lambda: a @ b, repeat, 0) / 1e9


def working_memory(func, output_bytes):
    """Peak bytes allocated by ``func`` (tracemalloc) beyond its output.

    skconv keeps a few idle batch workspaces between calls; they are dropped
    first so that the figure includes them.
    """
    from skconv.engine import core as _engine

    _engine._IDLE_WORKSPACES.clear()
    tracemalloc.start()
    tracemalloc.reset_peak()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return max(0, peak - output_bytes)


def same_pads(kernel, dilation, n_axes):
    """skconv's "same" padding, (before, after) per axis."""
    spans = [d * (kernel - 1) for d in dilation]
    return [(s // 2, s - s // 2) for s in spans][-n_axes:]


# --- references -----------------------------------------------------------------


def seed_features(images, kernels, stride, dilation, nonlinearity, poolings, grid):
    """The seed recipe: 6-D meshgrid coordinates for all images, one einsum.

    Generalised to per-axis stride/dilation and 2-D kernels (1-D data has height
    1). Its index arrays have ``n * C * h_out * w_out * kh * kw`` entries.
    """
    n, c, h, w = images.shape
    kh, kw = kernels.shape[2:]
    pads = same_pads(kh, dilation, 2) if kh > 1 else [(0, 0), *same_pads(kw, dilation, 1)]
    padded = np.pad(images, ((0, 0), (0, 0), *pads))
    nn, cc, hh, ww = np.meshgrid(
        np.arange(n),
        np.arange(c),
        np.arange(0, h, stride[0]),
        np.arange(0, w, stride[1]),
        indexing="ij",
    )
    ki, kj = np.meshgrid(np.arange(kh) * dilation[0], np.arange(kw) * dilation[1], indexing="ij")
    micro = padded[
        nn[..., None, None], cc[..., None, None], hh[..., None, None] + ki, ww[..., None, None] + kj
    ]
    maps = np.einsum("NChwij,KCij->NKhw", micro, kernels, optimize=True)
    return numpy_pool(maps, nonlinearity, poolings, grid)


def scipy_features(images, kernels, stride, dilation, nonlinearity, poolings, grid):
    """A loop of scipy.signal.correlate over images, kernels and channels."""
    kh, kw = kernels.shape[2:]
    pads = same_pads(kh, dilation, 2) if kh > 1 else [(0, 0), *same_pads(kw, dilation, 1)]
    padded = np.pad(images, ((0, 0), (0, 0), *pads))
    dilated = np.zeros(kernels.shape[:2] + ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1))
    dilated[:, :, :: dilation[0], :: dilation[1]] = kernels
    maps = np.array(
        [
            [
                sum(signal.correlate(x[ch], k[ch], mode="valid") for ch in range(x.shape[0]))[
                    :: stride[0], :: stride[1]
                ]
                for k in dilated
            ]
            for x in padded
        ]
    )
    return numpy_pool(maps, nonlinearity, poolings, grid)


def numpy_pool(maps, nonlinearity, poolings, grid):
    """Nonlinearity + grid pooling of (n, K, h, w) maps with plain numpy."""
    if poolings is None:
        return maps
    if nonlinearity == "relu":
        maps = np.maximum(maps, 0)
    n, k, h, w = maps.shape
    gh, gw = (1, grid) if h == 1 else (grid, grid)
    regions = maps.reshape(n, k, gh, h // gh, gw, w // gw)
    stats = {
        "max": lambda r: r.max(axis=(3, 5)),
        "sum": lambda r: r.sum(axis=(3, 5)),
        "ppv": lambda r: (r > 0).mean(axis=(3, 5)),
    }
    return np.stack([stats[p](regions) for p in poolings], axis=2).reshape(n, -1)


def torch_features(torch, x, weights, params, nonlinearity, poolings, grid):
    """conv2d/conv1d + nonlinearity + adaptive pooling in PyTorch (no grad)."""
    functional = torch.nn.functional
    one_d = x.ndim == 3
    kernel = weights.shape[-1]
    dilation = params.get("dilation", 1)
    pad = dilation * (kernel - 1) // 2
    with torch.no_grad():
        if one_d:
            maps = functional.conv1d(x, weights, padding=pad, dilation=dilation)
        else:
            maps = functional.conv2d(
                x, weights, stride=params.get("stride", 1), padding=pad, dilation=dilation
            )
        if nonlinearity == "relu":
            maps = torch.relu(maps)
        size = (grid,) if one_d else (grid, grid)
        pool_max = functional.adaptive_max_pool1d if one_d else functional.adaptive_max_pool2d
        pool_avg = functional.adaptive_avg_pool1d if one_d else functional.adaptive_avg_pool2d
        region = np.prod(maps.shape[2:]) // np.prod(size)
        stats = {
            "max": lambda: pool_max(maps, size),
            "sum": lambda: pool_avg(maps, size) * region,
            "ppv": lambda: pool_avg((maps > 0).to(maps.dtype), size),
        }
        out = torch.stack([stats[p]() for p in poolings], dim=2)
        return out.reshape(x.shape[0], -1)


# --- the benchmark ----------------------------------------------------------------


def workload(spec, n, dtype=np.float32, n_jobs=None):
    """A workload's images ``(n, C, *spatial)``, its input ``X`` and its fitted ConvFeatures.

    Shared with ``profile_stages.py``.
    """
    _, c, spatial, k, ksize, params, nonlinearity, poolings, grid = spec
    images = np.random.default_rng(0).standard_normal((n, c, *spatial)).astype(dtype)
    # ConvFeatures reads (n, L) rows as signals and 3-D/4-D arrays as images.
    X = images[:, 0] if len(spatial) == 1 else images
    conv = ConvFeatures(
        RandomBank(k, ksize),
        nonlinearity=nonlinearity,
        pooling=poolings,
        pool_grid=grid,
        random_state=0,
        n_jobs=n_jobs,
        **params,
    ).fit(X[:2])
    return images, X, conv


def run_workload(name, spec, args, torch, peaks, dtype=np.float32):
    n, c, spatial, k, ksize, params, nonlinearity, poolings, grid = spec
    n = max(2, n // args.shrink)
    images, X, conv = workload(spec, n, dtype, n_jobs=args.threads)
    t_skconv = best_time(lambda: conv.transform(X), args.repeat)
    out = conv.transform(X)
    work = working_memory(lambda: conv.transform(X), out.nbytes)
    h_out = int(np.prod(conv.maps_shape_[1:]))
    flops = 2.0 * n * k * c * ksize ** len(spatial) * h_out
    row = {
        "workload": name + ("" if dtype == np.float32 else " float64"),
        "n": n,
        "skconv": n / t_skconv,
        "gflops": flops / t_skconv / 1e9,
        "peak_share": flops / t_skconv / 1e9 / peaks[np.dtype(dtype).name],
        "work_mib": work / 2**20,
    }
    kernels4d = conv.kernels_ if len(spatial) == 2 else conv.kernels_[:, :, None, :]
    images4d = images if len(spatial) == 2 else images[:, :, None, :]
    stride = tuple(np.broadcast_to(params.get("stride", 1), 2))
    dilation = (
        (1, params.get("dilation", 1))
        if len(spatial) == 1
        else tuple(np.broadcast_to(params.get("dilation", 1), 2))
    )
    reference_args = (stride, dilation, nonlinearity, poolings, grid)
    if torch is not None:
        x = torch.from_numpy(images)
        w = torch.from_numpy(np.ascontiguousarray(conv.kernels_))
        t_torch = best_time(
            lambda: torch_features(torch, x, w, params, nonlinearity, poolings, grid), args.repeat
        )
        expected = torch_features(torch, x, w, params, nonlinearity, poolings, grid).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
        row["torch"] = n / t_torch
    if not args.no_seed:
        m = n if args.seed_images is None else min(n, args.seed_images)
        subset = images4d[:m]
        start = time.perf_counter()  # one run: it is slow and its memory grows with m
        seed_out = seed_features(subset, kernels4d, *reference_args)
        t_seed = time.perf_counter() - start
        np.testing.assert_allclose(seed_out, out[:m], rtol=1e-3, atol=1e-3)
        del seed_out
        row["seed"] = m / t_seed
    if not args.no_scipy:
        m = min(n, args.scipy_images)
        subset = images4d[:m].astype(np.float64)
        t_scipy = best_time(lambda: scipy_features(subset, kernels4d, *reference_args), 1, 0)
        row["scipy"] = m / t_scipy
    return row


def fmt(value, spec=".0f"):
    return "-" if value is None else format(value, spec)


def print_table(rows, peaks):
    print(
        f"\nGEMM peak (numpy BLAS, 4096^2 matmul): float32 {peaks['float32']:.0f} GFLOP/s, "
        f"float64 {peaks['float64']:.0f} GFLOP/s"
    )
    header = (
        f"{'workload':24s} {'n':>6s} {'skconv img/s':>13s} {'torch img/s':>12s} {'x torch':>8s} "
        f"{'seed img/s':>11s} {'x seed':>7s} {'scipy img/s':>12s} {'x scipy':>8s} "
        f"{'GFLOP/s':>8s} {'% peak':>7s} {'work MiB':>9s}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = lambda key: r["skconv"] / r[key] if key in r else None  # noqa: E731
        print(
            f"{r['workload']:24s} {r['n']:6d} {r['skconv']:13.0f} {fmt(r.get('torch')):>12s} "
            f"{fmt(ratio('torch'), '.1f'):>8s} {fmt(r.get('seed')):>11s} "
            f"{fmt(ratio('seed'), '.0f'):>7s} {fmt(r.get('scipy')):>12s} "
            f"{fmt(ratio('scipy'), '.0f'):>8s} {r['gflops']:8.1f} {100 * r['peak_share']:6.0f}% "
            f"{r['work_mib']:9.1f}"
        )


def convolve_table(args):
    """skconv.convolve alone (full maps out, no pooling) against the seed and scipy."""
    from skconv import convolve

    print("\nconvolve only (float32 maps out, 'same' padding, stride 1)")
    header = (
        f"{'workload':26s} {'n':>5s} {'convolve img/s':>15s} {'seed img/s':>11s} "
        f"{'x seed':>7s} {'scipy img/s':>12s} {'x scipy':>8s}"
    )
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for name, n, c, size, k, ksize in [
        ("MNIST-sized 1x28x28, 64 5x5", 1_000, 1, 28, 64, 5),
        ("3-channel 32x32, 256 5x5", 300, 3, 32, 256, 5),
    ]:
        n = max(2, n // args.shrink)
        images = rng.standard_normal((n, c, size, size)).astype(np.float32)
        kernels = rng.standard_normal((k, c, ksize, ksize)).astype(np.float32)
        t_conv = best_time(lambda: convolve(images, kernels, n_threads=args.threads), args.repeat)
        maps = convolve(images, kernels)
        start = time.perf_counter()
        seed = seed_features(images, kernels, (1, 1), (1, 1), None, None, None)
        t_seed = time.perf_counter() - start
        np.testing.assert_allclose(seed, maps, rtol=1e-3, atol=1e-3)
        m = min(n, args.scipy_images)
        subset = images[:m].astype(np.float64)
        t_scipy = best_time(
            lambda: scipy_features(subset, kernels, (1, 1), (1, 1), None, None, None), 1, 0
        )
        print(
            f"{name:26s} {n:5d} {n / t_conv:15.0f} {n / t_seed:11.0f} {t_seed / t_conv:7.0f} "
            f"{m / t_scipy:12.0f} {(n / t_conv) / (m / t_scipy):8.0f}"
        )


def scaling_table(args):
    """W1 at growing n: time per image and working memory should stay flat."""
    print("\nScaling (W1 mnist-like, float32): time and working memory against n")
    header = (
        f"{'n':>7s} {'seconds':>8s} {'x time':>7s} {'img/s':>9s} {'work MiB':>9s} "
        f"{'output MiB':>10s}"
    )
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    sizes = [max(2, s // args.shrink) for s in (1_000, 10_000, 60_000)]
    images = rng.standard_normal((sizes[-1], 1, 28, 28)).astype(np.float32)
    conv = ConvFeatures(RandomBank(64, 5), pool_grid=2, random_state=0, n_jobs=args.threads).fit(
        images[:2]
    )
    previous = None
    for n in sizes:
        subset = images[:n]
        seconds = best_time(lambda: conv.transform(subset), args.repeat)
        out_bytes = n * conv._n_features_out * 4
        work = working_memory(lambda: conv.transform(subset), out_bytes)
        growth = "" if previous is None else f"{seconds / previous:.2f}"
        print(
            f"{n:7d} {seconds:8.3f} {growth:>7s} {n / seconds:9.0f} {work / 2**20:9.1f} "
            f"{out_bytes / 2**20:10.1f}"
        )
        previous = seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for skconv and torch")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (best is kept)")
    parser.add_argument(
        "--seed-images",
        type=int,
        default=None,
        help="cap on the images given to the seed recipe (default: all)",
    )
    parser.add_argument("--scipy-images", type=int, default=20, help="subset for the scipy loop")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed recipe")
    parser.add_argument("--no-scipy", action="store_true", help="skip the scipy loop")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument("--quick", action="store_true", help="100x fewer images, 1 repeat")
    parser.add_argument(
        "--workloads",
        nargs="+",
        metavar="W",
        help="only these workloads (e.g. W1 W3: every row whose name starts so), "
        "without the float64 row and the convolve and scaling tables",
    )
    args = parser.parse_args(argv)
    args.shrink = 100 if args.quick else 1
    if args.quick:
        global MIN_SECONDS
        args.repeat, args.seed_images, args.scipy_images, MIN_SECONDS = 1, 10, 2, 0
    torch = None
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            print("PyTorch is not installed: its column is skipped (pip install torch==2.13.0).")
    print(
        f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}, "
        f"threads {args.threads}" + (f", torch {torch.__version__}" if torch else "")
    )
    peaks = {"float32": gemm_peak(np.float32), "float64": gemm_peak(np.float64)}
    chosen = {
        name: spec
        for name, spec in WORKLOADS.items()
        if args.workloads is None or name.split()[0] in args.workloads
    }
    rows = [run_workload(name, spec, args, torch, peaks) for name, spec in chosen.items()]
    if args.workloads is None:
        rows.append(
            run_workload(
                "W1 mnist-like", WORKLOADS["W1 mnist-like"], args, torch, peaks, dtype=np.float64
            )
        )
    print_table(rows, peaks)
    if args.workloads is None:
        convolve_table(args)
        scaling_table(args)
    return rows


if __name__ == "__main__":
    main()
