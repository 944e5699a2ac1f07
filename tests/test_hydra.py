"""Hydra: competing kernels (HydraBank, the competing statistics, make_hydra, SparseScaler).

The reference is Hydra's algorithm written directly (Dempster et al. 2023):
zero-padded dilated convolutions of the series and of its difference, at
each position the kernel of each group with the largest response adds that
response to its soft count and the one with the smallest adds 1 to its hard
count.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline

from skconv import (
    ArrayBank,
    ConvFeatures,
    HydraBank,
    SparseScaler,
    make_hydra,
    make_multirockethydra,
)
from skconv._dilations import dyadic_dilations


def hydra_reference(series, kernels, group, dilations):
    """Hydra's features of ``series`` (n, C, L) for ``kernels`` (K, C, 9), by loops.

    Per dilation, per kernel: (soft count of max wins, hard count of min wins).
    """
    n, _, length = series.shape
    k, _, taps = kernels.shape
    out = []
    for d in dilations:
        pad = (taps - 1) * d // 2
        padded = np.pad(series, ((0, 0), (0, 0), (pad, pad)))
        width = length + 2 * pad - (taps - 1) * d
        maps = np.zeros((n, k, width))
        for t in range(taps):
            maps += np.einsum("kc,ncw->nkw", kernels[:, :, t], padded[:, :, t * d : t * d + width])
        soft, hard = np.zeros((n, k)), np.zeros((n, k))
        for i in range(n):
            for p in range(width):
                for g in range(0, k, group):
                    column = maps[i, g : g + group, p]
                    soft[i, g + int(np.argmax(column))] += column.max()
                    hard[i, g + int(np.argmin(column))] += 1
        out.append(np.stack([soft, hard], axis=2).reshape(n, -1))
    return np.concatenate(out, axis=1)


def test_hydra_bank_draws_zero_mean_unit_l1_kernels_in_groups():
    bank = HydraBank(4, group_size=3, random_state=0).fit(np.zeros((2, 1, 50)))
    kernels = bank.kernels_
    assert kernels.shape == (12, 1, 9)
    assert_allclose(kernels.sum(axis=-1), 0, atol=1e-12)
    assert_allclose(np.abs(kernels).sum(axis=-1), 1)
    same = HydraBank(4, group_size=3, random_state=0).fit(np.zeros((2, 1, 50))).kernels_
    assert_array_equal(kernels, same)


def test_hydra_bank_groups_share_their_drawn_channels():
    kernels = HydraBank(5, group_size=4, random_state=1).fit(np.zeros((2, 6, 40))).kernels_
    assert kernels.shape == (20, 6, 9)
    for g in range(5):
        used = np.abs(kernels[4 * g : 4 * g + 4]).sum(axis=-1) > 0  # (4, C)
        assert (used == used[0]).all() and 1 <= used[0].sum() <= 3  # clip(6 // 2, 2, 8)
        # A channel drawn twice weighs twice: ratios of the channels' taps are integers.
        weights = kernels[4 * g, used[0]]
        ratios = np.abs(weights).sum(axis=-1) / np.abs(weights).sum(axis=-1).min()
        assert_allclose(ratios, np.round(ratios))


def test_hydra_bank_refuses_images():
    with pytest.raises(ValueError, match="time series"):
        HydraBank().fit(np.zeros((2, 1, 8, 8)))


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 6),
    channels=st.integers(1, 3),
    length=st.integers(9, 80),
    dtype=st.sampled_from(["float32", "float64"]),
    seed=st.integers(0, 1000),
)
def test_competing_features_equal_hydras_algorithm(n, channels, length, dtype, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, channels, length)).cumsum(axis=-1)
    conv = ConvFeatures(
        HydraBank(3, group_size=4, random_state=seed),
        dilation="dyadic",
        nonlinearity=None,
        pooling=("max_wins_sum", "min_wins"),
        pool_grid=1,
        dtype=dtype,
    ).fit(X)
    dilations = [d[-1] for d in conv.dilations_]
    assert dilations == [d[0] for d in dyadic_dilations((length,), (9,))[0]]
    kernels = conv.kernels_.reshape(12, channels, 9).astype(np.float64)
    expected = hydra_reference(X, kernels, 4, dilations)
    tolerance = 1e-4 if dtype == "float32" else 1e-10
    assert_allclose(conv.transform(X), expected, rtol=tolerance, atol=tolerance)


def test_make_hydra_is_hydra_on_the_series_and_its_difference():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, 70)).cumsum(axis=1)
    union = make_hydra(16, random_state=0, dtype="float64", scale=False).fit(X)
    series, difference = union.transformer_list[0][1], union.transformer_list[1][1][-1]
    dilations = [d[-1] for d in series.dilations_]
    expected = np.concatenate(
        [
            hydra_reference(X[:, None], series.kernels_, 8, dilations),
            hydra_reference(
                np.diff(X)[:, None],
                difference.kernels_,
                8,
                [d[-1] for d in difference.dilations_],
            ),
        ],
        axis=1,
    )
    assert_allclose(union.transform(X), expected, rtol=1e-10, atol=1e-10)
    names = union.get_feature_names_out()
    assert names[0].startswith("series__") and names[-1].startswith("difference__")
    assert "max_wins_sum" in names[0] and "min_wins" in names[1]


def test_make_hydra_scales_like_hydras_classifier_and_classifies():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    t = np.linspace(0, 6, 90)
    X = np.sin(t * (1 + y[:, None])) + 0.3 * rng.standard_normal((40, 90))
    pipeline = make_pipeline(make_hydra(random_state=0), RidgeClassifierCV())
    assert pipeline.fit(X[::2], y[::2]).score(X[1::2], y[1::2]) > 0.9
    hydra = make_hydra(random_state=0)
    assert isinstance(hydra.steps[-1][1], SparseScaler)
    assert clone(hydra).get_params()["featureunion__series__bank__group_size"] == 8


def test_make_multirockethydra_joins_both_with_their_scalers():
    X = np.random.default_rng(2).standard_normal((10, 60))
    union = make_multirockethydra(n_features=672, n_groups=16, random_state=0)
    features = union.fit_transform(X)
    names = union.get_feature_names_out()
    assert features.shape == (10, len(names))
    assert {name.split("__")[0] for name in names} == {"hydra", "multirocket"}


def test_kernel_groups_from_the_parameter_or_the_bank():
    X = np.random.default_rng(3).standard_normal((4, 40))
    kernels = np.random.default_rng(4).standard_normal((6, 1, 5))
    conv = ConvFeatures(ArrayBank(kernels), pooling="max_wins", kernel_groups=3).fit(X)
    assert conv.transform(X).shape == (4, 6)
    # Each position has one winner per group: the counts of a group sum to the positions.
    assert_allclose(conv.transform(X).reshape(4, 2, 3).sum(axis=2), 40)
    with pytest.raises(ValueError, match="kernel_groups"):
        ConvFeatures(ArrayBank(kernels), pooling="max_wins").fit(X)
    with pytest.raises(ValueError, match="divide"):
        ConvFeatures(ArrayBank(kernels), pooling="min_wins", kernel_groups=4).fit(X)
    with pytest.raises(ValueError, match="alternate"):
        ConvFeatures(
            ArrayBank(kernels), pooling="min_wins", kernel_groups=3, padding="alternate"
        ).fit(X)
    with pytest.raises(ValueError, match="kernel_groups"):
        ConvFeatures(ArrayBank(kernels), pooling="min_wins", kernel_groups=0).fit(X)
    # Unused by the other statistics.
    ConvFeatures(ArrayBank(kernels), pooling="max", kernel_groups=4).fit(X)


def test_competing_statistics_on_images_and_large_tiled_maps():
    rng = np.random.default_rng(5)
    images = rng.standard_normal((2, 1, 300, 280))
    kernels = rng.standard_normal((8, 1, 5, 5))
    params = dict(
        pooling=("max_wins", "min_wins_sum"), kernel_groups=4, pool_grid=3, nonlinearity=None
    )
    conv = ConvFeatures(ArrayBank(kernels), n_jobs=2, **params).fit(images)
    assert conv.explain(images).rows()[0]["path"] == "tiles"
    small = ConvFeatures(ArrayBank(kernels), batch_size=1, **params).fit(images)
    assert small.explain(images).rows()[0]["path"] == "batches"
    assert_allclose(conv.transform(images), small.transform(images), rtol=1e-9, atol=1e-9)


def test_sparse_scaler_is_hydras_formula():
    rng = np.random.default_rng(6)
    X = np.maximum(rng.standard_normal((30, 5)), 0) * 10
    X[:, 4] = 0
    X[0, 4] = 9.0
    scaler = SparseScaler().fit(X)
    roots = np.sqrt(X)
    mean, spread = roots.mean(axis=0), roots.std(axis=0, ddof=1)
    scale = spread + (roots == 0).mean(axis=0) ** 4 + 1e-8
    expected = (roots - mean) * (roots != 0) / scale
    assert_allclose(scaler.transform(X), expected)
    unmasked = SparseScaler(mask=False).fit(X).transform(X)
    assert_allclose(unmasked, (roots - mean) / scale)
    with pytest.raises(ValueError, match="exponent"):
        SparseScaler(exponent=-1).fit(X)


def test_hydra_on_dask_series_stays_lazy_and_equals_numpy():
    da = pytest.importorskip("dask.array")
    X = np.random.default_rng(7).standard_normal((30, 70)).cumsum(axis=1)
    hydra = make_hydra(n_groups=8, random_state=0).fit(X)
    lazy = hydra.transform(da.from_array(X, chunks=(10, 70)))
    assert hasattr(lazy, "compute")
    assert_allclose(lazy.compute(), hydra.transform(X), rtol=1e-6, atol=1e-6)
    scaler = SparseScaler().fit(da.from_array(np.abs(X), chunks=(7, 70)))
    assert_allclose(scaler.mean_, SparseScaler().fit(np.abs(X)).mean_)
    with pytest.raises(ValueError, match="features"):
        scaler.transform(da.zeros((3, 5)))
