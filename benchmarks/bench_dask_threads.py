"""BLAS threads x dask threads: the cost of oversubscription, and the fix.

Transforms 10,000 random float32 28x28 images (64 random 5x5 kernels, relu, 2x2
max pooling) held in a dask array of 10 blocks, with dask's threaded scheduler
(2 threads), with and without ``threadpoolctl.threadpool_limits(1)`` around the
compute, next to numpy input with ``n_jobs=2``. Best of 3 runs.

Run:  python benchmarks/bench_dask_threads.py
"""

import argparse
import time

import numpy as np


def best_time(func, repeat=3):
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args(argv)

    import dask
    import dask.array as da
    from threadpoolctl import threadpool_info, threadpool_limits

    from skconv import ConvFeatures, RandomBank

    images = np.random.default_rng(0).standard_normal((args.images, 28, 28)).astype(np.float32)
    lazy = da.from_array(images, chunks=(max(1, args.images // 10), 28, 28))
    conv = ConvFeatures(RandomBank(64, 5), pool_grid=2, random_state=0).fit(images[:2])
    blas = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    rows = [
        ("numpy input, n_jobs=2", lambda: conv.set_params(n_jobs=2).transform(images)),
        (
            f"dask, 2 threads, BLAS left at {blas} threads",
            lambda: conv.set_params(n_jobs=None).transform(lazy).compute(),
        ),
    ]

    def limited():
        with threadpool_limits(1):
            return conv.set_params(n_jobs=None).transform(lazy).compute()

    rows.append(("dask, 2 threads, threadpool_limits(1)", limited))
    print(f"{'configuration':42s} {'seconds':>8s} {'images/s':>9s}")
    with dask.config.set(scheduler="threads", num_workers=2):
        for name, func in rows:
            seconds = best_time(func)
            print(f"{name:42s} {seconds:8.3f} {args.images / seconds:9.0f}")


if __name__ == "__main__":
    main()
