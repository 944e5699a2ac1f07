"""ConvFeatures: behaviour, conventions and errors."""

import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import loop_pool
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skconv import ArrayBank, ConvFeatures, GaborBank, RandomBank, convolve

RNG = np.random.default_rng(0)
IMAGES = RNG.standard_normal((12, 3, 10, 9))
ROWS = IMAGES.reshape(12, -1)


def test_golden_values_at_a_fixed_seed():
    X = np.arange(2 * 36, dtype=float).reshape(2, 36) % 7
    conv = ConvFeatures(image_shape=(6, 6), pool_grid=2, pooling=("max", "mean"), random_state=0)
    expected = [
        [4.37023812, 1.28745088, 3.000927, 2.86709267, 0.7063008, 0.20323406],
        [2.06339948, 1.20275832, 4.37023812, 3.00210858, 0.7071812, 0.16624319],
    ]
    assert_allclose(conv.fit_transform(X)[:, :6], expected, rtol=1e-7)
    # The default Gabor size follows the image: 5x5 kernels on 6x6 images.
    gabor = ConvFeatures("gabor", image_shape=(6, 6), pool_grid=1).fit(X)
    assert gabor.kernels_.shape == (32, 1, 5, 5)
    expected = [
        [5.38351957, 5.64916547, 3.8718952, 5.77122207],
        [5.43207837, 5.54768972, 4.59143868, 6.33123743],
    ]
    assert_allclose(gabor.transform(X)[:, :4], expected, rtol=1e-7)


@pytest.mark.parametrize(
    "params",
    [
        dict(stride=2, padding="valid"),
        dict(dilation=2, padding="full", padding_mode="edge"),
        dict(stride=(1, 2), padding=(0, 1), padding_mode="wrap"),
    ],
)
def test_no_nonlinearity_no_pooling_equals_convolve(params):
    conv = ConvFeatures(
        image_shape=(3, 10, 9), nonlinearity=None, pooling=None, random_state=0, **params
    ).fit(ROWS)
    maps = convolve(IMAGES, conv.kernels_, **params)
    assert_allclose(conv.transform(ROWS), maps.reshape(len(ROWS), -1), atol=1e-12)
    assert conv.maps_shape_ == maps.shape[1:]


