"""Nonlinearities and pooling against explicit loops."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from reference import loop_pool

from skconv.pooling import (
    NONLINEARITIES,
    POOLINGS,
    WINDOWED_POOLINGS,
    gaussian_windows,
    grid_reduce,
    pool_maps,
    region_bounds,
)


@st.composite
def pooling_problems(draw):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    grid = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    poolings = tuple(draw(st.lists(st.sampled_from(POOLINGS), min_size=1, max_size=4, unique=True)))
    nonlinearity = draw(st.sampled_from([None, *NONLINEARITIES]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**31 - 1))
    maps = np.random.default_rng(seed).standard_normal((draw(st.integers(1, 3)), h, w, 3))
    maps[maps.__abs__() < 0.2] = 0.0  # exact zeros exercise the PPV boundary
    return maps.astype(dtype), nonlinearity, poolings, grid


@settings(max_examples=300, deadline=None)
@given(pooling_problems())
def test_pool_maps_matches_loops(problem):
    maps, nonlinearity, poolings, grid = problem
    # The three kernels compete as one group (the competing statistics).
    expected = loop_pool(np.moveaxis(maps, -1, 1), nonlinearity, poolings, grid, group=3)
    result = pool_maps(maps.copy(), nonlinearity, poolings, grid, group=3)
    assert result.dtype == maps.dtype
    tol = 1e-5 if maps.dtype == np.float32 else 1e-12
    assert_allclose(result, expected, rtol=tol, atol=tol)


@st.composite
def window_problems(draw):
    """Like :func:`pooling_problems`, with Gaussian windows (mean, sum, l2 only)."""
    maps, nonlinearity, _, grid = draw(pooling_problems())
    poolings = tuple(
        draw(st.lists(st.sampled_from(WINDOWED_POOLINGS), min_size=1, max_size=3, unique=True))
    )
    sigma = draw(st.floats(0.1, 3.0))
    return maps, nonlinearity, poolings, grid, sigma


@settings(max_examples=200, deadline=None)
@given(window_problems())
def test_gaussian_window_pooling_matches_loops(problem):
    maps, nonlinearity, poolings, grid, sigma = problem
    expected = loop_pool(np.moveaxis(maps, -1, 1), nonlinearity, poolings, grid, sigma)
    result = pool_maps(maps.copy(), nonlinearity, poolings, grid, sigma)
    assert result.dtype == maps.dtype
    tol = 1e-5 if maps.dtype == np.float32 else 1e-12
    assert_allclose(result, expected, rtol=tol, atol=tol)


def test_gaussian_windows_are_centred_normalised_and_overlapping():
    weights = gaussian_windows(28, 4, 0.5)
    assert weights.shape == (4, 28)
    assert_allclose(weights.sum(axis=1), 1.0)
    assert_array_equal(weights.argmax(axis=1), [3, 10, 17, 24])  # region centres
    assert (weights[:, 7:14].sum(axis=1) < 1).all() and weights[0, 7] > 0.01  # overlap
    with pytest.raises(ValueError, match="read-only"):
        weights[0, 0] = 1.0  # cached: callers must not change it


def test_wide_gaussian_windows_tend_to_the_global_statistics():
    maps = np.random.default_rng(0).random((2, 6, 5, 3))
    pooled = pool_maps(maps.copy(), None, ("mean", "l2"), (2, 2), sigma=1e6)
    expected = loop_pool(np.moveaxis(maps, -1, 1), None, ("mean", "l2"), (1, 1))
    assert_allclose(pooled.reshape(2, 3, 2, 4), np.repeat(expected.reshape(2, 3, 2, 1), 4, -1))


@pytest.mark.parametrize("length, n_regions", [(28, 2), (7, 3), (5, 5), (10, 1), (1, 1)])
def test_region_bounds_cover_the_axis_without_overlap(length, n_regions):
    bounds = region_bounds(length, n_regions)
    sizes = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == length
    assert sizes.min() >= 1 and sizes.max() - sizes.min() <= 1


def test_grid_reduce_quadrants():
    maps = np.arange(16.0).reshape(1, 4, 4, 1)
    assert_array_equal(grid_reduce(np.maximum, maps, (2, 2))[0, :, :, 0], [[5, 7], [13, 15]])
    assert_array_equal(grid_reduce(np.add, maps, (2, 2))[0, :, :, 0], [[10, 18], [42, 50]])


def test_one_pixel_regions_do_not_alias_the_maps():
    """max (fused, pooled early) must not share memory with the maps others read."""
    maps = np.random.default_rng(0).standard_normal((2, 3, 3, 2))
    result = pool_maps(maps.copy(), "tanh", ("max", "sum"), (3, 3))
    expected = loop_pool(np.moveaxis(maps, -1, 1), "tanh", ("max", "sum"), (3, 3))
    assert_allclose(result, expected, atol=1e-12)


@pytest.mark.parametrize("layout", ["channels_last", "batch_last"])
@pytest.mark.parametrize(
    "poolings, grid, sigma",
    [
        (("max",), (1, 1), None),
        (("ppv", "sum", "mean", "l2"), (2, 3), None),
        (("max",), (5, 6), None),
        (("l2", "sum", "mean"), (2, 3), 0.5),
    ],
)
@pytest.mark.parametrize("nonlinearity", [None, "relu", "tanh", "square"])
def test_pooled_features_in_both_layouts(layout, poolings, grid, sigma, nonlinearity):
    from skconv.engine.core import kernel_matrix, make_geometry
    from skconv.engine.features import PoolingSpec, conv_features

    rng = np.random.default_rng(0)
    images, kernels = rng.standard_normal((7, 2, 5, 6)), rng.standard_normal((3, 2, 3, 3))
    geometry = make_geometry((2, 5, 6), (2, 3, 3))
    maps = conv_features(
        images,
        geometry,
        kernel_matrix(kernels, np.float64),
        layout="channels_last",
    ).reshape(7, 3, 5, 6)
    expected = loop_pool(maps, nonlinearity, poolings, grid, sigma)
    result = conv_features(
        images,
        geometry,
        kernel_matrix(kernels, np.float64),
        PoolingSpec(nonlinearity, poolings, grid, sigma),
        batch_size=3,
        layout=layout,
    )
    assert_allclose(result, expected, atol=1e-12)


@pytest.mark.parametrize("length", [1, 2, 3, 255, 256, 257, 511, 1000, 1023])
def test_positive_counts_are_exact_past_uint8(length):
    """PPV counts accumulate in uint8 only while no partial sum can pass 255."""
    from skconv.pooling.regions import tree_reduce

    rng = np.random.default_rng(length)
    values = rng.random((3, length, 4)) < 0.9
    values[0] = True  # the largest count: every position positive
    counts = tree_reduce(np.add, values.view(np.uint8), 1, dtype=np.float32)
    assert counts.dtype == np.float32
    assert_array_equal(counts[:, 0], values.sum(axis=1))
