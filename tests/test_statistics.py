"""The statistics as aggregates: any tiling, in any order, split and merged, gives one result.

And MultiRocket's statistics (MPV, MIPV, LSPV) everywhere the others work:
with biases, regions, signals and images, tiled images on threads, dask.
References are the paper's definitions written as float64 loops
(``tests/reference.py``).
"""

import numpy as np
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from reference import (
    longest_stretch_of_positive_values,
    loop_pool,
    mean_index_of_positive_values,
    mean_of_positive_values,
)

from skconv import ArrayBank, ConvFeatures, convolve
from skconv.pooling import NONLINEARITIES, POOLINGS, Pooler, pool_maps
from skconv.pooling.statistics import merge_runs

MULTIROCKET = ("ppv", "mpv", "mipv", "lspv")


def test_reference_definitions_on_a_worked_example():
    region = np.array([[1.0, -2.0, 3.0], [4.0, 0.0, 5.0]])  # row-major: + - + + 0 +
    assert mean_of_positive_values(region) == pytest.approx((1 + 3 + 4 + 5) / 4)
    assert mean_index_of_positive_values(region) == pytest.approx((0 + 2 + 3 + 5) / 4 / 6)
    assert longest_stretch_of_positive_values(region) == pytest.approx(2 / 6)  # 3 then 4
    none = -np.ones((2, 2))
    assert mean_of_positive_values(none) == 0.0
    assert mean_index_of_positive_values(none) == -1.0
    assert longest_stretch_of_positive_values(none) == 0.0


@st.composite
def tilings(draw):
    """Maps, a grid, and the maps cut into tiles (any sizes) handed to two poolers."""
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    grid = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    maps = rng.standard_normal((draw(st.integers(1, 3)), h, w, draw(st.integers(1, 3))))
    maps[np.abs(maps) < 0.3] = 0.0  # zeros: not positive
    row_cuts = sorted(set(draw(st.lists(st.integers(1, max(1, h - 1)), max_size=3))) - {h})
    col_cuts = sorted(set(draw(st.lists(st.integers(1, max(1, w - 1)), max_size=3))) - {w})
    rows = list(zip([0, *row_cuts], [*row_cuts, h]))
    cols = list(zip([0, *col_cuts], [*col_cuts, w]))
    tiles = [(r, c) for r in rows for c in cols]
    order = draw(st.permutations(range(len(tiles))))
    split = draw(st.integers(0, len(tiles)))
    poolings = tuple(draw(st.lists(st.sampled_from(POOLINGS), min_size=1, max_size=4, unique=True)))
    nonlinearity = draw(st.sampled_from([None, *NONLINEARITIES]))
    return maps, grid, [tiles[i] for i in order], split, poolings, nonlinearity


@settings(max_examples=150, deadline=None)
@given(tilings())
def test_tiles_in_any_order_split_and_merged_equal_the_whole_maps(problem):
    maps, grid, tiles, split, poolings, nonlinearity = problem
    m, h, w, k = maps.shape
    # Every kernel in one competing group (the competing statistics).
    expected = loop_pool(np.moveaxis(maps, -1, 1), nonlinearity, poolings, grid, group=k)
    whole = pool_maps(maps.copy(), nonlinearity, poolings, grid, group=k)
    assert_allclose(whole, expected, rtol=1e-10, atol=1e-12)
    first, second = (
        Pooler(m, k, nonlinearity, poolings, grid, (h, w), None, group=k) for _ in range(2)
    )
    channels_first = np.ascontiguousarray(np.moveaxis(maps, -1, 1))
    for i, ((y0, y1), (x0, x1)) in enumerate(tiles):
        tile = channels_first[:, :, y0:y1, x0:x1].copy()
        (first if i < split else second).add(tile, y0, x0)
    first.merge(second)
    assert_allclose(first.finish(np.float64), expected, rtol=1e-10, atol=1e-12)


@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=6), min_size=1, max_size=5))
def test_merged_runs_equal_the_runs_of_the_concatenation(pieces):
    def summary(flags):
        flags = list(flags)
        prefix = next((i for i, f in enumerate(flags) if not f), len(flags))
        suffix = next((i for i, f in enumerate(reversed(flags)) if not f), len(flags))
        best = run = 0
        for f in flags:
            run = run + 1 if f else 0
            best = max(best, run)
        return len(flags), np.float64(prefix), np.float64(suffix), np.float64(best)

    total = summary(pieces[0])
    for piece in pieces[1:]:
        total = merge_runs(total, summary(piece))
    assert tuple(float(v) for v in total) == tuple(float(v) for v in summary(sum(pieces, [])))