@pytest.mark.parametrize("nonlinearity", [None, "relu", "abs", "square", "tanh", "sigmoid"])
@pytest.mark.parametrize("pooling", ["max", ("mean", "ppv"), ("sum", "max", "ppv", "l2")])
def test_pooled_features_match_loops_over_the_maps(nonlinearity, pooling):
    conv = ConvFeatures(
        image_shape=(3, 10, 9),
        nonlinearity=nonlinearity,
        pooling=pooling,
        pool_grid=(3, 2),
        random_state=0,
    ).fit(ROWS)
    maps = convolve(IMAGES, conv.kernels_)
    poolings = (pooling,) if isinstance(pooling, str) else pooling
    expected = loop_pool(maps, nonlinearity, poolings, (3, 2))
    assert_allclose(conv.transform(ROWS), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("pooling", ["l2", ("mean", "sum", "l2")])
def test_gaussian_window_pooling_matches_loops_over_the_maps(pooling):
    conv = ConvFeatures(
        image_shape=(3, 10, 9),
        pooling=pooling,
        pool_grid=(3, 2),
        pool_sigma=0.6,
        random_state=0,
    ).fit(ROWS)
    maps = convolve(IMAGES, conv.kernels_)
    poolings = (pooling,) if isinstance(pooling, str) else pooling
    expected = loop_pool(maps, "relu", poolings, (3, 2), sigma=0.6)
    assert_allclose(conv.transform(ROWS), expected, rtol=1e-10, atol=1e-10)


def test_gaussian_windows_make_features_change_smoothly_with_shifts():
    """A one-pixel shift moves Gaussian-window features less than box-region ones."""
    rng = np.random.default_rng(0)
    images = np.zeros((50, 16, 16))
    images[:, 4:12, 4:12] = rng.random((50, 8, 8))
    shifted = np.roll(images, 1, axis=2)
    changes = {}
    for sigma in (None, 0.5):
        conv = ConvFeatures(
            RandomBank(8, 3), pooling="mean", pool_grid=4, pool_sigma=sigma, random_state=0
        ).fit(images)
        before, after = conv.transform(images), conv.transform(shifted)
        changes[sigma] = np.linalg.norm(after - before) / np.linalg.norm(before)
    assert changes[0.5] < 0.75 * changes[None]


def test_nd_input_equals_flattened_rows():
    flat = ConvFeatures(image_shape=(3, 10, 9), random_state=0).fit(ROWS)
    nd = ConvFeatures(random_state=0).fit(IMAGES)
    assert nd.input_shape_ == (3, 10, 9) and nd.n_features_in_ == 270
    assert_allclose(nd.transform(IMAGES), flat.transform(ROWS))
    gray = IMAGES[:, 0]
    assert_allclose(
        ConvFeatures(random_state=0).fit_transform(gray),
        ConvFeatures(image_shape=(10, 9), random_state=0).fit_transform(gray.reshape(12, -1)),
    )


def test_image_shape_may_infer_one_axis():
    conv = ConvFeatures(image_shape=(3, -1, 9), random_state=0).fit(ROWS)
    assert conv.input_shape_ == (3, 10, 9)
    assert conv.image_shape == (3, -1, 9)  # the parameter is left as given


def test_rows_without_image_shape_are_signals():
    conv = ConvFeatures(bank=RandomBank(4, 7), pool_grid=3, random_state=0).fit(ROWS)
    assert conv.kernels_.shape == (4, 1, 7) and conv.maps_shape_ == (4, 270)
    maps = convolve(ROWS, conv.kernels_[:, 0])
    assert_allclose(conv.transform(ROWS), loop_pool(maps[:, :, None], "relu", ("max",), (1, 3)))


def test_fit_transform_equals_fit_then_transform():
    conv = ConvFeatures(image_shape=(3, 10, 9), pooling=("max", "ppv"), random_state=3)
    assert_allclose(conv.fit_transform(ROWS), clone(conv).fit(ROWS).transform(ROWS))


def test_random_state_reproducibility():
    a = ConvFeatures(image_shape=(3, 10, 9), random_state=np.random.RandomState(5)).fit(ROWS)
    b = ConvFeatures(image_shape=(3, 10, 9), random_state=np.random.RandomState(5)).fit(ROWS)
    c = ConvFeatures(image_shape=(3, 10, 9), random_state=6).fit(ROWS)
    assert_array_equal(a.kernels_, b.kernels_)
    assert_array_equal(a.transform(ROWS), b.transform(ROWS))
    assert not np.allclose(a.kernels_, c.kernels_)
    own_seed = ConvFeatures(RandomBank(random_state=5), image_shape=(3, 10, 9), random_state=1)
    assert_array_equal(own_seed.fit(ROWS).kernels_, RandomBank(random_state=5).fit(IMAGES).kernels_)


def test_fit_does_not_modify_the_bank_parameter():
    bank = RandomBank(n_kernels=3)
    conv = ConvFeatures(bank, image_shape=(3, 10, 9), random_state=0).fit(ROWS)
    assert conv.bank is bank and not hasattr(bank, "kernels_") and bank.random_state is None
    assert conv.bank_ is not bank and conv.bank_.kernels_.shape == (3, 3, 5, 5)


def test_float32_and_float64_agree_and_dtype_is_preserved():
    conv64 = ConvFeatures(image_shape=(3, 10, 9), pooling=("max", "mean"), random_state=0)
    conv32 = clone(conv64)
    out64 = conv64.fit_transform(ROWS)
    out32 = conv32.fit_transform(ROWS.astype(np.float32))
    assert out64.dtype == np.float64 and out32.dtype == np.float32
    assert conv32.kernels_.dtype == np.float32
    assert_allclose(out32, out64, rtol=1e-4, atol=1e-4)
    assert conv64.transform(ROWS.astype(np.float32)).dtype == np.float32
    assert ConvFeatures().fit_transform(np.ones((3, 8), dtype=np.int64)).dtype == np.float64


def test_feature_names():
    conv = ConvFeatures(
        RandomBank(2, 3), image_shape=(3, 10, 9), pooling=("max", "ppv"), pool_grid=2
    ).fit(ROWS)
    names = conv.get_feature_names_out()
    assert len(names) == conv.transform(ROWS).shape[1] == 2 * 2 * 4
    assert list(names[:5]) == [
        "convfeatures_k0_max_r0c0",
        "convfeatures_k0_max_r0c1",
        "convfeatures_k0_max_r1c0",
        "convfeatures_k0_max_r1c1",
        "convfeatures_k0_ppv_r0c0",
    ]
    glob = ConvFeatures(RandomBank(2, 3), image_shape=(3, 10, 9), pool_grid=1).fit(ROWS)
    assert list(glob.get_feature_names_out()) == ["convfeatures_k0_max", "convfeatures_k1_max"]
    maps = ConvFeatures(RandomBank(1, 3), image_shape=(3, 10, 9), pooling=None).fit(ROWS)
    assert maps.get_feature_names_out()[10] == "convfeatures_k0_y1_x1"
    signal = ConvFeatures(RandomBank(1, 3), pool_grid=2).fit(ROWS)
    assert list(signal.get_feature_names_out()) == [
        "convfeatures_k0_max_r0",
        "convfeatures_k0_max_r1",
    ]
    l2 = ConvFeatures(RandomBank(1, 3), pooling="l2", pool_grid=2, pool_sigma=0.5).fit(ROWS)
    assert list(l2.get_feature_names_out()) == ["convfeatures_k0_l2_r0", "convfeatures_k0_l2_r1"]


def test_pandas_output():
    pd = pytest.importorskip("pandas")
    conv = ConvFeatures(RandomBank(2, 3), image_shape=(3, 10, 9), pool_grid=2).set_output(
        transform="pandas"
    )
    frame = conv.fit_transform(pd.DataFrame(ROWS))
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(conv.get_feature_names_out())


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_round_trip(dump, tmp_path):
    conv = ConvFeatures("gabor", image_shape=(3, 10, 9), pooling=("max", "mean")).fit(ROWS)
    if dump == "pickle":
        restored = pickle.loads(pickle.dumps(conv))
    else:
        joblib.dump(conv, tmp_path / "conv.joblib")
        restored = joblib.load(tmp_path / "conv.joblib")
    assert_array_equal(restored.transform(ROWS), conv.transform(ROWS))


def test_read_only_input(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, ROWS)
    readonly = np.load(path, mmap_mode="r")
    conv = ConvFeatures(image_shape=(3, 10, 9), random_state=0)
    assert_allclose(conv.fit_transform(readonly), clone(conv).fit_transform(ROWS))


def test_n_jobs_and_batch_size_do_not_change_the_result():
    base = ConvFeatures(image_shape=(3, 10, 9), pool_grid=2, random_state=0)
    expected = base.fit_transform(ROWS)
    for params in [dict(n_jobs=2, batch_size=1), dict(n_jobs=-1), dict(batch_size=5)]:
        out = clone(base).set_params(**params).fit_transform(ROWS)
        assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_array_bank_and_gabor_metadata():
    sobel = np.array([[[1, 0, -1], [2, 0, -2], [1, 0, -1]]] * 3)[None]
    conv = ConvFeatures(sobel, image_shape=(3, 10, 9)).fit(ROWS)
    assert conv.kernels_.shape == (1, 3, 3, 3)
    assert isinstance(conv.bank_, ArrayBank)
    gabor = ConvFeatures(GaborBank(n_orientations=4), image_shape=(3, 10, 9)).fit(ROWS)
    assert gabor.bank_.orientations_.shape == (gabor.kernels_.shape[0],)


def test_grid_search_over_stride_and_bank_on_digits():
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(
        ConvFeatures(image_shape=(8, 8), pool_grid=2, random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        pipe,
        {
            "convfeatures__stride": [1, 2],
            "convfeatures__bank": [
                RandomBank(128, 5),
                GaborBank(frequencies=(0.25, 0.4), kernel_size=5),
            ],
            "convfeatures__bank__kernel_size": [3, 5],
        },
        cv=cv,
        n_jobs=2,
    ).fit(X, y)
    assert search.best_params_["convfeatures__stride"] == 1
    best = search.best_estimator_
    cv5 = StratifiedKFold(5, shuffle=True, random_state=0)
    conv_score = cross_val_score(best, X, y, cv=cv5).mean()
    raw = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    raw_score = cross_val_score(raw, X, y, cv=cv5).mean()
    assert conv_score >= 0.98
    assert conv_score > raw_score + 0.01


BAD_PARAMS = [
    (dict(stride=0), "stride"),
    (dict(stride=-1), "stride"),
    (dict(stride=(1, 0)), "stride must be >= 1"),
    (dict(dilation=0), "dilation"),
    (dict(dilation=(2, -1)), "dilation must be >= 1"),
    (dict(nonlinearity="softplus"), "nonlinearity"),
    (dict(pooling="median"), "pooling"),
    (dict(pooling=("max", "median")), "pooling must be None"),
    (dict(pooling=("max", "max")), "pooling must be None"),
    (dict(pooling=()), "pooling must be None"),
    (dict(pool_grid=0), "pool_grid"),
    (dict(pool_grid=(2, 20)), "pool_grid=.* more regions"),
    (dict(pool_sigma=0, pooling="mean"), "pool_sigma"),
    (dict(pool_sigma=-0.5, pooling="mean"), "pool_sigma"),
    (dict(pool_sigma=float("nan"), pooling="mean"), "pool_sigma"),
    (dict(pool_sigma="wide", pooling="mean"), "pool_sigma"),
    (dict(pool_sigma=0.5), r"pool_sigma=0.5 .* got pooling=\('max',\)"),
    (dict(pool_sigma=0.5, pooling=("mean", "ppv")), "pool_sigma=0.5"),
    (dict(pool_sigma=0.5, pooling=None), "pool_sigma=0.5"),
    (dict(padding="half"), "padding"),
    (dict(padding_mode="mirror"), "padding_mode"),
    (dict(image_shape=(10, 10)), r"image_shape=\(10, 10\) does not fit the 270 features"),
    (dict(image_shape=(7, -1)), r"image_shape=\(7, -1\) does not fit the 270 features"),
    (dict(image_shape=(-1, -1)), "image_shape must be"),
    (dict(image_shape=(0, 270)), "image_shape must be"),
    (dict(image_shape=(3, 9, 10, 1)), "image_shape must be"),
    (dict(bank="wavelet"), "bank"),
    (dict(bank=RandomBank(kernel_size=13), padding="valid"), "larger than the padded"),
    (dict(bank=np.ones((2, 2, 3, 3))), r"2 channel\(s\) but the images have 3"),
    (dict(batch_size=0), "batch_size"),
]


@pytest.mark.parametrize("params, match", BAD_PARAMS)
def test_bad_parameters_raise_value_errors_naming_them(params, match):
    conv = ConvFeatures(**{"image_shape": (3, 10, 9), **params})
    with pytest.raises(ValueError, match=match):
        conv.fit(ROWS)


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.full((3, 8), np.nan), ValueError, "NaN"),
        (np.full((3, 8), np.inf), ValueError, "infinity"),
        (np.array([["a", "b"], ["c", "d"]]), ValueError, "could not convert|dtype"),
        (np.zeros((0, 8)), ValueError, "0 sample"),
        (np.zeros(8), ValueError, "Expected 2D array"),
        (np.zeros((2, 1, 1, 1, 8)), ValueError, "X must be 2-D"),
    ],
)
def test_bad_input_data(X, error, match):
    with pytest.raises(error, match=match):
        ConvFeatures().fit(X)


