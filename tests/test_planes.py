"""The "planes" loop (correlation from the image's column phases): equal to scipy,
and pooled in the loop equal to the batches path."""

import os
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_settings import pooled_geometries, with_fixtures
from numpy.testing import assert_allclose
from reference import reference_correlate

from skconv import ArrayBank, ConvFeatures, convolve
from skconv.engine import features as skconv_features
from skconv.engine import gemm as skconv_gemm
from skconv.engine import planner
from skconv.engine.core import make_geometry
from skconv.engine.features import PoolingSpec
from skconv.engine.planner import plan_conv

_encoders = skconv_gemm._encoders
pytestmark = pytest.mark.skipif(
    skconv_gemm.correlate_planes is None or _encoders.columns_level() < 1,
    reason="the planes loop needs skconv.engine._encoders and AVX-512 or AVX2",
)

# Whether the plane loops run their own threads (built with OpenMP).
OPENMP = bool(_encoders is not None and _encoders.OPENMP)

# The register loops this CPU runs: 2 AVX-512, 1 AVX2.
LEVELS = list(range(1, _encoders.columns_level() + 1)) if _encoders else []


# The loop's register layouts: chosen by the maps' shape, or forced.
LAYOUTS = [None, *_encoders.PLANE_LAYOUTS] if _encoders else [None]


@contextmanager
def register_loop(level, layout):
    """Run the plane loops at ``level`` (2 AVX-512, 1 AVX2) in ``layout``."""
    previous = _encoders._limit_columns_level(level)
    _encoders._force_plane_layout(layout)
    try:
        yield
    finally:
        _encoders._force_plane_layout(None)
        _encoders._limit_columns_level(previous)


# How the responses reach the maps: as the loop decides (stored straight in,
# but large streamed maps copied), or all through the block of values,
# copied with plain or with non-temporal stores.
STORES = [None, "copied", "streamed"]


@contextmanager
def responses_stored(stores):
    """Force the planes loop's ``stores`` (see :data:`STORES`)."""
    if stores is not None:
        _encoders._force_copies(True)
    try:
        yield
    finally:
        _encoders._force_copies(False)


def _weights(kernels):
    """(K, C, kh, kw) kernels as the engine's (kh * kw * C, K) rows."""
    n_kernels = kernels.shape[0]
    return np.ascontiguousarray(kernels.transpose(2, 3, 1, 0).reshape(-1, n_kernels))


def _correlate(images, kernels, stride, dilation, shape, **options):
    """``correlate_planes`` of ``images`` with ``kernels`` (no bias) into a new
    array of ``shape``, filled with NaN first so that any map value the loop
    leaves unwritten shows; ``options`` its keyword arguments."""
    out = np.full(shape, np.nan, images.dtype)
    _encoders.correlate_planes(
        images,
        _encoders.plane_weights(_weights(kernels)),
        np.zeros(kernels.shape[0], images.dtype),
        kernels.shape[2:],
        stride,
        dilation,
        out,
        **options,
    )
    return out


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 3),
    channels=st.integers(1, 4),
    height=st.integers(1, 30),
    width=st.integers(1, 45),
    n_kernels=st.integers(1, 40),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pads=st.tuples(*[st.integers(0, 3)] * 4),  # top, bottom, left, right
    dtype=st.sampled_from([np.float32, np.float64]),
    rectify=st.booleans(),
    level=st.sampled_from(LEVELS or [1]),
    layout=st.sampled_from(LAYOUTS),
    stores=st.sampled_from(STORES),
    rows=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    views=st.booleans(),
    pad_in_loop=st.booleans(),
    n_threads=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_planes_equal_scipy(
    n,
    channels,
    height,
    width,
    n_kernels,
    kh,
    kw,
    stride,
    dilation,
    pads,
    dtype,
    rectify,
    level,
    layout,
    stores,
    rows,
    views,
    pad_in_loop,
    n_threads,
    seed,
):
    span = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    top, bottom, left, right = pads
    if span[0] > height + top + bottom or span[1] > width + left + right:
        return  # the kernel is larger than the padded image (refused upstream)
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, channels, height, width)).astype(dtype)
    kernels = rng.standard_normal((n_kernels, channels, kh, kw)).astype(dtype)
    bias = rng.standard_normal(n_kernels).astype(dtype)
    expected = reference_correlate(
        images, kernels, stride, ((top, bottom), (left, right)), dilation
    )
    expected -= bias[None, :, None, None]
    if rectify:
        expected = np.maximum(expected, 0)
    oh, ow = expected.shape[2:]
    start = int(rows[0] * (oh - 1))
    stop = start + 1 + int(rows[1] * (oh - 1 - start))
    # The zeros around the image added by the loop, or there already.
    padded = images if pad_in_loop else np.pad(images, ((0, 0), (0, 0), pads[:2], pads[2:]))
    out = np.full((n, n_kernels, oh, ow), np.nan, dtype=dtype)
    if views:  # channels-first windows seen batch first, maps inside larger rows
        padded = np.ascontiguousarray(padded.swapaxes(0, 1)).swapaxes(0, 1)
        out = np.full((n, n_kernels, oh, ow + 3), np.nan, dtype=dtype)[..., 1 : ow + 1]
    with register_loop(level, layout), responses_stored(stores):
        _encoders.correlate_planes(
            padded,
            _encoders.plane_weights(_weights(kernels)),
            bias,
            (kh, kw),
            stride,
            dilation,
            out,
            rectify=rectify,
            map_rows=(start, stop),
            pads=pads if pad_in_loop else None,
            stream=stores == "streamed",
            n_threads=n_threads,
        )
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    scale = max(1.0, np.abs(expected).max())
    assert_allclose(out[:, :, start:stop], expected[:, :, start:stop], atol=tolerance * scale)
    assert np.isnan(out[:, :, :start]).all() and np.isnan(out[:, :, stop:]).all()


