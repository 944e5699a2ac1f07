"""The biased-PPV path for signals: the same features as the generic engine."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_settings import with_fixtures
from numpy.testing import assert_allclose, assert_array_equal
from reference import assert_equal_but_for_ties

import skconv.engine.series as series_path
import skconv.engine.transform as engine_transform
from skconv import ArrayBank, ConvFeatures, make_minirocket
from skconv.engine.planner import series_applies
from skconv.engine.series import _sum_positions


@pytest.fixture(params=["compiled", "numpy"])
def counts(request, monkeypatch):
    """Run a test with the compiled counts, then with numpy's (as without a C compiler)."""
    if request.param == "numpy":
        monkeypatch.setattr(series_path, "compiled_count_above", None)
    elif series_path.compiled_count_above is None:
        pytest.skip("skconv.engine._stat_loops was not built")
    return request.param


def generic_transform(conv, X, monkeypatch):
    """``conv.transform`` with the series path switched off (the generic engine)."""
    with monkeypatch.context() as patch:
        patch.setattr(engine_transform, "series_applies", lambda *args: False)
        return conv.transform(X)


def fits_on_the_series_path(conv, X):
    """Fit ``conv``; False when its maps are shorter than the grid (the error says so).

    Fitted, it must take the series path.
    """
    try:
        conv.fit(X)
    except ValueError as exc:  # maps shorter than the grid
        assert "pool_grid" in str(exc)
        return False
    assert conv.explain(X).rows()[0]["path"] == "series"
    return True


@with_fixtures(30)
@given(
    n=st.integers(1, 150),
    length=st.integers(10, 60),
    channels=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.sampled_from(["same", "alternate", "valid"]),
    mode=st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap"]),
    grid=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_series_path_equals_the_generic_engine(
    monkeypatch, counts, n, length, channels, stride, padding, mode, grid, seed
):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((max(n, 2), channels * length))
    kernels = rng.standard_normal((5, channels, 1, 4))
    conv = ConvFeatures(
        ArrayBank(kernels),
        image_shape=(channels, 1, length),
        stride=stride,
        padding=padding,
        padding_mode=mode,
        dilation=[1, 2, 3],
        n_biases=7,
        nonlinearity="relu",
        pooling="ppv",
        pool_grid=(1, grid),
        random_state=seed,
    )
    if not fits_on_the_series_path(conv, X):
        return
    assert_allclose(conv.transform(X), generic_transform(conv, X, monkeypatch), atol=1e-12)


@with_fixtures(30)
@given(
    n=st.integers(1, 80),
    length=st.integers(10, 70),
    stride=st.integers(1, 3),
    padding=st.sampled_from(["same", "alternate", "valid"]),
    poolings=st.lists(
        st.sampled_from(["ppv", "mpv", "mipv", "lspv"]), min_size=1, max_size=4, unique=True
    ).filter(lambda p: p != ["ppv"]),
    nonlinearity=st.sampled_from([None, "relu"]),
    grid=st.integers(1, 3),
    dtype=st.sampled_from(["float32", "float64"]),
    run_bytes=st.sampled_from([500, 4 << 20]),
    seed=st.integers(0, 1000),
)
def test_multirocket_statistics_on_the_series_path_equal_the_generic_engine(
    monkeypatch, n, length, stride, padding, poolings, nonlinearity, grid, dtype, run_bytes, seed
):
    if series_path.compiled_positive_stats is None:
        pytest.skip("skconv.engine._stat_loops was not built")
    # Small runs of positions: runs of positive values carried from one to the next.
    monkeypatch.setattr(series_path, "_RUN_BYTES", run_bytes)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((max(n, 2), length)).cumsum(axis=1)
    conv = ConvFeatures(
        ArrayBank(rng.standard_normal((6, 1, 1, 5))),
        stride=stride,
        padding=padding,
        dilation=[1, 2, 4],
        n_biases=9,
        nonlinearity=nonlinearity,
        pooling=tuple(poolings),
        pool_grid=(1, grid),
        random_state=seed,
        dtype=dtype,
    )
    if not fits_on_the_series_path(conv, X):
        return
    tolerance = 1e-4 if dtype == "float32" else 1e-9
    got, expected = conv.transform(X), generic_transform(conv, X, monkeypatch)
    assert got.dtype == expected.dtype == np.dtype(dtype)
    assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_multirocket_statistics_without_the_compiled_loop_take_the_generic_path(monkeypatch):
    monkeypatch.setattr(series_path, "compiled_positive_stats", None)
    X = np.random.default_rng(0).standard_normal((6, 60))
    conv = ConvFeatures(dilation=[1, 2], n_biases=3, pooling=("ppv", "lspv")).fit(X)
    assert {row["path"] for row in conv.explain(X).rows()} == {"batches"}


def test_long_series_run_in_several_runs_and_threads(monkeypatch, counts):
    monkeypatch.setattr(series_path, "_RUN_BYTES", 3000)  # runs of a few positions
    monkeypatch.setattr(series_path, "_BATCH_SERIES", 7)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 700))
    conv = make_minirocket(840, random_state=0, n_jobs=2).fit(X)
    assert_allclose(conv.transform(X), generic_transform(conv, X, monkeypatch), atol=1e-12)