def test_transform_checks_width_and_sample_shape():
    conv = ConvFeatures(image_shape=(3, 10, 9)).fit(ROWS)
    with pytest.raises(ValueError, match="X has 269 features, but ConvFeatures is expecting 270"):
        conv.transform(ROWS[:, :-1])
    with pytest.raises(ValueError, match=r"samples of shape \(3, 9, 10\)"):
        conv.transform(IMAGES.transpose(0, 1, 3, 2))
    nd = ConvFeatures().fit(IMAGES)
    with pytest.raises(ValueError, match="does not match"):
        ConvFeatures(image_shape=(3, 9, 10)).fit(IMAGES)
    assert nd.transform(ROWS).shape[0] == 12  # flattened rows of the right width work


def test_kernel_too_large_for_a_signal():
    with pytest.raises(ValueError, match="larger than the padded input"):
        ConvFeatures(bank=RandomBank(kernel_size=9), padding="valid").fit(np.zeros((3, 5)))


def test_verbose_draws_a_progress_bar(capsys):
    conv = ConvFeatures(image_shape=(3, 10, 9), batch_size=4, verbose=1, n_jobs=2, random_state=0)
    out = conv.fit_transform(ROWS)
    err = capsys.readouterr().err
    assert "ConvFeatures.transform: 100%" in err and "12/12" in err  # tqdm's bar
    assert err.endswith("\n")
    assert_allclose(out, clone(conv).set_params(verbose=0).fit_transform(ROWS))
    assert capsys.readouterr().err == ""


