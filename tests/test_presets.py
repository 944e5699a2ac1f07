"""make_minirocket, make_multirocket, MiniRocketBank and SeriesDifference."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import RidgeClassifierCV
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from skconv import MiniRocketBank, make_minirocket
from skconv.banks import minirocket_kernels


def test_minirocket_kernels():
    kernels = minirocket_kernels()
    assert kernels.shape == (84, 1, 9)
    assert_allclose(kernels.sum(axis=-1), 0)
    assert len({tuple(k) for k in kernels[:, 0]}) == 84
    assert np.all((kernels[:, 0] == 2).sum(axis=1) == 3)


def test_multichannel_kernels_read_random_channel_subsets():
    a = minirocket_kernels(12, np.random.RandomState(0))
    b = minirocket_kernels(12, np.random.RandomState(0))
    assert_array_equal(a, b)
    used = np.abs(a).sum(axis=-1) > 0  # (84, 12)
    assert used.sum(axis=1).min() >= 1 and used.sum(axis=1).max() <= 9
    assert used.any(axis=0).sum() > 6  # the subsets differ


def test_bank_refuses_images_but_takes_series_of_height_one():
    with pytest.raises(ValueError, match="MiniRocketBank"):
        MiniRocketBank().fit(np.zeros((2, 1, 8, 8)))
    assert MiniRocketBank().fit(np.zeros((2, 3, 1, 40))).kernels_.shape == (84, 3, 1, 9)


def test_make_minirocket_feature_count_and_names():
    X = np.random.default_rng(0).standard_normal((12, 100))
    conv = make_minirocket(random_state=0)
    F = conv.fit_transform(X)
    assert F.shape == (12, 9996)
    assert ((F >= 0) & (F <= 1)).all()
    names = conv.get_feature_names_out()
    assert names[0] == "convfeatures_d1_k0_b0_ppv" and len(set(names)) == 9996
    assert make_minirocket(1000).fit_transform(X).shape == (12, 924)
    with pytest.raises(ValueError, match="n_features"):
        make_minirocket(50)


def test_multivariate_series_in_aeons_layout():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((15, 3, 60))
    conv = make_minirocket(840, random_state=0).set_params(image_shape=(3, 1, 60))
    F = conv.fit_transform(X)
    assert F.shape == (15, 840)
    assert_array_equal(conv.transform(X.reshape(15, -1)), F)
    assert conv.get_feature_names_out()[0] == "convfeatures_d1_k0_b0_ppv"


def test_make_minirocket_classifies_shapes():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 80)
    X = np.concatenate(
        [
            np.sin(2 * np.pi * 3 * t) + 0.3 * rng.standard_normal((30, 80)),
            np.sign(np.sin(2 * np.pi * 3 * t)) + 0.3 * rng.standard_normal((30, 80)),
        ]
    )
    y = np.repeat([0, 1], 30)
    pipe = make_pipeline(
        make_minirocket(2000, random_state=0), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    )
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.9


def test_multirocket_is_the_four_statistics_of_the_series_and_of_its_difference():
    import pickle

    from skconv import ConvFeatures, MiniRocketBank, SeriesDifference, make_multirocket

    X = np.random.default_rng(3).standard_normal((30, 90))
    union = make_multirocket(n_features=2688, random_state=0).fit(X)
    features = union.transform(X)
    assert features.shape == (30, 2688) and np.isfinite(features).all()
    names = union.get_feature_names_out()
    assert names[0].startswith("series__") and names[-1].startswith("difference__")
    assert {name.rsplit("_", 1)[-1] for name in names} == {"ppv", "mpv", "mipv", "lspv"}
    single = ConvFeatures(
        MiniRocketBank(),
        dilation="exponential",
        n_biases=4,
        padding="same",
        padding_mode="reflect",
        nonlinearity=None,
        pooling=("ppv", "mpv", "mipv", "lspv"),
        pool_grid=1,
        random_state=0,
        dtype="float32",
    )
    assert features.dtype == np.float32  # computed in float32, as MultiRocket
    half = features.shape[1] // 2
    np.testing.assert_allclose(features[:, :half], single.fit(X).transform(X))
    difference = np.diff(X, axis=1)
    np.testing.assert_allclose(features[:, half:], single.fit(difference).transform(difference))
    np.testing.assert_allclose(SeriesDifference().fit_transform(X), difference)
    assert make_multirocket(n_features=2688, dtype=None).fit_transform(X).dtype == np.float64
    again = pickle.loads(pickle.dumps(union))
    np.testing.assert_array_equal(again.transform(X), features)
    union.set_params(series__n_biases=2)  # every setting is searchable
    assert union.fit(X).transform(X).shape[1] == 2688 // 2 + 2688 // 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_features=100), "n_features"),
        (dict(n_features=True), "n_features"),
        (dict(max_channels=0), "max_channels"),
    ],
)
def test_multirocket_validates_its_parameters(kwargs, match):
    from skconv import make_multirocket

    with pytest.raises(ValueError, match=f"'{match}' parameter of make_multirocket"):
        make_multirocket(**kwargs)


def test_series_difference_checks_its_input():
    from skconv import SeriesDifference

    with pytest.raises(ValueError, match="more than 2 values"):
        SeriesDifference(order=2).fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="order"):
        SeriesDifference(order=0).fit(np.ones((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        SeriesDifference().fit(np.full((3, 5), np.nan))
    fitted = SeriesDifference().fit(np.ones((3, 2, 5)))
    assert fitted.transform(np.ones((4, 2, 5))).shape == (4, 2, 4)
    with pytest.raises(ValueError, match="features|shape"):
        fitted.transform(np.ones((4, 3, 5)))
    with pytest.raises(ValueError, match="shape"):
        fitted.transform(np.ones((4, 2, 6)))


def test_minirocket_computes_in_float32_unless_asked_otherwise():
    X = np.random.default_rng(5).standard_normal((20, 80))
    in_float32 = make_minirocket(840, random_state=0).fit(X).transform(X)
    reference = make_minirocket(840, random_state=0, dtype=None)
    assert in_float32.dtype == np.float32
    assert reference.fit(X).transform(X).dtype == np.float64
    as_float32 = make_minirocket(840, random_state=0, dtype=None).fit(X.astype(np.float32))
    assert_array_equal(in_float32, as_float32.transform(X.astype(np.float32)))
