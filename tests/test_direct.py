"""The compiled direct loop: equal to scipy's correlation, alone and inside the engine.

Both of its layouts: padded windows (the tiled GEMM path) and batch-last
batches of small images (:class:`skconv.engine.core._BatchLastWorkspace`), whose
max pooling it can also fuse.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import sklearn
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis_settings import with_fixtures
from numpy.testing import assert_allclose, assert_array_equal
from reference import loop_pool, reference_correlate

import skconv.engine.core as skconv_engine
import skconv.engine.gemm as skconv_gemm
from skconv import convolve
from skconv.engine.core import kernel_matrix, make_geometry, map_batches, uses_batch_last_loop
from skconv.engine.features import PoolingSpec, conv_features
from skconv.pooling import region_bounds

direct = pytest.importorskip("skconv.engine._direct")


def loop_reference(windows, weights, n_kernels, out_shape, stride, dilation):
    """``out[m, k, y, x]``: the loops' definition on ``(m, C, ih, iw)`` windows, in float64."""
    kh, kw = weights.shape[1:3]
    (th, tw), (sy, sx), (dy, dx) = out_shape, stride, dilation
    out = np.zeros((windows.shape[0], n_kernels, th, tw))
    for a in range(kh):
        for b in range(kw):
            taps = windows[:, :, a * dy :: sy, b * dx :: sx][:, :, :th, :tw].astype(np.float64)
            out += np.einsum("kc,mcyx->mkyx", weights[:n_kernels, a, b].astype(np.float64), taps)
    return out