def test_progress_over_several_dilation_passes_ends_at_the_total(capsys):
    X = np.random.default_rng(0).standard_normal((9, 60))
    ConvFeatures(dilation=[1, 2, 3], verbose=1, batch_size=2).fit_transform(X)
    err = capsys.readouterr().err
    assert "100%" in err and "9/9" in err and "10/9" not in err


def test_bad_stride_is_reported_before_the_bank_is_fitted():
    class CountingBank(RandomBank):
        fits = 0

        def fit(self, images, y=None):
            CountingBank.fits += 1
            return super().fit(images, y)

    with pytest.raises(ValueError, match="stride must be an int or a sequence of 2"):
        ConvFeatures(CountingBank(), image_shape=(3, 10, 9), stride=(1, 1, 1)).fit(ROWS)
    assert CountingBank.fits == 0


def test_feature_maps_are_the_unpooled_maps_after_the_nonlinearity():
    conv = ConvFeatures(image_shape=(3, 10, 9), dilation=[1, 2], random_state=0).fit(ROWS)
    maps = conv.feature_maps(ROWS[:2], dilation_index=1)
    assert maps.shape == (2, 64, 10, 9) and maps.min() >= 0
    whole = ConvFeatures(image_shape=(3, 10, 9), dilation=2, pooling=None, random_state=0)
    assert_allclose(maps.reshape(2, -1), whole.fit(ROWS).transform(ROWS[:2]), atol=1e-12)
    with pytest.raises(ValueError, match="dilation_index"):
        conv.feature_maps(ROWS[:2], dilation_index=2)
    signal = ConvFeatures(image_shape=(40,), random_state=0).fit(ROWS[:, :40])
    assert signal.feature_maps(ROWS[:1, :40]).shape == (1, 64, 40)


