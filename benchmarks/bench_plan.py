"""The planner's predictions against measured times: ``ConvFeatures.explain`` vs ``transform``.

For each geometry of a grid (images 16..256 pixels, 1 or 3 channels, kernels
3..15, 16 or 64 kernels, float32 and float64, max pooling and mean + ppv
pooling; signals with MiniRocket's features), it fits a ``ConvFeatures``,
asks ``explain(X)`` for the plan and its predicted seconds, then times
``transform(X)`` (best of ``--repeat`` warm runs, 2 threads) and prints both,
their ratio and the plan's path and method. The summary gives the median
ratio and how many cells are within 2x and 3x of the prediction.

Run:  python benchmarks/bench_plan.py            (the grid, about 15 seconds)
      python benchmarks/bench_plan.py --quick    (a few cells)
"""

import argparse
import itertools

import numpy as np
from bench_transform import best_time

from skconv import ArrayBank, ConvFeatures, make_minirocket


def measure(label, conv, X, repeat):
    """``(label, path, method, predicted, measured)`` of ``conv.transform(X)``."""
    plan = conv.explain(X)
    seconds = best_time(lambda: conv.transform(X), repeat, min_seconds=0)
    part = plan.rows()[0]
    return label, part["path"], part["method"], plan.seconds, seconds


def image_cells(quick):
    sizes = (32, 128) if quick else (16, 32, 64, 128, 256)
    kernels = (3, 7) if quick else (3, 7, 15)
    for size, channels, k, n_kernels, dtype, pooling in itertools.product(
        sizes,
        (1, 3),
        kernels,
        (16, 64),
        (np.float32, np.float64),
        (("max",), ("mean", "ppv")),
    ):
        if quick and (n_kernels == 64 or pooling != ("max",)):
            continue
        if k >= size:
            continue
        yield size, channels, k, n_kernels, np.dtype(dtype), pooling


def run_images(quick, repeat, rng):
    rows = []
    for size, channels, k, n_kernels, dtype, pooling in image_cells(quick):
        n = max(4, 2**16 // (size * size))
        X = rng.standard_normal((n, channels, size, size)).astype(dtype)
        kernels = rng.standard_normal((n_kernels, channels, k, k))
        conv = ConvFeatures(ArrayBank(kernels), pooling=pooling, pool_grid=2, n_jobs=2).fit(X)
        label = f"{n}x{channels}x{size}^2 k{k} K{n_kernels} {dtype.name} {'+'.join(pooling)}"
        rows.append(measure(label, conv, X, repeat))
    return rows


def run_series(quick, repeat, rng):
    rows = []
    lengths = (150, 1000) if quick else (150, 500, 1000, 2000)
    for length, dtype in itertools.product(lengths, (np.float32, np.float64)):
        n = max(16, 2**17 // length)
        X = rng.standard_normal((n, length)).astype(dtype)
        conv = make_minirocket(n_features=2_000, n_jobs=2, random_state=0).fit(X)
        label = f"{n} series of {length} {np.dtype(dtype).name} minirocket"
        rows.append(measure(label, conv, X, repeat))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few cells")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = run_images(args.quick, args.repeat, rng) + run_series(args.quick, args.repeat, rng)
    header = f"{'cell':<44} {'path':<9} {'method':<6} {'predicted':>9} {'measured':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    ratios = []
    for label, path, method, predicted, measured in rows:
        ratio = measured / predicted
        ratios.append(ratio)
        print(
            f"{label:<44} {path:<9} {method:<6} {predicted * 1e3:7.1f}ms "
            f"{measured * 1e3:7.1f}ms {ratio:6.2f}"
        )
    ratios = np.array(ratios)
    spread = np.maximum(ratios, 1 / ratios)
    print(
        f"\n{len(ratios)} cells: measured / predicted median {np.median(ratios):.2f} "
        f"(quartiles {np.percentile(ratios, 25):.2f}-{np.percentile(ratios, 75):.2f}); "
        f"within 2x: {np.sum(spread <= 2)} ({np.mean(spread <= 2):.0%}), "
        f"within 3x: {np.sum(spread <= 3)}; worst {spread.max():.2f}x"
    )


if __name__ == "__main__":
    main()