@st.composite
def loop_weights(draw, max_side):
    """Kernels as the loops read them, ``(K4, kh, kw, C)`` float32, their count, and an rng.

    1-5 channels, 1-10 kernels (zero kernels pad them to a multiple of 4),
    sides of 1 to ``max_side``.
    """
    channels, n_kernels = draw(st.integers(1, 5)), draw(st.integers(1, 10))
    kh, kw = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    weights = np.zeros((-(-n_kernels // 4) * 4, kh, kw, channels), np.float32)
    weights[:n_kernels] = rng.standard_normal((n_kernels, kh, kw, channels))
    return weights, n_kernels, rng


@settings(max_examples=100, deadline=None)
@given(
    m=st.integers(1, 3),
    kernels=loop_weights(max_side=5),
    out_shape=st.tuples(st.integers(1, 5), st.integers(16, 70)),
    stride_y=st.integers(1, 3),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    extra=st.tuples(st.integers(0, 2), st.integers(0, 2)),
)
def test_correlate_windows_equals_its_definition(m, kernels, out_shape, stride_y, dilation, extra):
    weights, n_kernels, rng = kernels
    (kh, kw), channels = weights.shape[1:3], weights.shape[3]
    (th, tw), (dy, dx) = out_shape, dilation
    ih = (th - 1) * stride_y + (kh - 1) * dy + 1 + extra[0]
    iw = tw + (kw - 1) * dx + extra[1]
    # The engine's layout: channels-first buffers seen as (m, C, ih, iw).
    windows = rng.standard_normal((channels, m, ih, iw)).astype(np.float32).swapaxes(0, 1)
    out = np.full((m, n_kernels + 1, th, tw), np.nan, np.float32)  # one kernel to spare
    direct.correlate_windows(windows, weights, out, n_kernels, stride_y, dy, dx)
    expected = loop_reference(windows, weights, n_kernels, (th, tw), (stride_y, 1), (dy, dx))
    assert_allclose(out[:, :n_kernels], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert np.isnan(out[:, n_kernels]).all()  # nothing written beyond n_kernels


# Consistent zero inputs of each function (name: default shape); a case
# overrides some shapes to make them inconsistent.
WINDOW_SHAPES = dict(windows=(1, 2, 10, 30), weights=(4, 3, 3, 2), out=(1, 4, 8, 16))
BATCH_LAST_SHAPES = dict(padded=(10, 10, 2, 16), weights=(4, 3, 3, 2), maps=(8, 8, 4, 16))


def _zero_inputs(defaults, **shapes):
    return [np.zeros(shapes.get(name, shape), np.float32) for name, shape in defaults.items()]


@pytest.mark.parametrize(
    "function, defaults, shapes, args, message",
    [
        ("correlate_windows", WINDOW_SHAPES, dict(weights=(3, 3, 3, 2)), (3,), "multiple of 4"),
        ("correlate_windows", WINDOW_SHAPES, dict(weights=(4, 3, 3, 1)), (4,), "multiple of 4"),
        ("correlate_windows", WINDOW_SHAPES, dict(out=(1, 4, 8, 15)), (4,), ">= 16"),
        ("correlate_windows", WINDOW_SHAPES, dict(out=(1, 4, 9, 16)), (4,), "too small"),
        ("correlate_windows", WINDOW_SHAPES, dict(windows=(1, 2, 10, 17)), (4,), "too small"),
        ("correlate_windows", WINDOW_SHAPES, {}, (4, 0), ">= 1"),
        ("correlate_batch_last", BATCH_LAST_SHAPES, dict(weights=(3, 3, 3, 2)), (3,), "of 4"),
        ("correlate_batch_last", BATCH_LAST_SHAPES, dict(weights=(4, 3, 3, 1)), (4,), "of 4"),
        (
            "correlate_batch_last",
            BATCH_LAST_SHAPES,
            dict(padded=(10, 10, 2, 15), maps=(8, 8, 4, 15)),
            (4,),
            "B >= 16",
        ),
        ("correlate_batch_last", BATCH_LAST_SHAPES, dict(maps=(8, 8, 4, 17)), (4,), "B >= 16"),
        ("correlate_batch_last", BATCH_LAST_SHAPES, dict(maps=(8, 8, 3, 16)), (4,), "n_kernels"),
        ("correlate_batch_last", BATCH_LAST_SHAPES, dict(maps=(9, 8, 4, 16)), (4,), "too small"),
        ("correlate_batch_last", BATCH_LAST_SHAPES, dict(maps=(8, 5, 4, 16)), (4, 1, 2), "small"),
        ("correlate_batch_last", BATCH_LAST_SHAPES, {}, (4, 0), ">= 1"),
    ],
)
def test_loops_reject_inconsistent_shapes(function, defaults, shapes, args, message):
    with pytest.raises(ValueError, match=message):
        getattr(direct, function)(*_zero_inputs(defaults, **shapes), *args)


def test_correlate_windows_needs_contiguous_rows():
    windows, weights, out = _zero_inputs(WINDOW_SHAPES, windows=(1, 2, 10, 60))
    with pytest.raises(ValueError, match="contiguous"):
        direct.correlate_windows(windows[..., ::2], weights, out, 4)


@st.composite
def engine_problems(draw, n, size, kernel, stride, dilation, modes):
    """float32 images and kernels, their geometry and the scipy reference maps.

    ``n``, ``size`` (a tuple strategy), ``kernel`` (square kernels' side),
    ``stride`` (a tuple strategy) and ``dilation`` are strategies; ``modes``
    the padding modes to draw from. Also draws channels, kernels, padding,
    threads and a seed.
    """
    n, size, kernel = draw(n), draw(size), draw(kernel)
    stride, dilation = draw(stride), draw(dilation)
    channels, n_kernels = draw(st.integers(1, 4)), draw(st.integers(1, 9))
    padding, mode = draw(st.sampled_from(["same", "valid", "full"])), draw(st.sampled_from(modes))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    images = rng.standard_normal((n, channels, *size)).astype(np.float32)
    kernels = rng.standard_normal((n_kernels, channels, kernel, kernel)).astype(np.float32)
    span = (kernel - 1) * dilation + 1
    assume(padding != "valid" or span <= min(size))
    assume(mode == "constant" or span <= min(size))  # reflections of shorter axes differ
    geometry = make_geometry(
        images.shape[1:], kernels.shape[1:], stride=stride, padding=padding, dilation=dilation
    )
    maps = reference_correlate(
        images, kernels, geometry.stride, geometry.pads, geometry.dilation, mode
    )
    return SimpleNamespace(
        images=images,
        kernels=kernels,
        geometry=geometry,
        padding=padding,
        mode=mode,
        threads=draw(st.integers(1, 2)),
        maps=maps,
    )


def assert_both_match(looped, patched, expected):
    """With the loop and without it, equal to the float64 reference."""
    tol = 1e-4 * (1 + np.abs(expected).max())
    assert_allclose(looped, expected, rtol=1e-4, atol=tol)
    assert_allclose(patched, expected, rtol=1e-4, atol=tol)


@with_fixtures(60)
@given(
    problem=engine_problems(
        n=st.integers(1, 3),
        size=st.tuples(st.integers(5, 40), st.integers(16, 60)),
        kernel=st.integers(1, 7),
        stride=st.tuples(st.integers(1, 3), st.just(1)),
        dilation=st.integers(1, 3),
        modes=["constant", "reflect", "symmetric", "edge", "wrap"],
    ),
    budget=st.sampled_from([0.01, 1024]),
)
def test_engine_with_and_without_the_loop_matches_scipy(monkeypatch, problem, budget):
    geometry = problem.geometry
    kwargs = dict(
        stride=geometry.stride,
        padding=problem.padding,
        dilation=geometry.dilation,
        padding_mode=problem.mode,
        method="gemm",
        n_threads=problem.threads,
    )
    with sklearn.config_context(working_memory=budget):
        looped = convolve(problem.images, problem.kernels, **kwargs)
        monkeypatch.setattr(skconv_gemm, "correlate_windows", None)
        patched = convolve(problem.images, problem.kernels, **kwargs)
        monkeypatch.undo()
    assert_both_match(looped, patched, problem.maps)


def test_the_loop_is_taken_for_few_channels_in_float32_only():
    geometry = make_geometry((3, 64, 64), (3, 5, 5))
    assert skconv_gemm.uses_direct(geometry, 64, np.float32)
    assert not skconv_gemm.uses_direct(geometry, 64, np.float64)
    assert not skconv_gemm.uses_direct(geometry, 15, np.float32)  # rows too short
    many = make_geometry((32, 64, 64), (32, 3, 3))
    assert not skconv_gemm.uses_direct(many, 64, np.float32)  # BLAS's GEMM is as fast
    strided = make_geometry((3, 64, 64), (3, 5, 5), stride=(1, 2))
    assert not skconv_gemm.uses_direct(strided, 64, np.float32)


def test_the_direct_loop_is_built():
    # CI builds with a C compiler: a failed (optional) build must not go unnoticed.
    assert skconv_gemm.correlate_windows is not None
    assert skconv_engine.correlate_batch_last is not None
    assert skconv_engine.max_pool_batch_last is not None


# --- batch-last batches ---------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    batch=st.integers(16, 60),
    kernels=loop_weights(max_side=4),
    out_shape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    grid=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    extra=st.integers(0, 2),
)
def test_batch_last_loops_equal_their_definition(
    batch, kernels, out_shape, stride, dilation, grid, extra
):
    weights, n_kernels, rng = kernels
    (kh, kw), channels = weights.shape[1:3], weights.shape[3]
    (h, w), (sy, sx), (dy, dx) = out_shape, stride, dilation
    padded_shape = ((h - 1) * sy + (kh - 1) * dy + 1 + extra, (w - 1) * sx + (kw - 1) * dx + 1)
    padded = rng.standard_normal((*padded_shape, channels, batch)).astype(np.float32)
    maps = np.full((h, w, n_kernels + 1, batch), np.nan, np.float32)  # one kernel to spare
    direct.correlate_batch_last(padded, weights, maps, n_kernels, sy, sx, dy, dx)
    # The batch is the loops' image axis: (Hp, Wp, C, B) seen as (B, C, Hp, Wp).
    windows = padded.transpose(3, 2, 0, 1)
    expected = loop_reference(windows, weights, n_kernels, (h, w), stride, dilation)
    expected = expected.transpose(2, 3, 1, 0)  # (h, w, K, B)
    assert_allclose(maps[:, :, :n_kernels], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert np.isnan(maps[:, :, n_kernels]).all()  # nothing written beyond n_kernels

    # The fused max: exactly the maxima of the same maps over the grid's regions.
    grid = (min(grid[0], h), min(grid[1], w))
    rows, cols = region_bounds(h, grid[0]), region_bounds(w, grid[1])
    pooled = np.full((*grid, n_kernels + 1, batch), np.nan, np.float32)
    direct.max_pool_batch_last(
        padded, weights, pooled, n_kernels, rows.astype(np.intp), cols.astype(np.intp),
        sy, sx, dy, dx,
    )  # fmt: skip
    for r in range(grid[0]):
        for q in range(grid[1]):
            region = maps[rows[r] : rows[r + 1], cols[q] : cols[q + 1], :n_kernels]
            assert_array_equal(pooled[r, q, :n_kernels], region.max(axis=(0, 1)))
    assert np.isnan(pooled[:, :, n_kernels]).all()


@pytest.mark.parametrize(
    "rows, cols, pooled_grid, message",
    [
        ([0, 9], [0, 8], (1, 1), "too small"),  # 9 rows of 3x3 taps need 11 padded rows
        ([0, 8], [0, 9], (1, 1), "too small"),
        ([0, 4, 4, 8], [0, 8], (3, 1), "increase"),
        ([0, 8], [0, 3, 2, 8], (1, 3), "increase"),
        ([-1, 8], [0, 8], (1, 1), "increase"),
        ([0, 8], [0, 4, 8], (1, 1), "one more entry"),
    ],
)
def test_max_pool_batch_last_rejects_bad_regions(rows, cols, pooled_grid, message):
    padded, weights, _ = _zero_inputs(BATCH_LAST_SHAPES)
    pooled = np.zeros((*pooled_grid, 4, 16), np.float32)
    rows, cols = np.array(rows, np.intp), np.array(cols, np.intp)
    with pytest.raises(ValueError, match=message):
        direct.max_pool_batch_last(padded, weights, pooled, 4, rows, cols)


def test_the_batch_last_loop_needs_float32_few_channels_and_16_images():
    geometry = make_geometry((3, 8, 8), (3, 3, 3))
    assert uses_batch_last_loop(geometry, 16, np.float32)
    assert not uses_batch_last_loop(geometry, 15, np.float32)
    assert not uses_batch_last_loop(geometry, 64, np.float64)
    assert not uses_batch_last_loop(make_geometry((32, 8, 8), (32, 3, 3)), 64, np.float32)


@with_fixtures(60)
@given(
    problem=engine_problems(
        n=st.integers(1, 70),
        size=st.tuples(st.integers(2, 9), st.integers(2, 9)),
        kernel=st.integers(1, 4),
        stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
        dilation=st.integers(1, 2),
        modes=["constant", "reflect", "edge", "wrap"],
    ),
    pooling=st.sampled_from(
        [
            (("max",), (1, 1)),
            (("max",), (2, 2)),
            (("max", "max"), (1, 2)),
            (("mean", "ppv"), (2, 1)),
        ]
    ),
    nonlinearity=st.sampled_from([None, "relu", "tanh", "abs"]),
    batch_size=st.sampled_from([None, 16, 23]),
)
def test_small_images_with_and_without_the_loop_match_the_reference(
    monkeypatch, problem, pooling, nonlinearity, batch_size
):
    geometry = problem.geometry
    poolings, grid = pooling
    grid = tuple(min(g, o) for g, o in zip(grid, geometry.out_shape))
    expected = loop_pool(problem.maps, nonlinearity, poolings, grid)
    args = (problem.images, geometry, kernel_matrix(problem.kernels, np.float32))
    kwargs = dict(
        spec=PoolingSpec(nonlinearity, poolings, grid),
        padding_mode=problem.mode,
        batch_size=batch_size,
        n_threads=problem.threads,
        layout="batch_last",
    )
    looped = conv_features(*args, **kwargs)
    monkeypatch.setattr(skconv_engine, "correlate_batch_last", None)
    patched = conv_features(*args, **kwargs)
    monkeypatch.undo()
    assert_both_match(looped, patched, expected)


def test_the_fused_max_adds_the_bias_and_never_writes_the_maps():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((40, 1, 8, 8)).astype(np.float32)
    kernels = rng.standard_normal((5, 1, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    geometry = make_geometry((1, 8, 8), (1, 3, 3))
    weights = kernel_matrix(kernels, np.float32)
    maps = reference_correlate(images, kernels, (1, 1), geometry.pads, (1, 1))
    expected = maps.max(axis=(2, 3)) + bias

    def pooled_maxima(maps, patches):
        # The fused path hands over (1, gh, gw, K * b): one value per region.
        assert maps.shape[1:3] == (1, 1)
        return maps.reshape(len(maps), -1)

    for max_grid in [(1, 1), None]:
        out = np.empty((40, 5), np.float32)
        reduce_maps = pooled_maxima if max_grid else (lambda m, p: m.max(axis=(1, 2)))
        map_batches(
            images, geometry, weights, reduce_maps, out, bias=bias, batch_size=20,
            layout="batch_last", max_grid=max_grid,
        )  # fmt: skip
        assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pooling, fused", [("max", True), (("max", "mean"), False)])
def test_max_pooled_features_take_the_fused_loop(monkeypatch, pooling, fused):
    from skconv import ConvFeatures, RandomBank

    calls = []

    def counted(*args):
        calls.append(args[2].shape)
        return direct.max_pool_batch_last(*args)

    monkeypatch.setattr(skconv_engine, "max_pool_batch_last", counted)
    images = np.random.default_rng(0).standard_normal((40, 1, 28, 28))
    conv = ConvFeatures(RandomBank(8, 5), pooling=pooling, pool_grid=2, random_state=0)
    expected = conv.fit(images).transform(images)  # float64: the GEMM path
    result = conv.transform(images.astype(np.float32))
    assert_allclose(result, expected, rtol=1e-4, atol=1e-4)
    assert bool(calls) == fused
    if fused:
        assert calls[0][:3] == (2, 2, 8)  # the regions' maxima, never the 28x28 maps


@pytest.mark.parametrize(
    "n, channels, size, fused",
    [
        (20, 1, 48, True),
        (10, 1, 48, False),  # fewer than 16 images
        (20, 3, 48, False),  # three channels need 16 images per thread
        (32, 3, 48, True),
        (20, 4, 48, False),  # more than three channels
        (20, 1, 8, True),  # small images, whatever the count
    ],
)
def test_larger_single_channel_images_take_the_fused_loop(monkeypatch, n, channels, size, fused):
    # 48x48 maps are beyond the small-image path; 2-D images with 1-3 channels
    # pooled by max only take the fused loop anyway when there are enough.
    from skconv import ConvFeatures, RandomBank

    calls = []

    def counted(*args):
        calls.append(args[0].shape)
        return direct.max_pool_batch_last(*args)

    monkeypatch.setattr(skconv_engine, "max_pool_batch_last", counted)
    images = np.random.default_rng(1).standard_normal((n, channels, size, size))
    conv = ConvFeatures(RandomBank(6, 3), pool_grid=3, random_state=0, n_jobs=2)
    expected = conv.fit(images).transform(images)  # float64: the GEMM paths
    result = conv.transform(images.astype(np.float32))
    assert_allclose(result, expected, rtol=1e-4, atol=1e-4)
    assert bool(calls) == fused
    if fused:
        assert calls[0][-1] >= 16  # batches of at least 16 images