def test_output_shape_is_a_deprecated_name_of_maps_shape():
    conv = ConvFeatures(image_shape=(3, 10, 9), random_state=0).fit(ROWS)
    with pytest.warns(FutureWarning, match="maps_shape_"):
        assert conv.output_shape_ == conv.maps_shape_ == (64, 10, 9)


def test_html_repr_links_each_estimator_to_its_api_page():
    from skconv import GaborBank

    html = ConvFeatures(GaborBank())._repr_html_()
    for name in ("ConvFeatures", "GaborBank"):
        assert f"skconv.readthedocs.io/en/stable/generated/skconv.{name}.html" in html


def test_uint8_images_are_converted_batch_by_batch_not_as_a_whole():
    import tracemalloc

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4000, 1, 24, 24)).astype(np.uint8)
    conv = ConvFeatures(RandomBank(4, 3), pool_grid=1, random_state=0).fit(images[:50] / 1.0)
    expected = conv.transform(images[:300].astype(np.float64))
    conv.transform(images)  # the engine's reusable buffers, allocated once
    peaks = {}
    for name, cast in (("uint8", lambda a: a), ("float64", lambda a: a.astype(np.float64))):
        tracemalloc.start()
        try:
            features = conv.transform(cast(images))
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert features.dtype == np.float64
        np.testing.assert_array_equal(features[:300], expected)
    float_copy = images.size * 8  # what converting the whole stack would add
    assert peaks["uint8"] < peaks["float64"] - 0.75 * float_copy, (peaks, float_copy)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_sets_the_computation_dtype_whatever_the_input(dtype):
    rng = np.random.default_rng(0)
    X = rng.random((30, 64))
    conv = ConvFeatures(image_shape=(8, 8), dtype=dtype, random_state=0).fit(X)
    assert conv.kernels_.dtype == dtype
    for data in (X, X.astype(np.float32), (X * 255).astype(np.uint8)):
        assert conv.transform(data).dtype == dtype
    reference = ConvFeatures(image_shape=(8, 8), random_state=0).fit(X.astype(dtype))
    np.testing.assert_allclose(conv.transform(X), reference.transform(X.astype(dtype)))
