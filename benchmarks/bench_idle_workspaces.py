"""Idle workspaces kept between transforms: the gain, measured.

``skconv.engine.core`` keeps up to four idle batch workspaces (at most 64 MiB each)
between calls, so that repeated transforms of small datasets (cross-validation,
grid searches, ``predict`` on a few samples) do not pay a page fault per 4 KiB of
fresh buffers. This script times ``ConvFeatures.transform`` of digits (8x8, the
default bank, quadrant max pooling) with the cache on and off, interleaved, and
prints the best of five rounds of 20 calls per size.

Run:  python benchmarks/bench_idle_workspaces.py          (about 20 s)
"""

import time

from sklearn.datasets import load_digits

import skconv.engine.core as engine
from skconv import ConvFeatures


def main(rounds=5, calls=20, sizes=(10, 200, 1797)):
    X, _ = load_digits(return_X_y=True)
    conv = ConvFeatures(image_shape=(8, 8), random_state=0).fit(X)
    kept = engine._MAX_IDLE
    times = {}
    try:
        for _ in range(rounds):
            for idle in (kept, 0):
                engine._MAX_IDLE = idle
                engine._IDLE_WORKSPACES.clear()
                for n in sizes:
                    start = time.perf_counter()
                    for _ in range(calls):
                        conv.transform(X[:n])
                    elapsed = (time.perf_counter() - start) / calls
                    times.setdefault((idle, n), []).append(elapsed)
    finally:
        engine._MAX_IDLE = kept
    print(f"{'images':>7} {'cache on (ms)':>14} {'cache off (ms)':>15} {'off / on':>9}")
    for n in sizes:
        on, off = min(times[(kept, n)]), min(times[(0, n)])
        print(f"{n:>7} {1e3 * on:>14.3f} {1e3 * off:>15.3f} {off / on:>9.2f}")


if __name__ == "__main__":
    main()