@pytest.mark.parametrize("level", LEVELS or [1])
@pytest.mark.parametrize("layout", ["kernels", "narrow kernels"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_lanes_take_positions_across_rows_at_every_split(level, layout, dtype):
    # The kernel-lane loop takes 12 (two vectors of kernels on AVX2: 6)
    # positions at a time: in one row of the phases, or its first ``split``
    # in one row and the rest in the next (a loop compiled for each split),
    # else through a pointer each. Map widths 1 to 26 put every split, and
    # runs of three rows, in a block; 33 kernels leave a partial vector.
    rng = np.random.default_rng(0)
    for ow in range(1, 27):
        images = rng.standard_normal((1, 2, 9, 2 * ow + 2)).astype(dtype)
        kernels = rng.standard_normal((33, 2, 3, 3)).astype(dtype)
        expected = reference_correlate(images, kernels, (1, 2), ((0, 0), (0, 0)), (1, 1))
        with register_loop(level, layout):
            out = _correlate(images, kernels, (1, 2), (1, 1), expected.shape)
        assert out.shape[3] == ow
        assert_allclose(out, expected, atol=1e-4 if dtype == np.float32 else 1e-10)


def test_rows_of_one_value_take_any_stride():
    # numpy exports its own strides for axes of length 1 (here 16 bytes for
    # the columns of a channels-first copy seen batch first): still rows.
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 2, 1, 1)).astype(np.float32)
    seen = np.ascontiguousarray(images.swapaxes(0, 1)).swapaxes(0, 1)
    kernels = rng.standard_normal((3, 2, 1, 1)).astype(np.float32)
    out = np.full((2, 3, 1, 1), np.nan, np.float32)
    bias = np.zeros(3, np.float32)
    weights = _encoders.plane_weights(_weights(kernels))
    _encoders.correlate_planes(seen, weights, bias, (1, 1), (1, 1), (1, 1), out)
    assert_allclose(out, reference_correlate(images, kernels, (1, 1), ((0, 0), (0, 0)), (1, 1)))


@pytest.mark.parametrize("stores", [None, "copied"])
@pytest.mark.parametrize("layout", ["positions", "kernels", "narrow kernels"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_of_more_taps_than_a_block_equal_scipy(layout, dtype, stores):
    # 16 channels of 9x9 taps: 1296 taps, the sums kept between two blocks,
    # the last block's stored straight into the maps or through the values.
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 16, 20, 23)).astype(dtype)
    kernels = rng.standard_normal((20, 16, 9, 9)).astype(dtype)
    bias = rng.standard_normal(20).astype(dtype)
    expected = reference_correlate(images, kernels, (1, 2), ((4, 4), (4, 4)), (1, 1))
    expected -= bias[None, :, None, None]
    for level in LEVELS:
        out = np.full(expected.shape, np.nan, dtype=dtype)
        with register_loop(level, layout), responses_stored(stores):
            _encoders.correlate_planes(
                images,
                _encoders.plane_weights(_weights(kernels)),
                bias,
                (9, 9),
                (1, 2),
                (1, 1),
                out,
                pads=(4, 4, 4, 4),
            )
        assert_allclose(out, expected, atol=(1e-3 if dtype == np.float32 else 1e-9) * 10)