def _reference_features(X, kernels, biases, poolings, grid, image_shape, stride=1):
    """Convolve, subtract each bias, pool with the loop reference: (n, K * B * S * regions)."""
    maps = convolve(X.reshape(-1, *image_shape), kernels, stride=stride, padding="same")
    if maps.ndim == 3:  # signals: (n, K, L) -> (n, K, 1, L)
        maps = maps[:, :, None]
    parts = [
        loop_pool(maps - biases[None, :, j, None, None], None, poolings, grid).reshape(
            len(X), kernels.shape[0], -1
        )
        for j in range(biases.shape[1])
    ]
    return np.stack(parts, axis=2).reshape(len(X), -1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multirocket_statistics_with_biases_on_signals(dtype):
    rng = np.random.RandomState(0)
    X = rng.randn(30, 50).astype(dtype)
    kernels = rng.randn(4, 9)
    conv = ConvFeatures(
        ArrayBank(kernels),
        image_shape=(50,),
        nonlinearity=None,
        pooling=MULTIROCKET,
        pool_grid=2,
        n_biases=3,
        random_state=0,
    ).fit(X)
    features = conv.transform(X)
    biases = np.asarray(conv.biases_[0], dtype=np.float64)
    expected = _reference_features(
        X.astype(np.float64), kernels, biases, MULTIROCKET, (1, 2), (50,)
    )
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert features.dtype == dtype
    assert_allclose(features, expected, rtol=tol, atol=tol)
    names = conv.get_feature_names_out()
    assert any(name.endswith("_lspv_r1") for name in names) and len(names) == features.shape[1]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_multirocket_statistics_on_large_tiled_images_across_threads(n_jobs):
    rng = np.random.RandomState(1)
    images = rng.randn(3, 70, 60)
    kernels = rng.randn(2, 5, 5)
    conv = ConvFeatures(
        ArrayBank(kernels),
        nonlinearity=None,
        pooling=("mpv", "mipv", "lspv", "max"),
        pool_grid=(2, 3),
        n_jobs=n_jobs,
    ).fit(images)
    with sklearn.config_context(working_memory=0.02):  # many tiles per image
        features = conv.transform(images)
    maps = convolve(images, kernels, padding="same")
    expected = loop_pool(maps, None, ("mpv", "mipv", "lspv", "max"), (2, 3))
    assert_allclose(features, expected, rtol=1e-10, atol=1e-12)


def test_multirocket_statistics_on_dask_blocks():
    da = pytest.importorskip("dask.array")
    rng = np.random.RandomState(2)
    X = rng.randn(40, 64)
    conv = ConvFeatures(image_shape=(8, 8), pooling=MULTIROCKET, pool_grid=2).fit(X)
    lazy = conv.transform(da.from_array(X, chunks=(13, 64)))
    assert_allclose(lazy.compute(), conv.transform(X), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 3),
    h=st.integers(1, 5),
    w=st.integers(1, 12),
    group=st.integers(2, 4),
    n_groups=st.integers(1, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_competing_statistics_with_and_without_the_compiled_loop_agree(
    m, h, w, group, n_groups, dtype, seed
):
    import skconv.pooling.statistics as statistics

    rng = np.random.default_rng(seed)
    maps = rng.integers(-2, 3, (m, h, w, group * n_groups)).astype(dtype)  # ties
    grid = (rng.integers(1, h + 1), rng.integers(1, w + 1))
    poolings = ("max_wins", "max_wins_sum", "min_wins", "min_wins_sum")
    compiled = pool_maps(maps.copy(), None, poolings, grid, group=group)
    original = statistics._group_wins_loop
    statistics._group_wins_loop = lambda: None
    try:
        generic = pool_maps(maps.copy(), None, poolings, grid, group=group)
    finally:
        statistics._group_wins_loop = original
    assert_allclose(compiled, generic)
    expected = loop_pool(np.moveaxis(maps, -1, 1), None, poolings, grid, group=group)
    assert_allclose(compiled, expected)


def test_competing_statistics_need_whole_groups():
    maps = np.zeros((1, 3, 3, 5))
    with pytest.raises(ValueError, match="kernel_groups"):
        pool_maps(maps, None, ("max_wins",), (1, 1), group=2)
    with pytest.raises(ValueError, match="kernel_groups"):
        pool_maps(maps, None, ("min_wins_sum",), (1, 1))