def test_sum_positions_counts_in_place():
    rng = np.random.default_rng(0)
    above = rng.random((3, 2, 255, 5)) > 0.3
    expected = above.sum(axis=2)
    got = _sum_positions(above.view(np.uint8).copy(), 255)
    assert_array_equal(got, expected)
    series_major = np.ascontiguousarray(above.transpose(0, 1, 3, 2)).view(np.uint8)
    assert_array_equal(_sum_positions(series_major, 255, series_major=True), expected)


@pytest.mark.parametrize("batch", [5, 63, 64, 100])
def test_both_batch_layouts_give_the_generic_features(monkeypatch, counts, batch):
    # Batches under _SERIES_MAJOR_BELOW series are stored series-major.
    monkeypatch.setattr(series_path, "_BATCH_SERIES", batch)
    monkeypatch.setattr(series_path, "_BATCH_SERIES_COMPILED", batch)
    rng = np.random.default_rng(batch)
    X = rng.standard_normal((130, 90))
    conv = make_minirocket(840, random_state=0, padding="alternate").fit(X)
    # The compiled loop sums MiniRocket's kernels as -1 on every tap plus 3
    # on three: in float32 a value on its bias may round to either side.
    assert_equal_but_for_ties(conv.transform(X), generic_transform(conv, X, monkeypatch), 90)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_and_numpy_counts_give_the_same_features(monkeypatch, dtype):
    if series_path.compiled_count_above is None:
        pytest.skip("skconv.engine._stat_loops was not built")
    X = np.random.default_rng(3).standard_normal((70, 200)).astype(dtype)
    conv = make_minirocket(random_state=0, padding="alternate", padding_mode="edge", dtype=None)
    compiled = conv.fit(X).transform(X)
    monkeypatch.setattr(series_path, "compiled_count_above", None)
    assert compiled.dtype == dtype
    if dtype == np.float64:
        assert_array_equal(compiled, conv.transform(X))
    else:  # the compiled direct loop sums in another order
        assert_equal_but_for_ties(compiled, conv.transform(X), 200)


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "edge", "wrap"])
def test_padding_once_by_the_widest_pads_serves_every_dilation(mode):
    # Pads shorter than the series (all a valid dilation span allows) are the
    # middle of the widest padding, in every mode and numpy version.
    length = 9
    pads = [(a, b) for a in range(length) for b in range(length)]
    widest, shared = series_path.shared_padding(length, pads, mode)
    assert widest == (length - 1, length - 1)
    assert all(shared)


def test_groups_not_served_by_the_widest_padding_pad_their_own(monkeypatch):
    def nothing_shared(length, pads, padding_mode):
        return (max(a for a, _ in pads), max(b for _, b in pads)), [False] * len(pads)

    X = np.random.default_rng(4).standard_normal((20, 80))
    conv = make_minirocket(840, random_state=0, padding_mode="reflect").fit(X)
    expected = conv.transform(X)
    monkeypatch.setattr(series_path, "shared_padding", nothing_shared)
    assert_array_equal(conv.transform(X), expected)
    assert_allclose(expected, generic_transform(conv, X, monkeypatch), atol=1e-12)


def test_other_specs_take_the_generic_engine():
    conv = ConvFeatures(dilation=[1, 2], n_biases=3, pooling=("ppv", "max"))
    conv.fit(np.random.default_rng(0).standard_normal((4, 50)))
    X = np.random.default_rng(0).standard_normal((4, 50))
    assert {row["path"] for row in conv.explain(X).rows()} == {"batches"}
    geometries = [part.geometry for group in conv._groups for part in group]
    assert series_applies(geometries, ("ppv",), None, False, True)
    assert not series_applies(geometries, ("ppv",), "abs", False, True)
    assert not series_applies(geometries, ("ppv",), None, True, True)  # learned
    assert not series_applies(geometries, ("ppv",), None, False, False)  # no biases
    assert not series_applies(geometries, ("mpv",), "tanh", False, True)  # changes the values
    assert not series_applies(geometries, ("ppv", "max"), None, False, True)


def test_the_plan_names_the_direct_loop_for_minirocket_kernels_only():
    if series_path.compiled_biased_region is None:
        pytest.skip("skconv.engine._stat_loops was not built")
    X = np.random.default_rng(0).standard_normal((20, 60))
    minirocket = make_minirocket(840, random_state=0).fit(X)
    assert minirocket.explain(X).rows()[0]["method"] == "direct"
    kernels = np.random.default_rng(1).standard_normal((5, 1, 1, 4))
    random = ConvFeatures(
        ArrayBank(kernels), image_shape=(1, 1, 60), n_biases=3, pooling="ppv", random_state=0
    ).fit(X)
    row = random.explain(X).rows()[0]
    assert (row["path"], row["method"]) == ("series", "gemm")
