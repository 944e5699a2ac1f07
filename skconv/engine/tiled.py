"""The tiled driver: groups of images x output tiles, spread over threads.

Used for images whose work does not fit the batch budget (GEMM) and for the FFT
method. Each thread owns one :class:`~skconv.engine.gemm.GemmTiles` or
:class:`~skconv.engine.fft.FftTiles` workspace and a contiguous run of (image group,
tile) work items; maps are written straight into the output, or reduced into a
:class:`~skconv.pooling.Pooler` per image group, so a large image's
maps never exist whole. Groups whose tiles were split between threads are
merged at the end.
"""

from contextlib import nullcontext

import numpy as np

from ..pooling import NONLINEARITIES, make_pooler
from .core import _executor, single_threaded_blas
from .tiles import tile_reads

# Tiles of at least this many positions are written by one GEMM per image
# straight into the output, even in groups of several images (measured with
# 256 images of 32x32 and 16x16: as fast as one wide GEMM and a copy, or up
# to 10% faster; smaller tiles keep the wide GEMM). The compiled loops write
# tiles of any size into the output (``writes_out_at_any_size``).
_DIRECT_MIN_POSITIONS = 256


def _maps_writer(out, n_kernels, out_shape):
    """A sink writing tiles of maps into ``out`` seen as ``(n, K, h_out, w_out)``."""
    maps_out = out.reshape(out.shape[0], n_kernels, *out_shape)

    def write(start, maps, y0, x0):
        th, tw = maps.shape[2:]
        target = maps_out[start : start + maps.shape[0], :, y0 : y0 + th, x0 : x0 + tw]
        if not np.shares_memory(target, maps):  # else computed in place
            target[...] = maps

    return write


def _direct_target(out, n_kernels, out_shape, group, rows, cols):
    """The ``(m, K, rows * w_out)`` view of ``out`` under a tile of whole rows, or None.

    Such a view has contiguous rows, so a GEMM can write the tile's maps there
    (edge tiles too: their GEMM takes the first columns of the patch matrix).
    """
    if cols != (0, out_shape[1]):
        return None
    if group[1] - group[0] > 1 and rows != (0, out_shape[0]):
        return None  # rows of several images interleave: not one matrix per image
    maps_out = out.reshape(out.shape[0], n_kernels, *out_shape)
    view = maps_out[group[0] : group[1], :, rows[0] : rows[1]]
    return view.reshape(group[1] - group[0], n_kernels, -1)


def run_tiles(
    images,
    geometry,
    tiling,
    make_workspace,
    out,
    *,
    group_size,
    n_kernels,
    pooling=None,
    nonlinearity=None,
    padding_mode="constant",
    n_threads=1,
    progress=None,
):
    """Compute every tile of every image and write maps or pooled features to ``out``.

    Parameters
    ----------
    images : array of shape (n, C, H, W)
        Sliceable along the first axis; one group of images is read at a time.
    geometry : Geometry
    tiling : Tiling
    make_workspace : callable
        ``make_workspace(m)`` returns an object whose ``compute(images,
        row_read, col_read)`` gives the tile's maps ``(m, K, th, tw)``. Its
        attributes, when set: ``writes_out`` (``compute`` can write the maps
        into an ``out=`` view), ``writes_out_at_any_size`` (and does so as
        fast for small tiles of several images as for large ones: a compiled
        loop, not one GEMM per image), ``uses_blas`` (False: BLAS threads are
        left as they are).
    out : ndarray of shape (n, n_out)
    group_size : int
        Images per group (1 unless an image is a single tile).
    n_kernels : int
    pooling : dict, default=None
        ``Pooler`` keyword arguments (nonlinearity, poolings, grid, sigma, and
        optionally biases);
        None writes the maps, in (kernel, row, column) order.
    nonlinearity : str or None, default=None
        Applied to the maps when ``pooling`` is None.
    padding_mode : str, default="constant"
    n_threads : int, default=1
    progress : callable, default=None
        Called with the number of images of each finished group.

    Returns
    -------
    out : ndarray
    """
    n = images.shape[0]
    dtype = out.dtype
    tiles = tile_reads(geometry, tiling, padding_mode)
    groups = [(s, min(s + group_size, n)) for s in range(0, n, group_size)]
    work = [(g, t) for g in range(len(groups)) for t in range(len(tiles))]
    write = None if pooling is not None else _maps_writer(out, n_kernels, geometry.out_shape)
    # Maps of whole-row tiles can be written by the GEMM straight into out.
    tile_positions = tiling.tile_shape[0] * tiling.tile_shape[1]
    direct = (
        pooling is None
        and getattr(make_workspace, "writes_out", False)
        and (
            group_size == 1
            or tile_positions >= _DIRECT_MIN_POSITIONS
            or getattr(make_workspace, "writes_out_at_any_size", False)
        )
    )

    def new_pooler(g):
        start, stop = groups[g]
        return make_pooler(stop - start, n_kernels, geometry.out_shape, **pooling)

    def finish(g, pooler):
        start, stop = groups[g]
        if pooler is not None:
            out[start:stop] = pooler.finish(dtype)
        if progress is not None:
            progress(stop - start)

    def run(items):
        workspace = make_workspace(group_size)
        try:
            return run_items(workspace, items)
        finally:
            workspace.close()

    def run_items(workspace, items):
        partial, current, batch, pooler = {}, None, None, None
        for g, t in items:
            if g != current:
                if pooler is not None:
                    partial[current] = pooler
                current, pooler = g, (new_pooler(g) if pooling is not None else None)
                start, stop = groups[g]
                batch = np.asarray(images[start:stop], dtype=dtype)
            rows, cols, (row_read, col_read) = tiles[t]
            if direct:
                target = _direct_target(
                    out,
                    n_kernels,
                    geometry.out_shape,
                    groups[g],
                    rows,
                    cols,
                )
                maps = workspace.compute(batch, row_read, col_read, out=target)
            else:
                maps = workspace.compute(batch, row_read, col_read)
            maps = maps[:, :, : rows[1] - rows[0], : cols[1] - cols[0]]
            if pooler is not None:
                pooler.add(maps, rows[0], cols[0])
                if pooler.n_tiles == len(tiles):
                    finish(g, pooler)
                    current, pooler = None, None
            else:
                if nonlinearity is not None:
                    NONLINEARITIES[nonlinearity](maps)
                write(groups[g][0], maps, rows[0], cols[0])
                if t == len(tiles) - 1 and progress is not None:
                    progress(groups[g][1] - groups[g][0])
        if pooler is not None:
            partial[current] = pooler
        return partial

    n_threads = max(1, min(n_threads, len(work)))
    bounds = [len(work) * i // n_threads for i in range(n_threads + 1)]
    chunks = [work[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    # One BLAS thread per worker: a tile's GEMM is too small for BLAS threads
    # to pay (measured: 2.4x slower with 2 BLAS threads on a 2-core machine).
    # The compiled loops call no BLAS: nothing to limit.
    uses_blas = getattr(make_workspace, "uses_blas", True)
    with single_threaded_blas() if uses_blas else nullcontext():
        futures = [_executor().submit(run, chunk) for chunk in chunks[1:]]
        leftovers = []
        try:
            leftovers.append(run(chunks[0]))
        finally:
            leftovers += [future.result() for future in futures]
    merged = {}
    for partial in leftovers:
        for g, pooler in partial.items():
            if g in merged:
                merged[g].merge(pooler)
            else:
                merged[g] = pooler
    for g, pooler in merged.items():
        finish(g, pooler)
    return out
