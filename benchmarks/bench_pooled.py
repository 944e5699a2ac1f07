"""Pooled features against the unpooled route: ``ConvFeatures.transform`` vs ``convolve`` + numpy.

On geometries drawn at random (images of 16..128 pixels, 1-3 channels, kernels
3..25, 8-64 kernels, float32 or float64; 2 threads), it times

* ``ConvFeatures(ArrayBank(kernels), nonlinearity="relu", pooling=..., pool_grid=2)
  .transform(X)``, and
* ``skconv.convolve(X, kernels, padding="same", n_threads=2)``, then numpy's
  ``np.maximum(maps, 0)`` and the same pooling over the same 2x2 regions,

checks the features equal, and prints the ratio (pooled / unpooled route; 1.0
means as fast). Each time is the best of ``--repeat`` runs, the two contenders
timed in alternation.

Run:  python benchmarks/bench_pooled.py                (40 geometries)
      python benchmarks/bench_pooled.py --cells 8      (fewer)
"""

import argparse
import time

import numpy as np

from skconv import ArrayBank, ConvFeatures, convolve


def numpy_pool(maps, pooling):
    """relu then pooling over a 2x2 grid of near-equal regions: (n, K * S * 4)."""
    maps = np.maximum(maps, 0)
    n, k, h, w = maps.shape
    rows, cols = (np.arange(3) * h) // 2, (np.arange(3) * w) // 2
    out = np.empty((n, k, len(pooling), 2, 2), dtype=maps.dtype)
    for i in range(2):
        for j in range(2):
            region = maps[:, :, rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
            for s, name in enumerate(pooling):
                if name == "max":
                    out[:, :, s, i, j] = region.max(axis=(2, 3))
                else:
                    out[:, :, s, i, j] = region.mean(axis=(2, 3))
    return out.reshape(n, -1)


def draw_cell(rng):
    size = int(rng.integers(16, 129))
    k = int(rng.choice([3, 5, 7, 9, 11, 15, 21, 25]))
    k = min(k, size - 1 - (size % 2 == 0))
    return dict(
        size=size,
        channels=int(rng.integers(1, 4)),
        k=max(3, k),
        n_kernels=int(rng.choice([8, 16, 32, 64])),
        dtype=np.dtype(rng.choice([np.float32, np.float64])),
        pooling=("max",) if rng.random() < 0.5 else ("max", "mean"),
    )


def time_cell(cell, rng, repeat):
    size, c, k = cell["size"], cell["channels"], cell["k"]
    n = max(8, min(512, 2**17 // (size * size)))
    X = rng.standard_normal((n, c, size, size)).astype(cell["dtype"])
    kernels = rng.standard_normal((cell["n_kernels"], c, k, k))
    conv = ConvFeatures(
        ArrayBank(kernels), nonlinearity="relu", pooling=cell["pooling"], pool_grid=2, n_jobs=2
    ).fit(X)

    def pooled():
        return conv.transform(X)

    def unpooled():
        maps = convolve(X, kernels.astype(X.dtype), padding="same", n_threads=2)
        return numpy_pool(maps, cell["pooling"])

    a, b = pooled(), unpooled()  # warm, and checked equal
    scale = max(np.abs(b).max(), 1e-12)
    error = np.abs(a - b).max() / scale
    tolerance = 1e-3 if cell["dtype"] == np.float32 else 1e-9
    if error > tolerance:
        raise AssertionError(f"features differ by {error:.2e} on {cell}")
    times = {"pooled": [], "unpooled": []}
    for _ in range(repeat):
        for name, func in (("pooled", pooled), ("unpooled", unpooled)):
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return n, conv.explain(X).rows()[0], min(times["pooled"]), min(times["unpooled"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    header = (
        f"{'images':<22} {'kernels':<13} {'dtype':<8} {'pooling':<9} {'plan':<16} "
        f"{'pooled':>9} {'unpooled':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    for _ in range(args.cells):
        cell = draw_cell(rng)
        n, part, pooled, unpooled = time_cell(cell, rng, args.repeat)
        ratio = pooled / unpooled
        ratios.append(ratio)
        images = f"{n}x{cell['channels']}x{cell['size']}x{cell['size']}"
        kernels = f"{cell['n_kernels']}x{cell['k']}x{cell['k']}"
        plan = f"{part['path']}/{part['method']}"
        print(
            f"{images:<22} {kernels:<13} {cell['dtype'].name:<8} "
            f"{'+'.join(cell['pooling']):<9} {plan:<16} {pooled * 1e3:7.1f}ms "
            f"{unpooled * 1e3:7.1f}ms {ratio:6.2f}"
        )
    ratios = np.array(ratios)
    print(
        f"\n{len(ratios)} geometries: pooled / unpooled median {np.median(ratios):.2f}, "
        f"worst {ratios.max():.2f}; at most 1.2x in {np.mean(ratios <= 1.2):.0%} of them"
    )


if __name__ == "__main__":
    main()
