"""This checkout against another revision, side by side in one run: no speed lost.

The other revision (``--base``, e.g. the previous release's commit) is checked
out in a temporary git worktree and its compiled loops are built in place. Each
workload then runs in fresh processes, alternately on the base and on this
checkout (``--rounds`` rounds, each the best of a few warm runs), so that bursts
of load on the machine hit both alike; the best time of each is printed with
their ratio (this / base; below 1 is faster). Only public API is used
(``ConvFeatures``, ``RandomBank``, ``GaborBank``, ``make_minirocket``,
``convolve``), so any revision can be the base.

The workloads: bench_transform.py's seven (W1-W5, at a tenth of their images),
cells of bench_scale.py's grid and of bench_geometries.py's through
``convolve``, pooled transforms of larger images, and MiniRocket features of
float32 and float64 series (bench_series.py's path). 2 threads everywhere.

Run:  python benchmarks/compare_revisions.py --base cb67a73
      python benchmarks/compare_revisions.py --base cb67a73 --only W1 W3
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name: (kind, parameters)
WORKLOADS = {
    "W1 mnist-like": ("transform", (1000, 1, (28, 28), 64, 5, {}, "relu", ("max",), 2)),
    "W1 stride 2": ("transform", (1000, 1, (28, 28), 64, 5, {"stride": 2}, "relu", ("max",), 2)),
    "W1 dilation 2": (
        "transform",
        (1000, 1, (28, 28), 64, 5, {"dilation": 2}, "relu", ("max",), 2),
    ),
    "W2 cifar-like": ("transform", (200, 3, (32, 32), 256, 5, {}, "relu", ("sum",), 2)),
    "W3 digits-like": ("transform", (1797, 1, (8, 8), 32, 3, {}, "relu", ("max",), 1)),
    "W4 1-D": ("transform", (200, 1, (1000,), 256, 9, {"dilation": 4}, None, ("ppv", "max"), 1)),
    "W5 128x128 grey": ("transform", (64, 1, (128, 128), 32, 3, {}, "relu", ("max",), 4)),
    "mean+ppv 3x32x32": ("transform", (500, 3, (32, 32), 32, 7, {}, "relu", ("mean", "ppv"), 2)),
    "relu maps 3x64x64": ("transform", (100, 3, (64, 64), 32, 5, {}, "relu", None, 1)),
    "float64 28x28": ("transform64", (1000, 1, (28, 28), 64, 5, {}, "relu", ("max",), 2)),
    "gabor 21x21 f64": ("gabor64", (256, 32)),
    "convolve 32 k3 C1 K16": ("convolve", (64, 1, 32, 3, 16)),
    "convolve 128 k5 C3 K64": ("convolve", (4, 3, 128, 5, 64)),
    "convolve 256 k11 C1 K16": ("convolve", (1, 1, 256, 11, 16)),
    "convolve 512 k31 C1 K16": ("convolve", (1, 1, 512, 31, 16)),
    # bench_geometries.py's cells: (n, C, H, W, K, k, stride, dilation, dtype),
    # padded to keep the size.
    "geometry 18x8x64x16 K128 s2": ("geometry", (18, 8, 64, 16, 128, 7, 2, 2, "float32")),
    "geometry 1x8x64x200 K128 s2": ("geometry", (1, 8, 64, 200, 128, 5, 2, 1, "float32")),
    "geometry 1x3x72x480 K128 d2": ("geometry", (1, 3, 72, 480, 128, 5, 1, 2, "float32")),
    "geometry 1x1x480x480 K64 f64": ("geometry", (1, 1, 480, 480, 64, 3, 2, 1, "float64")),
    "geometry 15x3x64x64 K128": ("geometry", (15, 3, 64, 64, 128, 5, 1, 1, "float32")),
    "geometry 1x4x480x40 K128 s2": ("geometry", (1, 4, 480, 40, 128, 7, 2, 2, "float32")),
    "geometry 11x8x64x40 K128 s2": ("geometry", (11, 8, 64, 40, 128, 7, 2, 1, "float32")),
    "geometry 15x1x480x24 K64 s2": ("geometry", (15, 1, 480, 24, 64, 7, 2, 1, "float32")),
    "geometry 1x1x200x200 K16 f64": ("geometry", (1, 1, 200, 200, 16, 3, 1, 1, "float64")),
    "geometry 1x16x480x200 K16 s2": ("geometry", (1, 16, 480, 200, 16, 3, 2, 2, "float32")),
    "geometry 3x16x72x24 K64 k21 s2": ("geometry", (3, 16, 72, 24, 64, 21, 2, 1, "float32")),
    "geometry 2x2x480x56 K128 k21 s2": ("geometry", (2, 2, 480, 56, 128, 21, 2, 1, "float32")),
    "geometry 90x4x200x24 K16 s2": ("geometry", (90, 4, 200, 24, 16, 5, 2, 1, "float32")),
    "geometry 210x8x24x72 K16 s2 d2": ("geometry", (210, 8, 24, 72, 16, 3, 2, 2, "float32")),
    "minirocket f32 300x500": ("series", (300, 500, "float32")),
    "minirocket f64 300x500": ("series", (300, 500, "float64")),
    "minirocket f64 100x2000": ("series", (100, 2000, "float64")),
}


def _best(func, repeat=3, min_seconds=0.3):
    func()
    times, start = [], time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
        if len(times) >= 50:
            break
    return min(times)


def _workload(name):
    """A zero-argument function running the workload (in the worker process)."""
    import numpy as np

    from skconv import ConvFeatures, GaborBank, RandomBank, convolve, make_minirocket

    kind, params = WORKLOADS[name]
    rng = np.random.default_rng(0)
    if kind in ("transform", "transform64"):
        n, c, spatial, k, size, conv_params, nonlinearity, pooling, grid = params
        dtype = np.float64 if kind == "transform64" else np.float32
        X = rng.standard_normal((n, c * int(np.prod(spatial)))).astype(dtype)
        image_shape = (c, *spatial) if len(spatial) == 2 else (c, 1, *spatial)
        conv = ConvFeatures(
            RandomBank(k, size),
            image_shape=image_shape if c > 1 or len(spatial) == 2 else spatial,
            nonlinearity=nonlinearity,
            pooling=pooling,
            pool_grid=grid,
            n_jobs=2,
            random_state=0,
            **conv_params,
        ).fit(X[:50])
        return lambda: conv.transform(X)
    if kind == "gabor64":
        n, side = params
        X = rng.random((n, side, side))
        conv = ConvFeatures(GaborBank(kernel_size=21), n_jobs=2).fit(X[:20])
        return lambda: conv.transform(X)
    if kind == "convolve":
        n, c, side, k, n_kernels = params
        images = rng.standard_normal((n, c, side, side)).astype(np.float32)
        kernels = rng.standard_normal((n_kernels, c, k, k)).astype(np.float32)
        return lambda: convolve(images, kernels, n_threads=2)
    if kind == "geometry":
        n, c, h, w, n_kernels, k, stride, dilation, dtype = params
        images = rng.standard_normal((n, c, h, w)).astype(dtype)
        kernels = rng.standard_normal((n_kernels, c, k, k)).astype(dtype)
        padding = dilation * (k - 1) // 2
        return lambda: convolve(
            images, kernels, stride=stride, padding=padding, dilation=dilation, n_threads=2
        )
    n, length, dtype = params
    X = rng.standard_normal((n, length)).astype(dtype)
    conv = make_minirocket(n_jobs=2, random_state=0).fit(X)
    return lambda: conv.transform(X)


def _worker(name):
    print(json.dumps({"seconds": _best(_workload(name))}))


def _run(checkout, name):
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", name],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{name} failed in {checkout}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def _base_checkout(revision, folder):
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(folder), revision],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--base", help="the revision to compare with (a commit, tag, branch)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload")
    parser.add_argument("--only", nargs="*", help="workload name prefixes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    if not args.base:
        parser.error("--base REVISION is required")
    names = [n for n in WORKLOADS if not args.only or any(n.startswith(p) for p in args.only)]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        _base_checkout(args.base, base)
        try:
            print(f"base: {args.base}; this: {ROOT.name} (working tree); 2 threads")
            header = f"{'workload':<26} {'base':>10} {'this':>10} {'this/base':>10}"
            print(header)
            print("-" * len(header))
            ratios = []
            for name in names:
                best = {"base": float("inf"), "this": float("inf")}
                for _ in range(args.rounds):
                    for label, checkout in (("base", base), ("this", ROOT)):
                        best[label] = min(best[label], _run(checkout, name))
                ratio = best["this"] / best["base"]
                ratios.append(ratio)
                print(
                    f"{name:<26} {best['base'] * 1e3:8.1f}ms {best['this'] * 1e3:8.1f}ms "
                    f"{ratio:10.2f}",
                    flush=True,
                )
            worst = max(ratios)
            print(f"\n{len(ratios)} workloads: worst this/base {worst:.2f}")
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