@pytest.mark.parametrize("layout", _encoders.PLANE_LAYOUTS if _encoders else [])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_taps_over_the_padding_rows_only_are_skipped_exactly(layout, dtype):
    # 15x15 kernels (dilated 1 and 2) over 13-row images padded by 7 to 16:
    # the first and last map rows' taps reach padding rows only for most
    # rows of the kernel, some map rows reach no image row at all; the loop
    # skips those taps and must give the same maps (and the map rows asked
    # for only, from any block).
    rng = np.random.default_rng(4)
    images = rng.standard_normal((2, 3, 13, 17)).astype(dtype)
    for dilation, pads, rows in (
        ((1, 1), (7, 7, 7, 7), (0, None)),
        ((2, 1), (16, 9, 3, 4), (0, None)),
        ((1, 2), (9, 14, 14, 0), (5, 19)),
    ):
        kernels = rng.standard_normal((19, 3, 15, 15)).astype(dtype)
        stride = (1, 2)
        expected = reference_correlate(images, kernels, stride, (pads[:2], pads[2:]), dilation)
        oh = expected.shape[2]
        begin, end = rows[0], rows[1] or oh
        with register_loop(LEVELS[-1], layout):
            out = _correlate(
                images, kernels, stride, dilation, expected.shape, pads=pads, map_rows=(begin, end)
            )
        tolerance = (1e-4 if dtype == np.float32 else 1e-10) * np.abs(expected).max()
        assert_allclose(out[:, :, begin:end], expected[:, :, begin:end], atol=tolerance)


