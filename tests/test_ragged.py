"""Series of unequal lengths: each transformed at its own length, defined for any length.

The reference for a series of length ``L`` is an estimator with the same
kernels and dilations fitted on series of length ``L`` (no padding to the
longest), so the list path must agree with the array path series by series.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline

from skconv import (
    ArrayBank,
    ConvFeatures,
    SeriesDifference,
    make_hydra,
    make_minirocket,
    make_multirocket,
)


def collection(seed, lengths, channels=None):
    rng = np.random.default_rng(seed)
    shape = (lambda n: (n,)) if channels is None else (lambda n: (channels, n))
    return [rng.standard_normal(shape(n)).cumsum(axis=-1) for n in lengths]


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(12, 70), min_size=2, max_size=6).filter(lambda v: len(set(v)) > 1),
    channels=st.sampled_from([None, 2]),
    stride=st.integers(1, 2),
    padding=st.sampled_from(["same", "valid"]),
    mode=st.sampled_from(["constant", "reflect", "edge"]),
    pooling=st.sampled_from([("max", "mean"), ("ppv", "lspv"), ("mipv",)]),
    seed=st.integers(0, 1000),
)
def test_each_series_is_transformed_at_its_own_length(
    lengths, channels, stride, padding, mode, pooling, seed
):
    X = collection(seed, lengths, channels)
    n_channels = 1 if channels is None else channels
    kernels = np.random.default_rng(seed + 1).standard_normal((3, n_channels, 4))
    params = dict(
        stride=stride,
        padding=padding,
        padding_mode=mode,
        dilation=[1, 2],
        pooling=pooling,
        nonlinearity=None,
        pool_grid=1,
    )
    features = ConvFeatures(ArrayBank(kernels), **params).fit(X).transform(X)
    assert features.shape[0] == len(X) and np.isfinite(features).all()
    for row, series in zip(features, X):
        alone = ConvFeatures(ArrayBank(kernels), image_shape=(series.shape[-1],), **params)
        if channels is None:
            expected = alone.fit(series[None]).transform(series[None])
        else:
            # (n, C, L) arrays of a non-series bank are images: say they are (C, 1, L).
            alone.set_params(
                bank=ArrayBank(kernels[:, :, None, :]),
                image_shape=(channels, 1, series.shape[1]),
            )
            flat = series.reshape(1, -1)
            expected = alone.fit(flat).transform(flat)
        assert_allclose(row, expected[0], rtol=1e-10, atol=1e-10)


def test_a_series_alone_gets_the_features_it_gets_among_others():
    X = collection(0, [40, 55, 55, 90, 120])
    conv = make_minirocket(n_features=840, random_state=0).fit(X)
    features = conv.transform(X)
    for i, series in enumerate(X):
        assert_array_equal(conv.transform([series])[0], features[i])
    # The longest (the fitted length) also goes the array way.
    assert_array_equal(conv.transform(X[-1][None]), features[-1:])


@pytest.mark.parametrize("length", [1, 2, 5, 8])
def test_series_shorter_than_the_kernels_get_finite_features(length):
    X = collection(1, [50, 80, 64])
    for estimator in (
        make_minirocket(n_features=840, random_state=0),
        make_multirocket(n_features=1344, random_state=0),
        make_hydra(n_groups=8, random_state=0),
        ConvFeatures(dilation=[1, 2, 4], padding="valid", pool_grid=3),
    ):
        estimator.fit(X)
        short = collection(2, [length, 60])
        features = estimator.transform(short)
        assert np.isfinite(features).all()
        # The rule: zero-padded at the end to the shortest length that works.
        if isinstance(estimator, ConvFeatures):
            needed = estimator._effective_length(length)
            padded = np.concatenate([short[0], np.zeros(needed - length)])
            assert_allclose(features[0], estimator.transform([padded])[0])


@pytest.mark.parametrize("length", [3, 5, 8])
def test_training_series_shorter_than_nine_samples(length):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, length))
    y = np.arange(20) % 2
    X[y == 1] += np.linspace(0, 3, length)
    conv = make_minirocket(n_features=840, random_state=0).fit(X)
    features = conv.transform(X)
    assert np.isfinite(features).all() and features.shape == (20, 840)
    assert conv.n_features_in_ == length
    # "same" padding: the kernels read the padding around the short series.
    assert_allclose(features, conv.transform(list(X)))
    assert conv._effective_length(length) == length
    model = make_pipeline(make_minirocket(n_features=840, random_state=0), RidgeClassifierCV())
    assert model.fit(X, y).score(X, y) > 0.9


def test_multirocket_and_hydra_take_unequal_lengths():
    X = collection(4, [30, 45, 60, 75, 90, 30])
    y = np.array([0, 1, 0, 1, 0, 1])
    for estimator in (make_multirocket(n_features=1344, random_state=0), make_hydra(n_groups=8)):
        features = estimator.fit(X, y).transform(X)
        assert features.shape[0] == 6 and np.isfinite(features).all()


def test_series_difference_of_a_collection():
    X = [np.array([1.0, 4.0, 9.0]), np.array([2.0, 3.0]), np.array([5.0])]
    diff = SeriesDifference().fit(X)
    out = diff.transform(X)
    assert [list(d) for d in out] == [[3.0, 5.0], [1.0], [0.0]]
    multi = SeriesDifference().fit([np.ones((2, 5)), np.ones((2, 3))]).transform([np.ones((2, 4))])
    assert multi[0].shape == (2, 3)


@pytest.mark.parametrize(
    "X, error, match",
    [
        ([np.ones(5), np.ones((2, 6))], ValueError, "mixes"),
        ([np.ones((2, 5)), np.ones((3, 6))], ValueError, r"X\[1\] has 3"),
        ([np.ones(5), np.array([1.0, np.nan, 2.0, 3.0])], ValueError, r"X\[1\] contains NaN"),
        ([np.ones(5), np.array([1.0, np.inf])], ValueError, r"X\[1\] contains NaN"),
        ([np.ones(5), np.array([])], ValueError, r"X\[1\] is an empty series"),
        ([np.ones(5), np.ones(6, dtype=complex)], ValueError, "Complex"),
        ([np.ones(5), np.array(["a", "b"])], TypeError, "real numbers"),
        ([np.ones(5), np.ones((2, 2, 2))], ValueError, r"X\[1\] must be a series"),
        ([[1.0, 2.0], [1.0, [2.0, 3.0]]], ValueError, r"X\[1\]"),
    ],
)
def test_bad_collections_get_clear_errors(X, error, match):
    with pytest.raises(error, match=match):
        make_minirocket(n_features=84).fit(X)
    fitted = make_minirocket(n_features=84, random_state=0).fit(collection(5, [20, 30]))
    with pytest.raises(error, match=match):
        fitted.transform(X)


def test_collections_refuse_image_parameters():
    with pytest.raises(ValueError, match="image_shape"):
        ConvFeatures(image_shape=(5,)).fit(collection(6, [20, 30]))


def test_explain_a_collection():
    X = collection(7, [40, 60, 80])
    conv = make_minirocket(n_features=840, random_state=0).fit(X)
    plan = conv.explain(X)
    assert plan.n_samples == 3 and plan.rows()[0]["path"] == "series"


def test_series_shorter_than_their_pads_are_padded_with_zeros_not_reflected():
    X = collection(8, [60, 80, 100])
    short = collection(9, [6])
    reflecting = make_minirocket(n_features=840, random_state=0).fit(X)
    zeros = make_minirocket(n_features=840, random_state=0, padding_mode="constant").fit(X)
    zeros.biases_ = reflecting.biases_  # the same fitted state but the padding mode
    assert_allclose(reflecting.transform(short), zeros.transform(short))
    # Longer series keep the reflection.
    assert not np.allclose(reflecting.transform(X[:1]), zeros.transform(X[:1]))


def test_a_collection_fitted_with_a_series_that_short_is_all_padded_with_zeros():
    # One padding for one collection: a training series shorter than its
    # widest pad makes every series, long ones too, padded with zeros.
    X = collection(8, [60, 80, 100]) + collection(9, [6])
    reflecting = make_minirocket(n_features=840, random_state=0).fit(X)
    zeros = make_minirocket(n_features=840, random_state=0, padding_mode="constant").fit(X)
    assert_array_equal(reflecting.biases_[0], zeros.biases_[0])
    assert_array_equal(reflecting.transform(X), zeros.transform(X))
    # Without the short series the long ones are reflected.
    longer = make_minirocket(n_features=840, random_state=0).fit(X[:3])
    assert not np.allclose(longer.transform(X[:1]), zeros.transform(X[:1]))
