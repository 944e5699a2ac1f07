"""The compiled loops of values above biases: equal to numpy's comparisons.

``count_above`` counts them (MiniRocket's PPV); ``positive_stats`` updates
the partial states of MultiRocket's statistics, checked against the generic
definitions of :data:`skconv.pooling.PARTIALS` read position by position.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

compiled = pytest.importorskip("skconv.engine._stat_loops")
count_above, positive_stats = compiled.count_above, compiled.positive_stats


def reference_counts(maps, biases):
    """``counts[k, b, s]``: values of ``maps[k, s]`` above ``biases[k, b]``, by numpy."""
    return (maps[:, None, :, :] > biases[:, :, None, None]).sum(axis=-1).astype(np.int32)


@settings(max_examples=60, deadline=None)
@given(
    n_kernels=st.integers(1, 5),
    m=st.integers(1, 6),
    width=st.integers(1, 70),
    n_biases=st.integers(1, 11),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_counts_equal_numpy(n_kernels, m, width, n_biases, dtype, seed):
    rng = np.random.default_rng(seed)
    # Few distinct values, so that many values equal a bias (not counted).
    maps = rng.integers(-3, 4, (n_kernels, m, width)).astype(dtype)
    biases = rng.integers(-3, 4, (n_kernels, n_biases)).astype(dtype)
    start = rng.integers(0, 5, (n_kernels, n_biases, m)).astype(np.int32)
    counts = start.copy()
    count_above(maps, biases, counts)
    assert_array_equal(counts, start + reference_counts(maps, biases))


def test_nan_and_inf_compare_as_numpy_does():
    maps = np.array([[[np.nan, np.inf, -np.inf, 0.0, 1.0]]], dtype=np.float32)
    biases = np.array([[0.0, np.nan, -np.inf, np.inf, 0.5]], dtype=np.float32)
    counts = np.zeros((1, 5, 1), np.int32)
    count_above(maps, biases, counts)
    assert_array_equal(counts, reference_counts(maps, biases))


def test_empty_runs_add_nothing():
    counts = np.ones((2, 3, 4), np.int32)
    count_above(np.zeros((2, 4, 0), np.float32), np.zeros((2, 3), np.float32), counts)
    assert_array_equal(counts, 1)


def test_disagreeing_shapes_are_rejected():
    with pytest.raises(ValueError, match="disagree"):
        count_above(np.zeros((2, 4, 5)), np.zeros((2, 3)), np.zeros((2, 3, 5), np.int32))


def test_mixed_dtypes_are_rejected():
    with pytest.raises((TypeError, ValueError), match="dtype|type"):
        count_above(
            np.zeros((2, 4, 5), np.float32), np.zeros((2, 3)), np.zeros((2, 3, 4), np.int32)
        )


def reference_states(maps, biases, base):
    """The states of ``maps[k, s] - biases[k, b]`` read position by position, in float64."""
    d = maps[:, None, :, :].astype(np.float64) - biases[:, :, None, None]  # (K, B, m, W)
    positive = d > 0
    positions = base + np.arange(maps.shape[2])
    run = np.zeros(positive.shape[:3], dtype=np.int32)
    best = np.zeros_like(run)
    for w in range(maps.shape[2]):
        run = np.where(positive[..., w], run + 1, 0)
        best = np.maximum(best, run)
    return {
        "count": positive.sum(axis=-1),
        "possum": np.where(positive, d, 0.0).sum(axis=-1),
        "offsets": (positive * positions).sum(axis=-1).astype(np.float64),
        "run": run,
        "best": best,
    }


def empty_states(n_kernels, n_biases, m):
    shape = (n_kernels, n_biases, m)
    return {
        "count": np.zeros(shape, np.int32),
        "possum": np.zeros(shape),
        "offsets": np.zeros(shape),
        "run": np.zeros(shape, np.int32),
        "best": np.zeros(shape, np.int32),
    }


@settings(max_examples=60, deadline=None)
@given(
    n_kernels=st.integers(1, 4),
    m=st.integers(1, 5),
    width=st.integers(1, 90),
    n_biases=st.integers(1, 37),
    split=st.integers(1, 90),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_positive_stats_equal_the_states_read_position_by_position(
    n_kernels, m, width, n_biases, split, dtype, seed
):
    rng = np.random.default_rng(seed)
    # Few distinct values: many equal a bias (not positive), long runs.
    maps = rng.integers(-3, 4, (n_kernels, m, width)).astype(dtype)
    biases = rng.integers(-3, 4, (n_kernels, n_biases)).astype(dtype) - dtype(0.5) * (
        rng.random((n_kernels, n_biases)) < 0.5
    )
    states = empty_states(n_kernels, n_biases, m)
    # In two runs of positions: counts, sums and offsets add, runs carry over.
    for start in range(0, width, split):
        block = np.ascontiguousarray(maps[:, :, start : start + split])
        positive_stats(block, biases, 7 + start, *states.values())
    expected = reference_states(maps, biases, 7)
    for name in ("count", "offsets", "run", "best"):
        assert_array_equal(states[name], expected[name], err_msg=name)
    np.testing.assert_allclose(states["possum"], expected["possum"], rtol=1e-6)


def test_positive_stats_reject_disagreeing_shapes_and_overlong_runs():
    states = empty_states(2, 3, 4)
    with pytest.raises(ValueError, match="disagree"):
        positive_stats(np.zeros((2, 5, 6)), np.zeros((2, 3)), 0, *states.values())
    with pytest.raises(ValueError, match="disagree"):
        positive_stats(np.zeros((2, 4, 6)), np.zeros((3, 3)), 0, *states.values())
    with pytest.raises(ValueError, match="at most"):
        positive_stats(np.zeros((2, 4, 50_000)), np.zeros((2, 3)), 0, *states.values())


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 3),
    h=st.integers(1, 6),
    w=st.integers(1, 9),
    group=st.integers(1, 5),
    n_groups=st.integers(1, 3),
    n_regions=st.integers(1, 4),
    largest=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_group_wins_equal_the_competition_read_position_by_position(
    m, h, w, group, n_groups, n_regions, largest, dtype, seed
):
    from reference import group_wins as reference_wins

    rng = np.random.default_rng(seed)
    k = group * n_groups
    # Few distinct values: ties, which the first kernel of the group wins.
    maps = rng.integers(-2, 3, (m, h * w, k)).astype(dtype)
    regions = rng.integers(0, n_regions, h * w).astype(np.intp)
    counts, sums = np.ones((m, n_regions, k)), np.zeros((m, n_regions, k))
    compiled.group_wins(maps, regions, group, largest, counts, sums)
    won, values = reference_wins(np.moveaxis(maps, -1, 1)[..., None], group, largest)
    expected_counts = np.ones((m, n_regions, k))
    expected_sums = np.zeros((m, n_regions, k))
    for p in range(h * w):
        expected_counts[:, regions[p]] += won[:, :, p, 0]
        expected_sums[:, regions[p]] += values[:, :, p, 0]
    assert_array_equal(counts, expected_counts)
    assert_array_equal(sums, expected_sums)


def test_group_wins_reject_disagreeing_shapes_and_groups():
    maps, regions = np.zeros((2, 5, 6)), np.zeros(5, np.intp)
    states = np.zeros((2, 3, 6)), np.zeros((2, 3, 6))
    with pytest.raises(ValueError, match="disagree"):
        compiled.group_wins(maps, np.zeros(4, np.intp), 2, True, *states)
    with pytest.raises(ValueError, match="disagree"):
        compiled.group_wins(maps, regions, 2, True, np.zeros((2, 3, 5)), states[1])
    with pytest.raises(ValueError, match="divide"):
        compiled.group_wins(maps, regions, 4, True, *states)
    with pytest.raises(ValueError, match=r"\[0, R\)"):
        compiled.group_wins(maps, regions + 3, 2, True, *states)


def reference_region_maps(series, first, weights, taps, dilation, stride, start, stop):
    """``maps[k, s, p - start]``: kernel ``k`` (rows (tap, channel)) on series ``s``, by numpy."""
    m, n_channels, _ = series.shape
    positions = np.arange(start, stop)
    windows = np.stack(
        [
            series[:, c, first + positions * stride + t * dilation]
            for t in range(taps)
            for c in range(n_channels)
        ],
        axis=-1,
    )  # (m, P, taps * C)
    return np.einsum("spd,kd->ksp", windows, weights)


@settings(max_examples=80, deadline=None)
@given(
    m=st.integers(1, 5),
    n_channels=st.integers(1, 3),
    taps=st.integers(1, 9),
    n_kernels=st.integers(1, 6),
    n_biases=st.integers(1, 9),
    dilation=st.integers(1, 4),
    stride=st.integers(1, 3),
    n_positions=st.integers(1, 300),
    run=st.integers(1, 300),
    method=st.sampled_from(["gemm", "direct", "direct with alphas"]),
    counts_only=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_whole_region_equals_its_maps_counted(
    m,
    n_channels,
    taps,
    n_kernels,
    n_biases,
    dilation,
    stride,
    n_positions,
    run,
    method,
    counts_only,
    dtype,
    seed,
):
    # Small integers: every order of summation gives the same values, so the
    # compiled region (GEMM per run, or the direct loop, with or without the
    # shared sum of the taps) must equal numpy's maps folded by the loops above.
    rng = np.random.default_rng(seed)
    first = int(rng.integers(0, 4))
    start = int(rng.integers(0, 3))
    stop = start + n_positions
    length = first + (stop - 1) * stride + (taps - 1) * dilation + 1 + int(rng.integers(0, 3))
    series = rng.integers(-3, 4, (m, n_channels, length)).astype(dtype)
    alphas = rng.integers(-2, 3, n_kernels).astype(dtype)
    deltas = rng.integers(-2, 3, (n_kernels, taps * n_channels)) * rng.integers(0, 2, (1, 1))
    deltas = np.ascontiguousarray(deltas, dtype=dtype)
    weights = deltas + alphas[:, None] if method == "direct with alphas" else deltas
    biases = (rng.integers(-8, 9, (n_kernels, n_biases)) / 2).astype(dtype)
    maps = reference_region_maps(series, first, weights, taps, dilation, stride, start, stop)
    maps = np.ascontiguousarray(maps, dtype=dtype)
    shape = (n_kernels, n_biases, m)
    expected = [np.zeros(shape, np.int32)]
    got = [np.zeros(shape, np.int32)]
    if not counts_only:
        for states in (expected, got):
            states += [np.zeros(shape), np.zeros(shape), np.zeros(shape, np.int32)]
            states += [np.zeros(shape, np.int32)]
    if counts_only:
        count_above(maps, biases, expected[0])
    else:
        positive_stats(maps, biases, 0, *expected)
    direct = method != "gemm"
    work = np.empty(max(2, taps * n_channels, n_kernels) * m * run, dtype)
    compiled.biased_region(
        series,
        first,
        taps,
        dilation,
        stride,
        start,
        stop,
        run,
        deltas,
        biases,
        work,
        work.copy(),
        *got,
        direct=direct,
        alphas=alphas if method == "direct with alphas" else None,
    )
    for a, b in zip(got, expected):
        assert_array_equal(a, b)


def test_whole_region_rejects_what_it_cannot_read():
    series = np.zeros((2, 1, 20), np.float32)
    rows, biases = np.ones((3, 4), np.float32), np.zeros((3, 2), np.float32)
    work, counts = np.zeros(1000, np.float32), np.zeros((3, 2, 2), np.int32)
    with pytest.raises(ValueError, match="past the padded series"):
        compiled.biased_region(series, 0, 4, 2, 1, 0, 20, 8, rows, biases, work, work, counts)
    with pytest.raises(ValueError, match="disagree"):
        compiled.biased_region(series, 0, 3, 1, 1, 0, 5, 8, rows, biases, work, work, counts)
    with pytest.raises(ValueError, match="too small"):
        compiled.biased_region(
            series, 0, 4, 1, 1, 0, 5, 8, rows, biases, work[:10], work[:10], counts
        )
    deep = np.ones((3, 4 * 1100), np.float32)
    with pytest.raises(ValueError, match="at most 4096 taps"):
        compiled.biased_region(
            np.zeros((2, 1100, 20), np.float32),
            0,
            4,
            1,
            1,
            0,
            5,
            8,
            deep,
            biases,
            work,
            work,
            counts,
            direct=True,
        )
    with pytest.raises(ValueError, match="alphas"):
        compiled.biased_region(
            series,
            0,
            4,
            1,
            1,
            0,
            5,
            8,
            rows,
            biases,
            work,
            work,
            counts,
            direct=True,
            alphas=np.ones(2, np.float32),
        )