@pytest.mark.parametrize("layout", ["kernels", "narrow kernels"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_taps_over_the_side_padding_are_skipped_exactly(layout, dtype):
    # Maps 24 or 36 positions wide (whole groups of 6 or 12 positions in one
    # row) whose first and last groups have taps that reach the padding at
    # the left or the right of the image for some of their positions only:
    # the kernel-lane loops take those taps for the other positions only and
    # must give the same maps, with strides, dilations, uneven padding, the
    # padding rows skipped too, and 16 channels of 9x9 taps (two blocks of
    # taps, the second starting inside a kernel row).
    rng = np.random.default_rng(5)
    for shape, n_kernels, kernel, stride, dilation, pads in (
        ((2, 1, 9, 24), 16, (21, 21), (1, 1), (1, 1), (10, 10, 10, 10)),
        ((1, 2, 7, 30), 24, (7, 9), (1, 1), (1, 2), (3, 3, 11, 11)),
        ((1, 3, 6, 47), 16, (5, 13), (2, 2), (1, 1), (2, 2, 2, 10)),
        ((1, 16, 5, 28), 20, (9, 9), (1, 1), (1, 1), (4, 4, 12, 4)),
    ):
        images = rng.standard_normal(shape).astype(dtype)
        kernels = rng.standard_normal((n_kernels, shape[1]) + kernel).astype(dtype)
        expected = reference_correlate(images, kernels, stride, (pads[:2], pads[2:]), dilation)
        assert expected.shape[3] in (24, 36)
        tolerance = (1e-4 if dtype == np.float32 else 1e-10) * np.abs(expected).max()
        for level in LEVELS:
            with register_loop(level, layout):
                out = _correlate(images, kernels, stride, dilation, expected.shape, pads=pads)
            assert_allclose(out, expected, atol=tolerance)


def _reach_by_loops(oh, ow, reach, group, block_rows):
    # Each position's taps, one by one: those over image rows count 1, less
    # SIDE_SKIP_EFFICIENCY for those over the side padding of positions in
    # groups inside one map row.
    kh, kw, sy, sx, dy, dx, top, left, h, w = reach
    total = 0.0
    for y in range(oh):
        for x in range(ow):
            p = (y % block_rows) * ow + x
            start = p // group * group if group else 0
            inside = (
                group > 0
                and start // ow == (start + group - 1) // ow
                and start + group <= block_rows * ow
            )
            for ky in range(kh):
                if not 0 <= y * sy + ky * dy - top < h:
                    continue
                for kx in range(kw):
                    side = not 0 <= x * sx + kx * dx - left < w
                    total += 1.0 - (_encoders.SIDE_SKIP_EFFICIENCY if side and inside else 0.0)
    return total / (oh * ow * kh * kw)


@settings(max_examples=40, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pads=st.tuples(*[st.integers(0, 12)] * 4),
    image=st.tuples(st.integers(1, 14), st.integers(1, 30)),
    group=st.sampled_from([0, 6, 12]),
    block_rows=st.integers(1, 4),
)
def test_tap_reach_counts_the_taps_the_loops_run(
    kernel, stride, dilation, pads, image, group, block_rows
):
    (kh, kw), (sy, sx), (dy, dx), (h, w) = kernel, stride, dilation, image
    oh = (h + pads[0] + pads[1] - dy * (kh - 1) - 1) // sy + 1
    ow = (w + pads[2] + pads[3] - dx * (kw - 1) - 1) // sx + 1
    if oh < 1 or ow < 1:
        return
    reach = (kh, kw, sy, sx, dy, dx, pads[0], pads[2], h, w)
    expected = _reach_by_loops(oh, ow, reach, group, block_rows)
    assert _encoders.tap_reach(oh, ow, reach, group, block_rows) == pytest.approx(expected)


def test_the_layouts_weigh_the_taps_they_skip():
    # One 64x24 image, 16 kernels of 21x21 padded by 10: without the padding
    # the loop runs every tap; with it, fewer: a kernel-lane layout skips the
    # side padding too, the others the padding rows only.
    reach = (21, 21, 1, 1, 1, 1, 10, 10, 64, 24)
    layout, _, full = _encoders.plane_layout(64, 24, 16, 441, 4, 44)
    assert _encoders.plane_layout(64, 24, 16, 441, 4, 44, reach)[0] == layout
    skipped = _encoders.plane_layout(64, 24, 16, 441, 4, 44, reach)[2]
    rows = _encoders.tap_reach(64, 24, reach)
    if layout in ("kernels", "narrow kernels"):
        assert skipped < full * rows < full
    else:
        assert skipped == pytest.approx(full * rows)
    no_padding = (21, 21, 1, 1, 1, 1, 0, 0, 84, 44)
    assert _encoders.plane_layout(64, 24, 16, 441, 4, 44, no_padding)[2] == pytest.approx(full)


@pytest.mark.parametrize("layout", _encoders.PLANE_LAYOUTS if _encoders else [])
def test_the_loop_takes_its_buffers_from_the_pool_and_gives_them_back(layout):
    # Idle buffers full of NaN in the pool: the loop's work buffers come from
    # there (no fresh pages to fault in), whatever they hold, and go back.
    from skconv.engine.cache import BUFFERS

    rng = np.random.default_rng(6)
    images = rng.standard_normal((2, 3, 9, 30)).astype(np.float32)
    kernels = rng.standard_normal((20, 3, 5, 5)).astype(np.float32)
    expected = reference_correlate(images, kernels, (1, 1), ((2, 2), (2, 2)), (1, 1))
    BUFFERS.clear()
    for size in (1 << 12, 1 << 16, 1 << 20):
        buffer = BUFFERS.take((size,), np.float32)
        buffer[...] = np.nan
        BUFFERS.give(buffer)
    with register_loop(LEVELS[-1], layout):
        out = _correlate(
            images, kernels, (1, 1), (1, 1), expected.shape, pads=(2,) * 4, n_threads=2
        )
    assert_allclose(out, expected, atol=1e-3)
    assert BUFFERS.nbytes >= 3 * 4 << 12


def test_the_kernel_lane_loop_takes_its_taps_channel_by_channel():
    # taps (offset, channel) in (ky, kx, c) order: (0,0) (0,1) (1,0) (1,1) (2,0) (2,1)
    order = _encoders.channel_major(3, 2)
    assert order.tolist() == [0, 2, 4, 1, 3, 5]
    assert not order.flags.writeable
    # its weights follow the same order as its taps' offsets
    weights = np.arange(6 * 3, dtype=np.float32).reshape(6, 3)
    width = 2 * _encoders.plane_lanes(np.float32)
    packed = _encoders._kernel_lane_weights(_encoders.plane_weights(weights), width, 2)
    assert_allclose(packed[0, :, :3], weights[order])
    assert not packed[0, :, 3:].any()


def test_the_planner_takes_the_planes_where_they_are_faster():
    # Stride 2 with few kernels: the patch matrix costs as much as its product.
    geometry = make_geometry((4, 40, 128), (4, 5, 5), stride=2, padding=2)
    plan = plan_conv(128, geometry, 8, np.dtype(np.float32), PoolingSpec(), n_threads=2)
    assert plan.method == "planes"
    previous = _encoders._limit_columns_level(0)  # a CPU without AVX-512 or AVX2
    try:
        plan = plan_conv(128, geometry, 8, np.dtype(np.float32), PoolingSpec(), n_threads=2)
    finally:
        _encoders._limit_columns_level(previous)
    assert plan.method == "gemm"


@pytest.mark.skipif(not LEVELS or LEVELS[-1] < 2, reason="the lane counts are AVX-512's")
def test_narrow_maps_run_their_vectors_across_rows():
    # 20-wide maps, phases' rows 26 apart: vectors along each row fill 20 of
    # 32 lanes; run across a block's rows they fill 83% of them.
    by_positions, _, by_wrapped, _ = _encoders.plane_lane_use(240, 20, 128, 4, 26)
    assert by_positions == pytest.approx(20 / 32)
    assert by_wrapped > 0.8
    layout, block_rows, _ = _encoders.plane_layout(240, 20, 8, 196, 4, 26)
    assert layout == "wrapped" and (block_rows - 1) * 26 + 20 <= _encoders.BLOCK_POSITIONS
    # Without the phases' width (or maps as wide as it), vectors stay in rows.
    assert _encoders.plane_lane_use(240, 20, 128, 4)[2] == 0.0
    assert _encoders.plane_layout(240, 20, 8, 196, 4)[0] != "wrapped"


@pytest.mark.skipif(not LEVELS or LEVELS[-1] < 2, reason="the lane counts are AVX-512's")
def test_sixteen_kernels_take_one_vector_of_kernel_lanes():
    # 16 float32 kernels fill one vector of kernels and half of two: on
    # 12-wide maps (three quarters of a vector of positions) the loop of one
    # vector of kernels does the least work; 32 kernels fill two vectors.
    by_positions, by_kernels, _, by_narrow = _encoders.plane_lane_use(64, 12, 16, 4, 22)
    assert (by_positions, by_kernels, by_narrow) == (0.75, 0.5, 1.0)
    assert _encoders.plane_layout(64, 12, 16, 7056, 4, 22)[0] == "narrow kernels"
    assert _encoders.plane_layout(64, 12, 32, 7056, 4, 22)[0] == "kernels"


@pytest.mark.parametrize("oh", [1, 20, 21, 22, 36, 43, 240])
def test_the_kernel_lane_blocks_share_the_rows_evenly(oh):
    # 12-wide maps: at most 21 rows of positions per block, as few blocks as
    # that allows, of sizes at most one row apart (36 rows: 18 + 18, not 21 + 15).
    with register_loop(LEVELS[-1], "kernels"):
        layout, block_rows, _ = _encoders.plane_layout(oh, 12, 64, 7056, 4, 22)
    most = _encoders.BLOCK_POSITIONS // 12
    n_blocks = -(-oh // most)
    assert layout == "kernels" and block_rows <= most
    assert -(-oh // block_rows) == n_blocks
    assert oh - (n_blocks - 1) * block_rows >= block_rows - (n_blocks - 1)


def test_runs_of_items_cover_every_map_row_once_whatever_the_threads(monkeypatch):
    # Many runs of a few items, taken by whichever thread is free.
    monkeypatch.setattr(_encoders, "RUNS_PER_THREAD", 50)
    rng = np.random.default_rng(3)
    images = rng.standard_normal((3, 2, 37, 21)).astype(np.float32)
    kernels = rng.standard_normal((9, 2, 3, 3)).astype(np.float32)
    expected = reference_correlate(images, kernels, (2, 1), ((1, 1), (1, 1)), (1, 2))
    for layout in LAYOUTS:
        with register_loop(LEVELS[-1], layout):
            out = _correlate(
                images, kernels, (2, 1), (1, 2), expected.shape, pads=(1,) * 4, n_threads=3
            )
        assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def _aligned_full(shape, dtype, offset_items=0):
    """NaNs of ``shape``, the first item ``offset_items`` items past a 64-byte line."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    buffer = np.empty((size + offset_items) * dtype.itemsize + 64, np.uint8)
    start = -buffer.ctypes.data % 64 + offset_items * dtype.itemsize
    out = buffer[start : start + size * dtype.itemsize].view(dtype).reshape(shape)
    out.fill(np.nan)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset_items", [0, 1])
@pytest.mark.parametrize(
    "geometry",
    [  # (channels, H, W, K, k, stride, dilation, pads, n_threads, map_rows, rectify)
        (1, 30, 64, 20, 3, (1, 1), (1, 1), (1, 1, 1, 1), 1, None, False),
        (3, 21, 64, 9, 3, (2, 2), (1, 1), (1, 1, 1, 1), 2, (2, 9), True),
        (2, 17, 64, 12, 5, (1, 2), (1, 2), (4, 3, 4, 4), 3, (1, 13), False),
        (16, 10, 32, 8, 9, (1, 1), (1, 1), (4, 4, 4, 4), 2, None, True),  # 1296 taps
    ],
)
def test_whole_vectors_stored_around_the_caches_equal_scipy(dtype, offset_items, geometry):
    # Streamed maps of whole vectors into an aligned ``out`` skip the block
    # of values (stores around the caches); one item off the line, the copies.
    channels, height, width, n_kernels, k, stride, dilation, pads, threads, rows, rectify = geometry
    rng = np.random.default_rng(7)
    images = rng.standard_normal((2, channels, height, width)).astype(dtype)
    kernels = rng.standard_normal((n_kernels, channels, k, k)).astype(dtype)
    bias = rng.standard_normal(n_kernels).astype(dtype)
    padding = ((pads[0], pads[1]), (pads[2], pads[3]))
    expected = reference_correlate(images, kernels, stride, padding, dilation)
    expected -= bias[None, :, None, None]
    if rectify:
        expected = np.maximum(expected, 0)
    start, stop = rows or (0, expected.shape[2])
    for level in LEVELS:
        for layout in ("positions", None):
            out = _aligned_full(expected.shape, dtype, offset_items)
            with register_loop(level, layout):
                _encoders.correlate_planes(
                    images,
                    _encoders.plane_weights(_weights(kernels)),
                    bias,
                    (k, k),
                    stride,
                    dilation,
                    out,
                    rectify=rectify,
                    map_rows=rows,
                    pads=pads,
                    stream=True,
                    n_threads=threads,
                )
            scale = max(1.0, np.abs(expected).max())
            tolerance = (1e-4 if dtype == np.float32 else 1e-10) * scale
            assert_allclose(out[:, :, start:stop], expected[:, :, start:stop], atol=tolerance)
            assert np.isnan(out[:, :, :start]).all() and np.isnan(out[:, :, stop:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("large_output", [False, True])
def test_convolve_through_the_planes_equals_scipy(dtype, large_output, monkeypatch):
    # A large output is written around the caches (here: any output, all copied).
    if large_output:
        monkeypatch.setattr(skconv_features, "STREAM_OUTPUT_BYTES", 0)
    streams, rectified = [], []
    loop = skconv_gemm.correlate_planes

    def spy(*args, stream=False, rectify=False, **kwargs):
        streams.append(stream)
        rectified.append(rectify)
        return loop(*args, stream=stream, rectify=rectify, **kwargs)

    monkeypatch.setattr(skconv_gemm, "correlate_planes", spy)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 4, 40, 128)).astype(dtype)
    kernels = rng.standard_normal((8, 4, 5, 5)).astype(dtype)
    geometry = make_geometry((4, 40, 128), (4, 5, 5), stride=2, padding=2)
    plan = plan_conv(16, geometry, 8, np.dtype(dtype), PoolingSpec(), n_threads=2)
    assert plan.method == "planes"
    with responses_stored("copied" if large_output else None):
        maps = convolve(images, kernels, stride=2, padding=2, n_threads=2)
    assert streams and set(streams) == {large_output} and not any(rectified)
    expected = reference_correlate(images, kernels, (2, 2), ((2, 2), (2, 2)), (1, 1))
    assert_allclose(maps, expected, atol=1e-4 if dtype == np.float32 else 1e-10)
    # Rectified maps take their relu in the loop: written around the caches
    # when large, as plain ones; pooled maps are read again: never.
    streams.clear()
    rectified.clear()
    relu = ConvFeatures(
        ArrayBank(kernels), stride=2, padding=2, nonlinearity="relu", pooling=None, n_jobs=2
    )
    with responses_stored("copied" if large_output else None):
        features = relu.fit(images[:1]).transform(images)
    assert streams and set(streams) == {large_output} and all(rectified)
    assert_allclose(
        features.reshape(expected.shape),
        np.maximum(expected, 0),
        atol=1e-4 if dtype == np.float32 else 1e-10,
    )
    streams.clear()
    pooled = ConvFeatures(
        ArrayBank(kernels), stride=2, padding=2, nonlinearity="relu", pooling="max", n_jobs=2
    )
    pooled.fit(images[:1]).transform(images)
    assert not any(streams)


def test_the_planes_loop_rejects_inconsistent_arguments():
    padded = np.zeros((2, 3, 10, 10), np.float32)
    kernels = np.zeros((5, 3, 3, 3), np.float32)
    weights = _encoders.plane_weights(_weights(kernels))
    bias = np.zeros(5, np.float32)
    out = np.zeros((2, 5, 8, 8), np.float32)
    args = ((3, 3), (1, 1), (1, 1))
    _encoders.correlate_planes(padded, weights, bias, *args, out)
    with pytest.raises(ValueError, match="packed by plane_weights"):
        _encoders.correlate_planes(padded, weights[:0], bias, *args, out)
    with pytest.raises(ValueError, match="reach outside"):
        _encoders.correlate_planes(padded, weights, bias, *args, np.zeros((2, 5, 9, 8), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        _encoders.correlate_planes(padded, weights, bias[:4], *args, out)
    strided = np.zeros((2, 5, 8, 16), np.float32)[..., ::2]
    with pytest.raises(ValueError, match="rows of padded and out"):
        _encoders.correlate_planes(padded, weights, bias, *args, strided)
    with pytest.raises(ValueError, match="pads must be"):
        _encoders.correlate_planes(padded, weights, bias, *args, out, pads=(1, 1, -1, 1))
    with pytest.raises(ValueError, match="map_rows"):
        _encoders.correlate_planes(padded, weights, bias, *args, out, map_rows=(3, 3))
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        _encoders.correlate_planes(padded, weights, bias, *args, out, n_threads=0)
    with pytest.raises(ValueError, match="2-D float32 or float64"):
        _encoders.plane_weights(np.zeros((3, 3, 3), np.float32))
    previous = _encoders._limit_columns_level(0)
    try:
        assert _encoders.plane_lanes(np.float32) == 0
        with pytest.raises(RuntimeError, match="neither AVX-512 nor AVX2"):
            _encoders.correlate_planes(padded, weights, bias, *args, out)
    finally:
        _encoders._limit_columns_level(previous)


@with_fixtures(60)
@given(
    geometry=pooled_geometries(max_side=30, max_channels=3, max_kernel=5),
    n_kernels=st.integers(1, 40),
    poolings=st.lists(
        st.sampled_from(["max", "mean", "sum", "ppv", "l2", "mpv"]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    nonlinearity=st.sampled_from(["relu", None]),
    padding_mode=st.sampled_from(["constant", "reflect", "edge"]),
    dtype=st.sampled_from(["float32", "float64"]),
    level=st.sampled_from(LEVELS or [1]),
    layout=st.sampled_from(LAYOUTS),
    n_images=st.sampled_from([1, 2, 7]),
    n_jobs=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_plain_kernels_pooled_in_the_planes_loop_equal_the_batches_path(
    monkeypatch,
    geometry,
    n_kernels,
    poolings,
    nonlinearity,
    padding_mode,
    dtype,
    level,
    layout,
    n_images,
    n_jobs,
    seed,
):
    # "constant": the loop adds the zeros while it splits each image; the
    # other modes pad each batch first.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_images, geometry.channels, geometry.height, geometry.width))
    size = geometry.kernel_size
    kernels = rng.standard_normal((n_kernels, geometry.channels, size, size))
    options = dict(
        nonlinearity=nonlinearity,
        pooling=tuple(poolings),
        padding_mode=padding_mode,
        dtype=dtype,
        n_jobs=n_jobs,
        **geometry.options,
    )
    with register_loop(level, layout):
        with monkeypatch.context() as patch:  # the loop whatever the model predicts
            patch.setitem(planner._MEASURED_OVER_MODEL, ("encoded", "planes"), 0.0)
            # (method="gemm": the cost model may take the FFT for tiny images)
            conv = ConvFeatures(ArrayBank(kernels), method="gemm", **options).fit(X)
            plan = conv.explain(X)
            pooled = conv.transform(X)
        reference = ConvFeatures(ArrayBank(kernels), batch_size=3, **options).fit(X).transform(X)
    assert [(part.path, part.method) for _, _, part in plan.parts] == [("encoded", "planes")]
    tolerance = 1e-4 if dtype == "float32" else 1e-9
    scale = max(1.0, np.abs(reference).max())
    assert_allclose(pooled, reference, rtol=tolerance, atol=tolerance * scale)


@pytest.mark.skipif(not OPENMP, reason="skconv built without OpenMP")
def test_the_planes_loop_runs_the_plans_threads_itself():
    # One image: no tiles cut for the threads, the loop shares its blocks of
    # rows between its own threads; pooled, whole images per thread.
    geometry = make_geometry((8, 64, 200), (8, 5, 5), stride=2, padding=2)
    plan = plan_conv(1, geometry, 128, np.dtype(np.float32), PoolingSpec(), n_threads=2)
    assert (plan.path, plan.method, plan.n_threads, plan.loop_threads) == (
        "tiles",
        "planes",
        2,
        2,
    )
    assert plan.tiling.n_tiles == 1
    spec = PoolingSpec(nonlinearity="relu", poolings=("max",), grid=(2, 2))
    pooled = plan_conv(8, geometry, 128, np.dtype(np.float32), spec, n_threads=2)
    assert (pooled.path, pooled.method, pooled.loop_threads) == ("encoded", "planes", 2)
    assert pooled.batch_size >= 2
    single = plan_conv(1, geometry, 128, np.dtype(np.float32), spec, n_threads=2)
    assert single.loop_threads == 1  # one image: its rows shared between workers


@pytest.mark.skipif(not OPENMP, reason="skconv built without OpenMP")
def test_the_loops_threads_respect_the_openmp_limit():
    # As scikit-learn's OpenMP loops: threadpoolctl's (or OMP_NUM_THREADS's)
    # limit caps the loop's threads, and the plan then gives the threads to
    # Python workers instead.
    from threadpoolctl import threadpool_limits

    geometry = make_geometry((8, 64, 200), (8, 5, 5), stride=2, padding=2)
    assert _encoders.loop_threads(2) == 2
    # (planned before without the limit: the plan is made anew under it)
    unlimited = plan_conv(1, geometry, 128, np.dtype(np.float32), PoolingSpec(), n_threads=2)
    assert unlimited.loop_threads == 2
    with threadpool_limits(1, user_api="openmp"):
        assert _encoders.loop_threads(2) == 1
        plan = plan_conv(1, geometry, 128, np.dtype(np.float32), PoolingSpec(), n_threads=2)
        assert (plan.n_threads, plan.loop_threads) == (2, 1)
        rng = np.random.default_rng(0)
        images = rng.standard_normal((1, 8, 64, 200)).astype(np.float32)
        kernels = rng.standard_normal((128, 8, 5, 5)).astype(np.float32)
        limited = convolve(images, kernels, stride=2, padding=2, n_threads=2)
    assert_allclose(limited, convolve(images, kernels, stride=2, padding=2), rtol=1e-5)
    assert _encoders.loop_threads(2) == 2


def _convolve_in_child(images, kernels, expected, queue):
    result = convolve(images, kernels, stride=2, padding=2, n_threads=2)
    queue.put(float(np.abs(result - expected).max()))


@pytest.mark.skipif(not OPENMP, reason="skconv built without OpenMP")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_process_forked_after_the_loops_threads_ran_still_convolves():
    # GNU OpenMP's threads do not survive a fork: the child's first parallel
    # loop would wait for them forever. The child takes one thread per loop
    # (and its own workers) instead.
    import multiprocessing

    rng = np.random.default_rng(0)
    images = rng.standard_normal((1, 8, 64, 200)).astype(np.float32)
    kernels = rng.standard_normal((128, 8, 5, 5)).astype(np.float32)
    expected = convolve(images, kernels, stride=2, padding=2, n_threads=2)  # threads ran
    assert _encoders.openmp_threads()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_convolve_in_child, args=(images, kernels, expected, queue))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the forked child hung in the planes loop"
    assert child.exitcode == 0
    assert queue.get(timeout=5) == 0.0


def test_the_planes_pooled_loop_rejects_inconsistent_arguments():
    padded = np.zeros((2, 1, 10, 10))
    weights = _encoders.plane_weights(np.zeros((9, 4)))
    bias = np.zeros(4)
    regions, bounds = np.zeros(8, np.intp), np.array([0, 8], np.intp)
    kinds, states = np.zeros(1, np.int32), np.zeros((2, 1, 1, 4))
    args = ((3, 3), (1, 1), (1, 1), (8, 8), True)
    _encoders.pool_planes(padded, weights, bias, *args, regions, bounds, kinds, states)
    with pytest.raises(ValueError, match="states must be"):
        _encoders.pool_planes(padded, weights, bias, *args, regions, bounds, kinds, states[:1])
    with pytest.raises(ValueError, match="cover the maps"):
        _encoders.pool_planes(padded, weights, bias, *args, regions[:7], bounds, kinds, states)
    with pytest.raises(ValueError, match="unknown state"):
        _encoders.pool_planes(padded, weights, bias, *args, regions, bounds, kinds + 9, states)
    with pytest.raises(ValueError, match="packed by plane_weights"):
        _encoders.pool_planes(padded, weights, bias[:0], *args, regions, bounds, kinds, states)
    with pytest.raises(ValueError, match="map_rows"):
        _encoders.pool_planes(
            padded, weights, bias, *args, regions, bounds, kinds, states, map_rows=(4, 2)
        )


@pytest.mark.parametrize("level", LEVELS or [1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("column_stride", [1, 2, 3])
def test_column_phases_read_each_row_only(level, dtype, column_stride):
    # Each image row is split into its column phases with the padding added
    # on the way (AVX-512, column strides 1 and 2: masked loads of the row's
    # values, the lanes outside it never read). The rows are views into wider rows of
    # NaN: a value read outside a row would show in the maps. Every width up
    # to 2 vectors and more, every side padding up to 3.
    rng = np.random.default_rng(0)
    for width in range(1, 41):
        for left, right in [(a, b) for a in range(4) for b in range(4)]:
            if width + left + right < 3:
                continue
            wide = np.full((1, 2, 5, width + 40), np.nan, dtype)
            images = wide[..., 17 : 17 + width]
            images[...] = rng.standard_normal(images.shape)
            kernels = rng.standard_normal((9, 2, 3, 3)).astype(dtype)
            pads = (1, 0, left, right)
            expected = reference_correlate(
                np.ascontiguousarray(images),
                kernels,
                (1, column_stride),
                ((1, 0), (left, right)),
                (1, 1),
            )
            out = np.full(expected.shape, np.nan, dtype)
            with register_loop(level, None):
                _encoders.correlate_planes(
                    images,
                    _encoders.plane_weights(_weights(kernels)),
                    np.zeros(9, dtype),
                    (3, 3),
                    (1, column_stride),
                    (1, 1),
                    out,
                    pads=pads,
                )
            tolerance = 1e-4 if dtype == np.float32 else 1e-10
            assert_allclose(out, expected, atol=tolerance, err_msg=f"{width=} {left=} {right=}")
