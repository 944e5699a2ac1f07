"""Threads on small convolutions: when a second thread pays.

Prints two tables (2 cores assumed):

1. ``convolve`` of n images of 128x128 with 16 3x3 kernels (float32,
   method="gemm"): one thread, ``n_threads=2`` as the engine runs it (a thread
   per 1 ms of estimated work, ``MIN_THREAD_SECONDS``, or per 0.25 ms for the
   compiled ``"planes"`` loop, which holds neither the GIL nor BLAS), and two
   threads forced (the rule switched off); then the loop the planner runs
   and the threads it gives it.
2. The GEMM of one such image, ``(16 x 9) @ (9 x 16384)``, repeated on one
   thread and on two threads at once, writing into one output that stays in
   cache or into 64 outputs that do not: how far a second thread can scale
   the arithmetic alone (the rest of ``convolve`` is Python and small numpy
   calls, which share the GIL).
3. The CPU time a ``convolve`` call takes against its wall time (one
   200x200 float64 image, 16 3x3 kernels): a CPU time beyond the threads'
   share of the wall time is spent by threads that do nothing for the call
   (BLAS's, spinning after a threaded BLAS call; the ``"planes"`` loop's
   OpenMP threads wait spinning between calls on purpose).
4. ``convolve`` through the ``"planes"`` loop on stride-2 cells of
   ``bench_geometries.py`` (many kernels, small or narrow maps): one thread,
   two run by the loop itself (OpenMP, when skconv is built with it) and two
   Python workers sharing tiles (the planner told the loop has no threads),
   best and median of interleaved calls.

Usage::

    python benchmarks/bench_convolve_threads.py
"""

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from bench_dask_threads import best_time


def best_ms(func, repeat):
    """Best of ``repeat`` warm runs, in milliseconds."""
    return 1e3 * best_time(func, repeat)


RULES = ("MIN_THREAD_SECONDS", "_PLANE_MIN_THREAD_SECONDS", "_PLANE_LOOP_MIN_THREAD_SECONDS")
"""The planner's least work per thread (:mod:`skconv.engine.planner`)."""


def convolve_table(repeat):
    import skconv.engine.planner as planner
    from skconv import convolve
    from skconv.engine.core import make_geometry
    from skconv.engine.features import PoolingSpec

    rng = np.random.default_rng(0)
    kernels = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    rules = {name: getattr(planner, name) for name in RULES}
    geometry = make_geometry((1, 128, 128), (1, 3, 3))
    print("convolve, 128x128 images, 16 3x3 kernels, float32, gemm; milliseconds")
    print(f"{'n':>4} {'1 thread':>10} {'2 (engine)':>11} {'2 (forced)':>11}  plan (threads)")
    for n in (1, 4, 16, 64):
        images = rng.standard_normal((n, 1, 128, 128)).astype(np.float32)
        results = {"one": [], "engine": [], "forced": []}
        for _ in range(3):  # interleaved rounds
            results["one"].append(best_ms(lambda: convolve(images, kernels, method="gemm"), repeat))
            results["engine"].append(
                best_ms(lambda: convolve(images, kernels, method="gemm", n_threads=2), repeat)
            )
            for name in RULES:
                setattr(planner, name, 0.0)
            try:
                results["forced"].append(
                    best_ms(lambda: convolve(images, kernels, method="gemm", n_threads=2), repeat)
                )
            finally:
                for name, value in rules.items():
                    setattr(planner, name, value)
        one, engine, forced = (min(results[k]) for k in ("one", "engine", "forced"))
        plan = planner.plan_conv(n, geometry, 16, np.dtype(np.float32), PoolingSpec(), n_threads=2)
        print(
            f"{n:>4} {one:>10.3f} {engine:>11.3f} {forced:>11.3f}"
            f"  {plan.path}/{plan.method} ({plan.n_threads})"
        )


