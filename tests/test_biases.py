"""Biases fitted from the data: quantiles, the biased features, and their checks."""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from reference import loop_pool, reference_correlate
from sklearn.base import clone

from skconv import ArrayBank, ConvFeatures, RandomBank
from skconv._biases import biases_from_maps, quantile_levels

RNG = np.random.default_rng(0)


def test_quantile_levels_are_the_golden_ratio_sequence():
    levels = quantile_levels(5)
    phi = (1 + 5**0.5) / 2
    assert_allclose(levels, [(i * phi) % 1 for i in range(1, 6)])
    assert np.all((levels > 0) & (levels < 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_biases_are_numpy_quantiles(dtype):
    maps = RNG.standard_normal((7, 40)).astype(dtype)
    levels = quantile_levels(7 * 3)
    expected = [np.quantile(row, q) for row, q in zip(maps, levels.reshape(7, 3))]
    got = biases_from_maps(maps, 3, levels)
    assert got.dtype == dtype
    assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 0, atol=1e-7)


def direct_maps(X, kernels, dilation, padding, mode):
    """Maps ``(n, K, L_out)`` of 1-D rows by scipy correlation (tests/reference.py)."""
    span = dilation * (kernels.shape[-1] - 1)
    pads = {"same": (span // 2, span - span // 2), "valid": (0, 0)}[padding]
    images = X[:, None, None, :]
    return reference_correlate(
        images, kernels[:, :, None, :], (1, 1), [(0, 0), pads], (1, dilation), mode
    )[:, :, 0, :]


def direct_biases(X, kernels, dilations, counts, seed, mode):
    """MiniRocket's rule, written out: one drawn sample per (dilation, kernel), quantiles."""
    rng = np.random.RandomState(seed)
    levels = quantile_levels(len(kernels) * sum(counts))
    out, offset = [], 0
    for dilation, count in zip(dilations, counts):
        chosen = rng.randint(len(X), size=len(kernels))
        group = []
        for k, i in enumerate(chosen):
            row = direct_maps(X[i : i + 1], kernels[k : k + 1], dilation, "same", mode)[0, 0]
            group.append(np.quantile(row, levels[offset : offset + count]))
            offset += count
        out.append(np.array(group))
    return out


def direct_features(X, kernels, dilations, biases, padding, mode, n_regions=1):
    """``mean(map > bias)`` per region, with explicit loops, in the estimator's order."""
    features = []
    for g, (dilation, group_biases) in enumerate(zip(dilations, biases)):
        maps = direct_maps(X, kernels, dilation, "same", mode)
        span = dilation * (kernels.shape[-1] - 1)
        for k in range(len(kernels)):
            values = maps[:, k]
            if padding == "alternate" and (g + k) % 2:  # valid part only
                values = values[:, span // 2 : values.shape[1] - (span - span // 2)]
            for b in group_biases[k]:
                bounds = [(r * values.shape[1]) // n_regions for r in range(n_regions + 1)]
                for r in range(n_regions):
                    features.append(np.mean(values[:, bounds[r] : bounds[r + 1]] > b, axis=1))
    n_kernels, n_biases = len(kernels), [len(b[0]) for b in biases]
    # Loops ran (group, kernel, bias, region): the estimator's order.
    assert len(features) == n_kernels * sum(n_biases) * n_regions
    return np.array(features).T


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    length=st.integers(12, 80),
    n_kernels=st.integers(1, 5),
    kernel_size=st.integers(2, 6),
    dilation=st.sampled_from(["exponential", [1], [1, 2], [2, 3]]),
    n_biases=st.integers(1, 9),
    padding=st.sampled_from(["same", "alternate"]),
    mode=st.sampled_from(["constant", "reflect", "edge", "wrap"]),
    n_regions=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_biased_ppv_matches_a_direct_computation(
    length, n_kernels, kernel_size, dilation, n_biases, padding, mode, n_regions, seed
):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((5, length))
    kernels = rng.standard_normal((n_kernels, 1, kernel_size))
    conv = ConvFeatures(
        ArrayBank(kernels),
        dilation=dilation,
        n_biases=n_biases,
        padding=padding,
        padding_mode=mode,
        nonlinearity=None,
        pooling="ppv",
        pool_grid=n_regions,
        random_state=seed,
    )
    listed = dilation if isinstance(dilation, list) else []
    if any(d * (kernel_size - 1) + 1 > length for d in listed):
        with pytest.raises(ValueError, match="dilation"):
            conv.fit(X)
        return
    try:
        conv.fit(X)
    except ValueError as exc:  # valid maps shorter than the grid ("alternate" only)
        assert padding == "alternate" and "pool_grid" in str(exc)
        return
    dilations = [d[0] for d in conv.dilations_]
    counts = [b.shape[1] for b in conv.biases_]
    assert sum(counts) == n_biases
    expected_biases = direct_biases(X, kernels, dilations, counts, seed, mode)
    for got, expected in zip(conv.biases_, expected_biases):
        assert_allclose(got, expected, atol=1e-10)
    expected = direct_features(X, kernels, dilations, conv.biases_, padding, mode, n_regions)
    assert_allclose(conv.transform(X), expected, atol=1e-12)


@pytest.mark.parametrize("pooling", [("max", "mean"), "l2", ("ppv", "sum")])
@pytest.mark.parametrize("nonlinearity", ["relu", "abs"])
def test_other_poolings_pool_the_shifted_maps(pooling, nonlinearity):
    X = RNG.standard_normal((6, 200))
    kernels = RNG.standard_normal((3, 1, 4, 4))
    conv = ConvFeatures(
        ArrayBank(kernels),
        image_shape=(10, 20),
        n_biases=3,
        pool_grid=(2, 3),
        pooling=pooling,
        nonlinearity=nonlinearity,
        random_state=0,
    ).fit(X)
    maps = reference_correlate(X.reshape(6, 1, 10, 20), kernels, (1, 1), [(1, 2), (1, 2)], (1, 1))
    poolings = (pooling,) if isinstance(pooling, str) else pooling
    biases = conv.biases_[0]
    expected = np.stack(
        [
            loop_pool(maps - biases[:, j, None, None], nonlinearity, poolings, (2, 3)).reshape(
                6, 3, -1
            )
            for j in range(3)
        ],
        axis=2,
    )
    assert_allclose(conv.transform(X), expected.reshape(6, -1), atol=1e-10)


def test_biases_through_the_tiled_and_fft_paths():
    X = RNG.standard_normal((2, 64 * 64))
    params = dict(
        image_shape=(64, 64), n_biases=4, pooling=("ppv", "max"), pool_grid=2, random_state=0
    )
    bank = RandomBank(n_kernels=3, kernel_size=11)
    gemm = ConvFeatures(bank, method="gemm", **params).fit(X)
    fft = ConvFeatures(bank, method="fft", **params).fit(X)
    assert_allclose(gemm.biases_[0], fft.biases_[0])
    with __import__("sklearn").config_context(working_memory=1):  # force tiles
        tiled = gemm.transform(X)
        assert_allclose(fft.transform(X), tiled, atol=1e-6)
    assert_allclose(gemm.transform(X), tiled, atol=1e-9)


def test_biases_are_reproducible_and_pickle():
    X = RNG.standard_normal((20, 100))
    a = ConvFeatures(
        image_shape=(100,), dilation="exponential", n_biases=12, pooling="ppv", random_state=3
    ).fit(X)
    b = clone(a).fit(X)
    for x, y in zip(a.biases_, b.biases_):
        assert_array_equal(x, y)
    copy = pickle.loads(pickle.dumps(a))
    assert_array_equal(copy.transform(X), a.transform(X))
    names = a.get_feature_names_out()
    assert names[0] == "convfeatures_d1_k0_b0_ppv" and len(names) == a.transform(X).shape[1]


def test_float32_input_keeps_float32_biases():
    X = RNG.standard_normal((10, 90)).astype(np.float32)
    conv = ConvFeatures(dilation=[1, 2], n_biases=4, pooling="ppv").fit(X)
    assert all(b.dtype == np.float32 for b in conv.biases_)
    assert conv.transform(X).dtype == np.float32


@pytest.mark.parametrize(
    "params, X, match",
    [
        (dict(n_biases=3), RNG.standard_normal((1, 50)), "at least 2 samples"),
        (dict(n_biases=3, pooling=None), RNG.standard_normal((4, 50)), "needs pooling"),
        (dict(n_biases=3, nonlinearity="triangle"), RNG.standard_normal((4, 50)), "encoder"),
        (dict(n_biases=0), RNG.standard_normal((4, 50)), "n_biases"),
        (dict(n_biases=2.5), RNG.standard_normal((4, 50)), "n_biases"),
        (dict(padding="alternate", pooling=None), RNG.standard_normal((4, 50)), "alternate"),
        (
            dict(padding="alternate", pool_grid=12, dilation=10),
            RNG.standard_normal((4, 50)),
            "pool_grid",
        ),
    ],
)
def test_bad_bias_settings_are_refused(params, X, match):
    with pytest.raises(ValueError, match=match):
        ConvFeatures(**params).fit(X)
