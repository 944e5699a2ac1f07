"""Output tiles of one image and the padded input windows under them.

A large image is never padded, gathered or transformed whole: its output
positions are split into near-equal rectangular tiles, and each tile reads only
the padded input window it depends on. Padding is applied while reading, from
per-axis maps of padded coordinates to source coordinates (built once with
:func:`numpy.pad` on an ``arange``, so every numpy padding mode behaves exactly
as when the whole image is padded).
"""

from functools import lru_cache
from typing import NamedTuple

import numpy as np


class Tiling(NamedTuple):
    """How the output of one image is cut into tiles.

    Attributes
    ----------
    tile_shape : tuple of int
        ``(th, tw)``: output positions per tile (edge tiles may be smaller).
    row_ranges, col_ranges : tuple of tuple of int
        ``(start, stop)`` output rows and columns of the tiles.
    window_shape : tuple of int
        ``(ih, iw)``: padded input rows and columns read by a full tile.
    """

    tile_shape: tuple
    row_ranges: tuple
    col_ranges: tuple
    window_shape: tuple

    @property
    def n_tiles(self):
        """Number of tiles per image."""
        return len(self.row_ranges) * len(self.col_ranges)

    def tiles(self):
        """``((y0, y1), (x0, x1))`` for every tile, row-major."""
        return [(r, c) for r in self.row_ranges for c in self.col_ranges]


def even_ranges(length, max_size):
    """Split ``range(length)`` into the fewest near-equal runs of at most ``max_size``.

    Parameters
    ----------
    length : int
    max_size : int

    Returns
    -------
    ranges : tuple of (int, int)
        ``(start, stop)`` pairs.
    size : int
        The longest run.

    Examples
    --------
    >>> even_ranges(10, 4)
    (((0, 3), (3, 6), (6, 10)), 4)
    >>> even_ranges(1030, 1024)
    (((0, 515), (515, 1030)), 515)
    """
    count = -(-length // max(1, max_size))
    bounds = [(i * length) // count for i in range(count + 1)]
    return tuple(zip(bounds[:-1], bounds[1:])), -(-length // count)


def window_span(n_out, stride, dilation, kernel):
    """Padded input positions read by ``n_out`` consecutive outputs along an axis."""
    return (n_out - 1) * stride + (kernel - 1) * dilation + 1


def make_tiling(geometry, tile_shape):
    """The :class:`Tiling` of ``geometry``'s output with tiles of at most ``tile_shape``."""
    rows, th = even_ranges(geometry.out_shape[0], tile_shape[0])
    cols, tw = even_ranges(geometry.out_shape[1], tile_shape[1])
    window = tuple(
        window_span(n, s, d, k)
        for n, s, d, k in zip((th, tw), geometry.stride, geometry.dilation, geometry.kernel_shape)
    )
    return Tiling((th, tw), rows, cols, window)


def padded_sources(length, pads, mode):
    """Source coordinate of each padded coordinate along an axis (-1: a zero).

    Examples
    --------
    >>> padded_sources(3, (2, 1), "constant")
    array([-1, -1,  0,  1,  2, -1])
    >>> padded_sources(3, (2, 1), "reflect")
    array([2, 1, 0, 1, 2, 1])
    """
    index = np.arange(length)
    if mode == "constant":
        return np.pad(index, pads, mode="constant", constant_values=-1)
    return np.pad(index, pads, mode=mode)


def _axis_selection(sources):
    """``(first, stop, selector)``: the non-zero run of ``sources`` and how to read it."""
    valid = np.flatnonzero(sources >= 0)
    if valid.size == 0:
        return 0, 0, None
    first, stop = int(valid[0]), int(valid[-1]) + 1
    run = sources[first:stop]
    if run[-1] - run[0] == len(run) - 1 and np.all(np.diff(run) == 1):
        return first, stop, slice(int(run[0]), int(run[-1]) + 1)
    return first, stop, run


def read_window(images, row_read, col_read, out, channels_last):
    """Copy a padded window of ``images`` into the top-left corner of ``out``.

    Parameters
    ----------
    images : ndarray of shape (m, C, H, W)
    row_read, col_read : tuple
        How to read each axis of the window (from :func:`tile_reads`):
        ``(first, stop, selector)``, the window's slots ``first:stop`` copy the
        source rows (columns) ``selector`` (a slice, or an index array for
        reflecting modes), the others are zeros.
    out : ndarray of shape (>=m, C, ih, iw) or (>=m, ih, iw, C)
        ``out[:m]`` receives the window; the rest of each image's buffer (beyond
        the window, for edge tiles) is set to zero, so that it stays finite.
    channels_last : bool
        Layout of ``out``.
    """
    m = images.shape[0]
    r0, r1, rsel = row_read
    c0, c1, csel = col_read
    target = out[:m] if channels_last else out[:m].transpose(0, 2, 3, 1)  # (m, ih, iw, C)
    full_rows, full_cols = target.shape[1], target.shape[2]
    if r0 > 0 or r1 < full_rows or c0 > 0 or c1 < full_cols:
        target[:, :r0] = 0
        target[:, r1:] = 0
        target[:, r0:r1, :c0] = 0
        target[:, r0:r1, c1:] = 0
    if rsel is None or csel is None:
        return
    block = images[:, :, rsel] if isinstance(rsel, slice) else np.take(images, rsel, axis=2)
    block = block[..., csel] if isinstance(csel, slice) else np.take(block, csel, axis=3)
    target[:, r0:r1, c0:c1] = block.transpose(0, 2, 3, 1)


def window_sources(geometry, padding_mode):
    """Per-axis source maps of the padded image (see :func:`padded_sources`)."""
    return tuple(
        padded_sources(n, pads, padding_mode) for n, pads in zip(geometry.in_shape, geometry.pads)
    )


def tile_window(tiling, sources, geometry, rows, cols):
    """Source maps of the window under the tile of output ``rows`` x ``cols``.

    Parameters
    ----------
    tiling : Tiling
    sources : tuple of ndarray
        From :func:`window_sources`.
    geometry : Geometry
    rows, cols : tuple of int
        ``(start, stop)`` output rows and columns of the tile.

    Returns
    -------
    row_sources, col_sources : ndarray of int
    """
    selected = []
    for (start, stop), source, s, d, k in zip(
        (rows, cols), sources, geometry.stride, geometry.dilation, geometry.kernel_shape
    ):
        begin = start * s
        selected.append(source[begin : begin + window_span(stop - start, s, d, k)])
    return tuple(selected)


@lru_cache(maxsize=32)
def tile_reads(geometry, tiling, padding_mode):
    """Every tile's ``(rows, cols, (row_read, col_read))`` for :func:`read_window`.

    Cached per geometry, tiling and mode (a few small arrays per tile), so
    repeated calls on images of one shape skip the index arithmetic.
    """
    sources = window_sources(geometry, padding_mode)
    for source in sources:  # shared by every caller: read-only
        source.setflags(write=False)
    reads = []
    for rows, cols in tiling.tiles():
        windows = tile_window(tiling, sources, geometry, rows, cols)
        reads.append((rows, cols, tuple(_axis_selection(window) for window in windows)))
    return tuple(reads)