def gemm_scaling_table(repeat):
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    weights = rng.standard_normal((16, 9)).astype(np.float32)
    patches = rng.standard_normal((9, 16384)).astype(np.float32)
    steps = 200

    def work(outputs):
        for step in range(steps):
            np.matmul(weights, patches, out=outputs[step % len(outputs)])

    print()
    print(f"(16 x 9) @ (9 x 16384) GEMM x {steps}, one BLAS thread each; seconds")
    print(f"{'outputs':>8} {'1 thread':>9} {'2 threads, 2x work':>19} {'scaling':>8}")
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(1) as pool:
        for n_outputs in (1, 64):
            mine = np.empty((n_outputs, 16, 16384), np.float32)
            other = np.empty_like(mine)
            one = best_ms(lambda: work(mine), repeat) / 1e3

            def both():
                future = pool.submit(work, other)
                work(mine)
                future.result()

            two = best_ms(both, repeat) / 1e3
            print(f"{n_outputs:>8} {one:>9.3f} {two:>19.3f} {2 * one / two:>8.2f}")


def cpu_table(calls=200):
    import resource

    from skconv import convolve

    rng = np.random.default_rng(0)
    images = rng.standard_normal((1, 1, 200, 200))
    kernels = rng.standard_normal((16, 1, 3, 3))
    print()
    print(f"convolve, one 200x200 float64 image, 16 3x3 kernels: per call, {calls} calls (ms)")
    print(f"{'n_threads':>9} {'wall':>7} {'CPU':>7} {'CPU / wall':>11}")
    for n_threads in (1, 2):
        for _ in range(10):
            convolve(images, kernels, padding=1, n_threads=n_threads)
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for _ in range(calls):
            convolve(images, kernels, padding=1, n_threads=n_threads)
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        print(
            f"{n_threads:>9} {1e3 * wall / calls:>7.3f} {1e3 * cpu / calls:>7.3f}"
            f" {cpu / wall:>11.2f}"
        )


# (n, C, H, W, K, k, stride, dilation): stride-2 cells of bench_geometries.py.
LOOP_CELLS = [
    (1, 4, 480, 40, 128, 7, 2, 2),
    (18, 8, 64, 16, 128, 7, 2, 2),
    (1, 8, 24, 480, 64, 11, 2, 1),
    (1, 8, 64, 200, 128, 5, 2, 1),
    (1, 8, 128, 72, 32, 5, 2, 1),
]


def loop_threads_table(calls=40):
    import skconv.engine.planner as planner
    from skconv import convolve
    from skconv.engine import gemm

    if not gemm.plane_threads_inside():
        print("\n(the planes loop runs no threads itself here: skconv built without OpenMP)")
        return
    own = planner.plane_loop_threads
    print()
    print("convolve through the planes loop, float32: best / median of interleaved calls (ms)")
    print(f"{'cell (n C H W K k s d)':<26} {'1 thread':>13} {'2, its own':>13} {'2, workers':>13}")
    rng = np.random.default_rng(0)
    for n, c, h, w, n_kernels, k, stride, dilation in LOOP_CELLS:
        images = rng.standard_normal((n, c, h, w)).astype(np.float32)
        kernels = rng.standard_normal((n_kernels, c, k, k)).astype(np.float32)
        padding = dilation * (k - 1) // 2
        ways = {"one": (1, own), "own": (2, own), "workers": (2, lambda n_threads: 1)}
        times = {way: [] for way in ways}
        for _ in range(calls):
            for way, (n_threads, inside) in ways.items():
                planner.plane_loop_threads = inside
                try:
                    start = time.perf_counter()
                    convolve(
                        images,
                        kernels,
                        stride=stride,
                        padding=padding,
                        dilation=dilation,
                        n_threads=n_threads,
                    )
                    times[way].append(1e3 * (time.perf_counter() - start))
                finally:
                    planner.plane_loop_threads = own
        cells = "  ".join(
            f"{min(times[way]):>5.2f} / {np.median(times[way]):>5.2f}" for way in ways
        )
        label = " ".join(map(str, (n, c, h, w, n_kernels, k, stride, dilation)))
        print(f"{label:<26} {cells}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    convolve_table(args.repeat)
    gemm_scaling_table(max(1, args.repeat // 3))
    cpu_table()
    loop_threads_table()


if __name__ == "__main__":
    main()
