"""Where the time of ConvFeatures.transform goes, stage by stage (one thread).

For each workload of bench_transform.py, runs the engine's stages on their own
over all batches, one thread and one BLAS thread, in the batch layout the engine
picks for that geometry (channels-last, or batch-last for small maps): padding
(copy into the layout's buffer), the gather (``np.take`` with the cached patch
index), the GEMM, and the nonlinearity + pooling; then the whole batched loop.
Batch-last batches in float32 with few channels take the compiled loop
instead of the gather and the GEMM (``loop``: the maps, or with max pooling
only the regions' maxima, from the padded batch). Best of 3.

Run:  python benchmarks/profile_stages.py
"""

import time

import bench_transform  # the workloads (benchmarks/ is on sys.path when run as a script)
import numpy as np
from threadpoolctl import threadpool_limits

from skconv.engine.core import (
    _BatchLastWorkspace,
    _Workspace,
    default_batch_size,
    direct_kernel_rows,
    uses_batch_last_loop,
)
from skconv.engine.planner import plan_part
from skconv.pooling import pool_maps, pools_by_max_only

# The four base workloads of bench_transform.py (the stride/dilation variants
# of W1 take the same path as W1).
WORKLOADS = {
    name: spec
    for name, spec in bench_transform.WORKLOADS.items()
    if name in ("W1 mnist-like", "W2 cifar-like", "W3 digits-like", "W4 1-D")
}


def best(func, repeat=3):
    func()
    return min(_timed(func) for _ in range(repeat))


def _timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def profile(name, spec):
    n, c, spatial, k, ksize, params, nonlinearity, poolings, grid = spec
    images, X, conv = bench_transform.workload(spec, n)
    geometry, weights = conv._geometry, conv._weights
    by_max = pools_by_max_only(nonlinearity, poolings)
    plan = plan_part(n, geometry, k, np.float32, pooled=True, by_max=by_max)  # as the engine
    layout = plan.layout or "channels_last"  # (a tiles plan: profile its batch path anyway)
    batch_last = layout == "batch_last"
    fused = plan.path == "fused_max"
    batch = default_batch_size(geometry, k, 4, layout, fused_max=fused)
    looped = batch_last and uses_batch_last_loop(geometry, batch, np.float32)
    if batch_last:
        ws = _BatchLastWorkspace(geometry, k, batch, np.float32, "constant", looped)
    else:
        ws = _Workspace(geometry, k, batch, np.float32, "constant")
    max_grid = conv._grid if looped and by_max else None
    images4d = images.reshape(n, c, *geometry.in_shape)
    (top, _), (left, _) = geometry.pads
    h, w = geometry.in_shape
    starts = range(0, n - batch + 1, batch)  # whole batches only
    positions = geometry.n_positions
    weights_t = np.ascontiguousarray(weights.T)
    loop_weights = direct_kernel_rows(weights_t, geometry) if looped else None

    def pad():
        for s in starts:
            if batch_last:
                ws.padded[top : top + h, left : left + w] = images4d[s : s + batch].transpose(
                    2, 3, 1, 0
                )
            else:
                ws.padded[:, top : top + h, left : left + w] = np.moveaxis(
                    images4d[s : s + batch], 1, -1
                )

    def gather():
        for _ in starts:
            if batch_last:
                np.take(ws.padded.reshape(-1, batch), ws.indices, axis=0, out=ws.patches)
            else:
                np.take(ws.padded.reshape(batch, -1), ws.indices, axis=1, out=ws.patches)

    def gemm():
        for _ in starts:
            if batch_last:
                np.matmul(weights_t, ws.patches, out=ws.maps)
            else:
                np.matmul(ws.patches.reshape(batch * positions, -1), weights, out=ws.maps)

    def loop():
        for _ in starts:
            ws.compute_maps(images4d[:0], weights_t, None, loop_weights, max_grid)

    if max_grid is not None:
        maps = ws.compute_maps(images4d[:0], weights_t, None, loop_weights, max_grid)
        maps = maps.reshape(1, *max_grid, k * batch)
    elif batch_last:
        maps = ws.maps.reshape(1, *geometry.out_shape, k * batch)
    else:
        maps = ws.maps.reshape(batch, *geometry.out_shape, k)

    def pool():
        for _ in starts:
            maps[...] = saved  # pooling may overwrite its input
            pool_maps(maps, nonlinearity, poolings, max_grid or conv._grid)

    def copy_only():
        for _ in starts:
            maps[...] = saved

    def whole():
        conv._transform_rows(X[: len(starts) * batch].reshape(len(starts) * batch, -1), n_threads=1)

    with threadpool_limits(1):
        stages = (pad, loop) if looped else (pad, gather, gemm)
        for stage in stages:  # the maps the pooling reads: a batch's, not uninitialised memory
            stage()
        saved = maps.copy()
        times = {f.__name__: best(f) for f in (*stages, pool, copy_only, whole)}
    times["pool"] -= times.pop("copy_only")
    total = times.pop("whole")
    parts = sum(times.values())
    print(
        f"{name:16s} {layout:13s} batch {batch:4d}  "
        + "  ".join(
            f"{stage} {1e3 * t:7.1f} ms ({100 * t / total:3.0f}%)" for stage, t in times.items()
        )
        + f"  | stages {1e3 * parts:7.1f} ms, whole loop {1e3 * total:7.1f} ms"
    )


def main():
    print("one thread, one BLAS thread; float32; times over all whole batches")
    for name, spec in WORKLOADS.items():
        profile(name, spec)


if __name__ == "__main__":
    main()
