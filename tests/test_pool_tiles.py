"""Pooling fused across tiles: equal to pooling the whole maps, in bounded memory."""

import tracemalloc

import numpy as np
import pytest
import sklearn
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from reference import loop_pool, reference_correlate

from skconv import ConvFeatures, GaborBank, PatchBank
from skconv.engine.cache import BUFFERS
from skconv.engine.core import kernel_matrix, make_geometry
from skconv.engine.features import PoolingSpec, conv_features
from skconv.engine.fft import KernelSpectra
from skconv.pooling import POOLINGS, Pooler
from skconv.pooling.regions import overlaps

NONLINEARITIES = [None, "relu", "abs", "square", "tanh", "sigmoid"]


@st.composite
def pooled_problems(draw):
    n_axes = draw(st.sampled_from([1, 2]))
    spatial = tuple(draw(st.integers(4, 30)) for _ in range(n_axes))
    ksize = tuple(draw(st.integers(1, 5)) for _ in range(n_axes))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(n_axes))
    c, k, n = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sigma = draw(st.sampled_from([None, None, 0.5]))
    options = ["mean", "sum", "l2"] if sigma else list(POOLINGS)
    poolings = tuple(draw(st.lists(st.sampled_from(options), min_size=1, max_size=3, unique=True)))
    geometry = make_geometry((c, *spatial), (c, *ksize), stride=stride)
    grid = tuple(draw(st.integers(1, 3)) for _ in range(2 - (n_axes == 1)))
    grid = (1, *grid) if n_axes == 1 else grid
    assume(all(g <= o for g, o in zip(grid, geometry.out_shape)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    images = rng.standard_normal((n, c, *geometry.in_shape))
    kernels = rng.standard_normal((k, c, *geometry.kernel_shape))
    return dict(
        images=images,
        kernels=kernels,
        geometry=geometry,
        grid=grid,
        sigma=sigma,
        poolings=poolings,
        nonlinearity=draw(st.sampled_from(NONLINEARITIES)),
        method=draw(st.sampled_from(["gemm", "fft"])),
        budget=draw(st.sampled_from([0.002, 0.02])),
        n_threads=draw(st.integers(1, 2)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooled_problems())
def test_tiled_pooling_matches_loops_over_whole_maps(problem):
    g = problem["geometry"]
    maps = reference_correlate(problem["images"], problem["kernels"], g.stride, g.pads, g.dilation)
    k = problem["kernels"].shape[0]  # every kernel in one competing group
    expected = loop_pool(
        maps,
        problem["nonlinearity"],
        problem["poolings"],
        problem["grid"],
        problem["sigma"],
        group=k,
    )
    with sklearn.config_context(working_memory=problem["budget"]):
        result = conv_features(
            problem["images"],
            g,
            kernel_matrix(problem["kernels"], np.float64),
            PoolingSpec(
                problem["nonlinearity"],
                problem["poolings"],
                problem["grid"],
                problem["sigma"],
                group=k,
            ),
            n_threads=problem["n_threads"],
            method=problem["method"],
            spectra=KernelSpectra(problem["kernels"], g.dilation),
        )
    assert_allclose(result, expected, rtol=1e-9, atol=1e-9)


def test_overlaps_split_a_tile_at_region_bounds():
    bounds = np.array([0, 3, 6, 10])
    assert overlaps(bounds, 0, 10) == [(0, 0, 3), (1, 3, 6), (2, 6, 10)]
    assert overlaps(bounds, 4, 7) == [(1, 0, 2), (2, 2, 3)]
    assert overlaps(bounds, 6, 8) == [(2, 0, 2)]


def test_poolers_of_split_tiles_merge_to_the_whole():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((2, 3, 12, 10))
    kwargs = dict(
        nonlinearity="relu",
        poolings=("max", "mean", "ppv", "l2"),
        grid=(3, 2),
        out_shape=(12, 10),
        sigma=None,
    )
    whole = Pooler(2, 3, **kwargs)
    whole.add(maps.copy(), 0, 0)
    top, bottom = Pooler(2, 3, **kwargs), Pooler(2, 3, **kwargs)
    top.add(maps[:, :, :5].copy(), 0, 0)
    bottom.add(maps[:, :, 5:].copy(), 5, 0)
    top.merge(bottom)
    assert_allclose(top.finish(np.float64), whole.finish(np.float64))


@pytest.mark.parametrize("method", ["gemm", "fft"])
def test_estimator_features_do_not_depend_on_tiling(method):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (3, 96, 80))
    conv = ConvFeatures(
        GaborBank(kernel_size=9, n_orientations=4),
        pool_grid=3,
        pooling=("max", "mean", "ppv"),
        method=method,
    ).fit(X)
    whole = conv.transform(X)
    with sklearn.config_context(working_memory=0.05):
        tiled = conv.transform(X)
    assert_allclose(tiled, whole, rtol=1e-9, atol=1e-12)


def test_learned_banks_are_tiled_too():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (4, 60, 60))
    conv = ConvFeatures(
        PatchBank(n_kernels=8, kernel_size=5, random_state=0),
        nonlinearity="triangle",
        pool_grid=2,
        random_state=0,
    ).fit(X)
    assert conv.method_ == "gemm"
    whole = conv.transform(X)
    with sklearn.config_context(working_memory=0.05):
        tiled = conv.transform(X)
    assert_allclose(tiled, whole, rtol=1e-8, atol=1e-10)


def test_fft_is_refused_for_learned_banks():
    X = np.random.default_rng(0).uniform(0, 1, (4, 20, 20))
    conv = ConvFeatures(PatchBank(n_kernels=4, kernel_size=3, random_state=0), method="fft")
    with pytest.raises(ValueError, match="method='fft'"):
        conv.fit(X)


def _traced_working_mib(func, output_bytes):
    tracemalloc.start()
    tracemalloc.reset_peak()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - output_bytes) / 2**20


@pytest.mark.parametrize("method", ["gemm", "fft"])
def test_pooled_working_memory_does_not_grow_with_the_image(method):
    rng = np.random.default_rng(0)
    conv = ConvFeatures(GaborBank(kernel_size=15, n_orientations=4), pool_grid=4, method=method)
    conv.fit(rng.uniform(0, 1, (1, 256, 256)).astype(np.float32))
    usage = []
    for size in (256, 1024):
        X = rng.uniform(0, 1, (1, size, size)).astype(np.float32)
        conv.set_params()  # the fitted geometry needs the same image size: refit
        conv.fit(X)
        with sklearn.config_context(working_memory=8):
            BUFFERS.clear()  # each size allocates its own buffers, whatever ran before
            usage.append(_traced_working_mib(lambda X=X: conv.transform(X), 0))
    # 16x the pixels; the maps alone would be 16 kernels x 4 MiB = 64 MiB. The
    # working memory stays within the budget (8 MiB), at most 1 MiB above it.
    assert usage[0] < 9
    assert usage[1] < 9
