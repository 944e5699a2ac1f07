"""The compiled direct loop: equal to scipy's correlation, alone and inside the engine."""

import numpy as np
import pytest
import sklearn
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis_settings import with_fixtures
from numpy.testing import assert_allclose
from reference import reference_correlate

import skconv._gemm as skconv_gemm
from skconv import convolve
from skconv._engine import make_geometry

direct = pytest.importorskip("skconv._direct")


def loop_reference(windows, weights, n_kernels, th, tw, stride_y, dilation_y, dilation_x):
    """The loop's definition, summed tap by tap in float64."""
    kh, kw = weights.shape[1:3]
    out = np.zeros((windows.shape[0], n_kernels, th, tw))
    for a in range(kh):
        for b in range(kw):
            rows = slice(a * dilation_y, a * dilation_y + (th - 1) * stride_y + 1, stride_y)
            cols = slice(b * dilation_x, b * dilation_x + tw)
            taps = windows[:, :, rows, cols].astype(np.float64)
            out += np.einsum("kc,mcyx->mkyx", weights[:n_kernels, a, b].astype(np.float64), taps)
    return out


@settings(max_examples=100, deadline=None)
@given(
    m=st.integers(1, 3),
    channels=st.integers(1, 5),
    n_kernels=st.integers(1, 10),
    kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    out_shape=st.tuples(st.integers(1, 5), st.integers(16, 70)),
    stride_y=st.integers(1, 3),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    extra=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    seed=st.integers(0, 2**16),
)
def test_correlate_windows_equals_its_definition(
    m, channels, n_kernels, kernel, out_shape, stride_y, dilation, extra, seed
):
    rng = np.random.default_rng(seed)
    (kh, kw), (th, tw), (dy, dx) = kernel, out_shape, dilation
    ih = (th - 1) * stride_y + (kh - 1) * dy + 1 + extra[0]
    iw = tw + (kw - 1) * dx + extra[1]
    # The engine's layout: channels-first buffers seen as (m, C, ih, iw).
    windows = rng.standard_normal((channels, m, ih, iw)).astype(np.float32).swapaxes(0, 1)
    weights = np.zeros((-(-n_kernels // 4) * 4, kh, kw, channels), np.float32)
    weights[:n_kernels] = rng.standard_normal((n_kernels, kh, kw, channels))
    out = np.full((m, n_kernels + 1, th, tw), np.nan, np.float32)  # one kernel to spare
    direct.correlate_windows(windows, weights, out, n_kernels, stride_y, dy, dx)
    expected = loop_reference(windows, weights, n_kernels, th, tw, stride_y, dy, dx)
    assert_allclose(out[:, :n_kernels], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert np.isnan(out[:, n_kernels]).all()  # nothing written beyond n_kernels


def _inputs(**shapes):
    windows = np.zeros(shapes.get("windows", (1, 2, 10, 30)), np.float32)
    weights = np.zeros(shapes.get("weights", (4, 3, 3, 2)), np.float32)
    out = np.zeros(shapes.get("out", (1, 4, 8, 16)), np.float32)
    return windows, weights, out


@pytest.mark.parametrize(
    "shapes, args, message",
    [
        (dict(weights=(3, 3, 3, 2)), (3,), "multiple of 4"),
        (dict(weights=(4, 3, 3, 1)), (4,), "multiple of 4"),
        (dict(out=(1, 4, 8, 15)), (4,), ">= 16"),
        (dict(out=(1, 4, 9, 16)), (4,), "too small"),
        (dict(windows=(1, 2, 10, 17)), (4,), "too small"),
        ({}, (4, 0), ">= 1"),
    ],
)
def test_correlate_windows_rejects_inconsistent_shapes(shapes, args, message):
    windows, weights, out = _inputs(**shapes)
    with pytest.raises(ValueError, match=message):
        direct.correlate_windows(windows, weights, out, *args)


def test_correlate_windows_needs_contiguous_rows():
    windows, weights, out = _inputs(windows=(1, 2, 10, 60))
    with pytest.raises(ValueError, match="contiguous"):
        direct.correlate_windows(windows[..., ::2], weights, out, 4)


@with_fixtures(60)
@given(
    n=st.integers(1, 3),
    channels=st.integers(1, 4),
    n_kernels=st.integers(1, 9),
    size=st.tuples(st.integers(5, 40), st.integers(16, 60)),
    kernel=st.integers(1, 7),
    stride_y=st.integers(1, 3),
    dilation=st.integers(1, 3),
    padding=st.sampled_from(["same", "valid", "full"]),
    mode=st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]),
    budget=st.sampled_from([0.01, 1024]),
    threads=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_engine_with_and_without_the_loop_matches_scipy(
    monkeypatch,
    n,
    channels,
    n_kernels,
    size,
    kernel,
    stride_y,
    dilation,
    padding,
    mode,
    budget,
    threads,
    seed,
):
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, channels, *size)).astype(np.float32)
    kernels = rng.standard_normal((n_kernels, channels, kernel, kernel)).astype(np.float32)
    span = (kernel - 1) * dilation + 1
    assume(padding != "valid" or span <= min(size))
    assume(mode == "constant" or span <= min(size))  # reflections of shorter axes differ
    stride = (stride_y, 1)
    geometry = make_geometry(
        images.shape[1:], kernels.shape[1:], stride=stride, padding=padding, dilation=dilation
    )
    expected = reference_correlate(
        images, kernels, geometry.stride, geometry.pads, geometry.dilation, mode
    )
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, padding_mode=mode)
    with sklearn.config_context(working_memory=budget):
        looped = convolve(images, kernels, method="gemm", n_threads=threads, **kwargs)
        monkeypatch.setattr(skconv_gemm, "correlate_windows", None)
        patched = convolve(images, kernels, method="gemm", n_threads=threads, **kwargs)
        monkeypatch.undo()
    tol = 1e-4 * (1 + np.abs(expected).max())
    assert_allclose(looped, expected, rtol=1e-4, atol=tol)
    assert_allclose(patched, expected, rtol=1e-4, atol=tol)


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
