"""What a hurried user types: every case gives a clear error naming the parameter,
or a documented, sensible result.

Each entry of the tables below is one case. Errors are asserted by exact type
(``ValueError`` covers scikit-learn's ``InvalidParameterError``, a subclass)
and by a message that names the parameter.
"""

import copy
import threading
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from skconv import ArrayBank, ConvFeatures, GaborBank, PatchBank, RandomBank, convolve

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 1, (6, 12, 12))
ROWS = IMAGES.reshape(6, -1)
KERNELS = RNG.standard_normal((3, 3, 3))

# --- ConvFeatures parameters ---------------------------------------------------------

CONV_CASES = [
    ("stride", 0),
    ("stride", -1),
    ("stride", 1.5),
    ("stride", "2"),
    ("stride", (1, 0)),
    ("stride", (1, 2, 3)),
    ("stride", True),
    ("stride", None),
    ("stride", [0, 1]),
    ("padding", "half"),
    ("padding", -1),
    ("padding", 1.5),
    ("padding", (1, -1)),
    ("padding", "SAME"),
    ("padding", None),
    ("padding", (1, 1, 1)),
    ("padding_mode", "mirror"),
    ("padding_mode", "zeros"),
    ("padding_mode", None),
    ("padding_mode", 0),
    ("padding_mode", "Reflect"),
    ("dilation", 0),
    ("dilation", -2),
    ("dilation", 1.0),
    ("dilation", (1, 0)),
    ("dilation", "1"),
    ("dilation", (1, 1, 1)),
    ("nonlinearity", "softplus"),
    ("nonlinearity", "Relu"),
    ("nonlinearity", 1),
    ("nonlinearity", "relu "),
    ("nonlinearity", np.tanh),
    ("threshold", "high"),
    ("threshold", None),
    ("threshold", float("nan")),
    ("threshold", float("inf")),
    ("pooling", "median"),
    ("pooling", "maxx"),
    ("pooling", ()),
    ("pooling", ("max", "max")),
    ("pooling", 1),
    ("pooling", ("max", 1)),
    ("pooling", "MAX"),
    ("pool_grid", 0),
    ("pool_grid", -1),
    ("pool_grid", 2.0),
    ("pool_grid", (2, 0)),
    ("pool_grid", (2, 2, 2)),
    ("pool_grid", "2"),
    ("pool_grid", (20, 20)),
    ("pool_sigma", 0),
    ("pool_sigma", -1.0),
    ("pool_sigma", "wide"),
    ("pool_sigma", float("nan")),
    ("pool_sigma", float("inf")),
    ("method", "fast"),
    ("method", "FFT"),
    ("method", None),
    ("method", 1),
    ("method", "direct"),
    ("batch_size", 0),
    ("batch_size", -5),
    ("batch_size", 2.5),
    ("batch_size", "all"),
    ("n_jobs", 0),
    ("n_jobs", 1.5),
    ("n_jobs", "all"),
    ("verbose", -1),
    ("verbose", "loud"),
    ("random_state", "seed"),
    ("random_state", 1.5),
    ("random_state", -1),
    ("bank", "wavelet"),
    ("bank", "Gabor"),
    ("bank", 3),
    ("bank", None),
    ("bank", np.ones((2, 5, 3, 3))),
    ("bank", np.ones((0, 3, 3))),
    ("bank", np.full((2, 3, 3), np.nan)),
    ("bank", [["a", "b"], ["c", "d"]]),
    ("image_shape", (10, 10)),
    ("image_shape", (-1, -1)),
    ("image_shape", (0, 144)),
    ("image_shape", (12, 12.0)),
    ("image_shape", "12x12"),
    ("image_shape", 144),
    ("image_shape", (2, 2, 2, 18)),
    # bools are never numbers, for every numeric parameter
    ("n_biases", True),
    ("n_biases", False),
    ("batch_size", True),
    ("threshold", True),
    ("pool_sigma", True),
    ("n_jobs", True),
    ("dtype", "float16"),
    ("dtype", "half"),
    ("dtype", 32),
]

# Names the message must contain, where it differs from the parameter name.
_MESSAGE = {("bank", np.ones((2, 5, 3, 3)).tobytes()): "channel"}


def _case_id(case):
    name, value = case
    text = repr(value) if not isinstance(value, np.ndarray) else f"array{value.shape}"
    return f"{name}={text}"[:40]


@pytest.mark.parametrize("name, value", CONV_CASES, ids=[_case_id(c) for c in CONV_CASES])
def test_convfeatures_rejects_bad_parameters_naming_them(name, value):
    params = {"image_shape": (12, 12), name: value}
    if name == "pool_sigma":
        params["pooling"] = "mean"
    with pytest.raises((ValueError, TypeError)) as info:
        ConvFeatures(**params).fit(ROWS)
    message = str(info.value)
    expected = {"bank": ("bank", "kernel", "channel")}.get(name, (name,))
    assert any(word in message for word in expected), message


# --- bank parameters, alone and nested -------------------------------------------------

BANK_CASES = [
    (RandomBank, "n_kernels", 0),
    (RandomBank, "n_kernels", -3),
    (RandomBank, "n_kernels", 2.5),
    (RandomBank, "kernel_size", 0),
    (RandomBank, "kernel_size", (3, 0)),
    (RandomBank, "kernel_size", "5"),
    (RandomBank, "kernel_size", (3, 3, 3)),
    (RandomBank, "distribution", "gaussian"),
    (RandomBank, "distribution", None),
    (RandomBank, "zero_mean", "no"),
    (RandomBank, "zero_mean", 1),
    (RandomBank, "unit_norm", "yes"),
    (RandomBank, "random_state", "x"),
    (GaborBank, "n_orientations", 0),
    (GaborBank, "n_orientations", 2.5),
    (GaborBank, "frequencies", 0.5),
    (GaborBank, "frequencies", 0),
    (GaborBank, "frequencies", -0.1),
    (GaborBank, "frequencies", (0.1, 0.7)),
    (GaborBank, "frequencies", ()),
    (GaborBank, "frequencies", "low"),
    (GaborBank, "bandwidth", -1),
    (GaborBank, "bandwidth", 0),
    (GaborBank, "aspect_ratio", 0),
    (GaborBank, "aspect_ratio", "wide"),
    (GaborBank, "kernel_size", 0),
    (GaborBank, "kernel_size", -7),
    (GaborBank, "parts", "complex"),
    (GaborBank, "channels", "seperate"),
    (GaborBank, "channels", None),
    (GaborBank, "zero_mean", "false"),
    (PatchBank, "estimator", "foo"),
    (PatchBank, "estimator", "kmean"),
    (PatchBank, "estimator", None),
    (PatchBank, "n_kernels", 0),
    (PatchBank, "kernel_size", 0),
    (PatchBank, "n_patches", 1),
    (PatchBank, "n_patches", 0),
    (PatchBank, "normalize", "yes"),
    (PatchBank, "norm_reg", -1.0),
    (PatchBank, "whiten", 2),
    (PatchBank, "whiten_reg", 0),
    (PatchBank, "whiten_reg", -0.1),
    (PatchBank, "random_state", "seed"),
    (RandomBank, "n_kernels", True),
    (GaborBank, "n_orientations", True),
    (GaborBank, "bandwidth", True),
    (PatchBank, "n_kernels", True),
    (PatchBank, "n_patches", True),
]


def _bank_id(case):
    return f"{case[0].__name__}-{case[1]}={case[2]!r}"[:48]


@pytest.mark.parametrize("nested", [False, True], ids=["alone", "in-ConvFeatures"])
@pytest.mark.parametrize(
    "bank_class, name, value", BANK_CASES, ids=[_bank_id(c) for c in BANK_CASES]
)
def test_banks_reject_bad_parameters_alone_and_nested(bank_class, name, value, nested):
    bank = bank_class(**{name: value})
    with pytest.raises((ValueError, TypeError)) as info:
        if nested:
            ConvFeatures(bank, image_shape=(12, 12)).fit(ROWS)
        else:
            bank.fit(IMAGES[:, None])
    assert name in str(info.value), str(info.value)


def test_nested_bank_is_validated_inside_a_pipeline_and_a_search():
    from sklearn.model_selection import GridSearchCV

    pipe = make_pipeline(
        ConvFeatures(PatchBank(estimator="kmean"), image_shape=(12, 12)), StandardScaler()
    )
    with pytest.raises(ValueError, match="estimator"):
        pipe.fit(ROWS)
    search = GridSearchCV(
        ConvFeatures(image_shape=(12, 12)),
        {"bank": [RandomBank(zero_mean="no")]},
        cv=2,
        scoring=lambda est, X, y=None: 0.0,
        error_score="raise",
    )
    with pytest.raises(ValueError, match="zero_mean"):
        search.fit(ROWS)


def test_kernels_larger_than_the_image_are_warned_about_and_oversized_dilations_refused():
    with pytest.warns(UserWarning, match="kernel_size"):
        ConvFeatures(np.ones((2, 30, 30)), image_shape=(12, 12)).fit(ROWS)
    with pytest.raises(ValueError, match=r"dilation <= \(2, 2\)"):
        ConvFeatures(image_shape=(12, 12), dilation=4).fit(ROWS)


def test_default_gabor_kernels_follow_the_image_size():
    assert GaborBank().fit(np.zeros((2, 1, 8, 8))).kernels_.shape[-2:] == (7, 7)
    assert GaborBank().fit(np.zeros((2, 1, 64, 64))).kernels_.shape[-2:] == (21, 21)


def test_one_tap_zero_mean_kernels_are_refused():
    with pytest.raises(ValueError, match="kernel_size"):
        RandomBank(kernel_size=1).fit(IMAGES[:, None])
    # With several channels a 1x1 kernel mixes them: valid.
    assert RandomBank(kernel_size=1, random_state=0).fit(np.ones((2, 3, 4, 4))).kernels_.any()


def test_one_value_patches_are_not_normalised():
    # Each one-value patch minus its mean is 0: nothing would be learned.
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"normalize=True.*kernel_size 1 on 1-channel"):
        PatchBank(n_kernels=2, kernel_size=1, n_patches=50).fit(rng.random((4, 1, 6, 6)))
    unnormalised = PatchBank(n_kernels=2, kernel_size=1, n_patches=50, normalize=False)
    assert np.ptp(unnormalised.fit(rng.random((4, 1, 6, 6))).kernels_) > 0
    # Several channels give a 1x1 patch several values: normalised as usual.
    several = PatchBank(n_kernels=2, kernel_size=1, n_patches=50, whiten=False, random_state=0)
    assert np.ptp(several.fit(rng.random((4, 3, 6, 6))).kernels_) > 0


# --- convolve ----------------------------------------------------------------------------

CONVOLVE_CASES = [
    (dict(stride=0), "stride"),
    (dict(stride=-2), "stride"),
    (dict(stride=1.5), "stride"),
    (dict(dilation=0), "dilation"),
    (dict(dilation=(1, 1, 1)), "dilation"),
    (dict(padding="half"), "padding"),
    (dict(padding=-1), "padding"),
    (dict(padding_mode="mirror"), "padding_mode"),
    (dict(flip="yes"), "flip"),
    (dict(flip=1), "flip"),
    (dict(spatial_ndim=3), "spatial_ndim"),
    (dict(batch_size=0), "batch_size"),
    (dict(n_threads=0), "n_threads"),
    (dict(n_threads=-1), "n_threads"),
    (dict(method="fast"), "method"),
    (dict(method=None), "method"),
    (dict(padding="valid", dilation=9), "larger than the padded"),
]


@pytest.mark.parametrize(
    "kwargs, match", CONVOLVE_CASES, ids=[str(c[0])[:40] for c in CONVOLVE_CASES]
)
def test_convolve_rejects_bad_parameters_naming_them(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        convolve(IMAGES, KERNELS, **kwargs)


CONVOLVE_ARRAYS = [
    (np.full((2, 5, 5), np.nan), KERNELS, "NaN"),
    (np.full((2, 5, 5), np.inf), KERNELS, "infinity"),
    (IMAGES, np.full((2, 3, 3), np.nan), "NaN"),
    (np.array([["a", "b"]]), KERNELS[:, 0], "could not convert|dtype"),
    (IMAGES, np.zeros((0, 3, 3)), "at least one kernel"),
    (np.zeros((0, 5, 5)), KERNELS, "0 sample"),
    (IMAGES, np.ones((2, 2, 3, 3)), "channel"),
    (np.ones(5), KERNELS, "dimensions"),
    (IMAGES, np.ones(3), "dimensions"),
    (np.ones((1, 1, 1, 1, 5)), KERNELS, "dimensions"),
]


@pytest.mark.parametrize("images, kernels, match", CONVOLVE_ARRAYS)
def test_convolve_rejects_bad_arrays(images, kernels, match):
    with pytest.raises(ValueError, match=match):
        convolve(images, kernels)


# --- data that should just work ------------------------------------------------------


def _reference_features(X):
    return ConvFeatures(image_shape=(12, 12), random_state=0).fit(ROWS).transform(X)


def _readonly():
    array = ROWS.copy()
    array.flags.writeable = False
    return array


def _memmap(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, ROWS)
    return np.load(path, mmap_mode="r")


WORKING_INPUTS = {
    "read-only": lambda tmp: _readonly(),
    "memory-mapped": _memmap,
    "non-contiguous view": lambda tmp: np.asfortranarray(ROWS),
    "strided rows": lambda tmp: np.repeat(ROWS, 2, axis=0)[::2],
    "big-endian": lambda tmp: ROWS.astype(">f8"),
    "float32": lambda tmp: ROWS.astype(np.float32),
    "list of lists": lambda tmp: ROWS.tolist(),
    "pandas DataFrame": lambda tmp: pytest.importorskip("pandas").DataFrame(ROWS),
    "3-D images": lambda tmp: IMAGES.copy(),
}


@pytest.mark.parametrize("kind", WORKING_INPUTS)
def test_unusual_but_valid_inputs_give_the_numpy_result(kind, tmp_path):
    X = WORKING_INPUTS[kind](tmp_path)
    conv = ConvFeatures(image_shape=None if kind == "3-D images" else (12, 12), random_state=0)
    result = conv.fit(ROWS.reshape(IMAGES.shape) if kind == "3-D images" else ROWS).transform(X)
    tol = 1e-5 if kind == "float32" else 1e-12
    assert_allclose(result, _reference_features(ROWS), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.full((3, 144), np.nan), "NaN"),
        (np.full((3, 144), np.inf), "infinity"),
        (np.full((3, 144), -np.inf), "infinity"),
        (np.zeros((0, 144)), "0 sample"),
        (np.array([["a"] * 144] * 2), "could not convert|dtype"),
        (np.zeros(144), "Expected 2D array"),
        (np.zeros((2, 1, 1, 1, 144)), "X must be 2-D"),
        (np.ones((3, 143)), "image_shape"),
        ([[1.0, 2.0], [3.0]], "unequal lengths"),
        (np.array([[1 + 2j] * 144]), "[Cc]omplex"),
    ],
)
def test_bad_data_is_rejected_with_a_clear_error(X, match):
    with pytest.raises(ValueError, match=match):
        ConvFeatures(image_shape=(12, 12)).fit(X)


def test_integer_pixels_equal_their_float_values():
    pixels = (ROWS * 255).astype(np.uint8)
    conv = ConvFeatures(image_shape=(12, 12), random_state=0).fit(pixels)
    assert_allclose(conv.transform(pixels), conv.transform(pixels.astype(float)))


def test_object_arrays_of_non_numbers_raise_a_type_error_naming_x():
    with pytest.raises(TypeError, match="X must contain real numbers"):
        ConvFeatures(image_shape=(12, 12)).fit(np.array([[object()] * 144] * 2))


def test_one_sample_and_one_pixel_work():
    assert ConvFeatures(image_shape=(12, 12)).fit(ROWS[:1]).transform(ROWS[:1]).shape == (1, 256)
    one_pixel = ConvFeatures(bank=RandomBank(kernel_size=1, zero_mean=False), random_state=0)
    assert one_pixel.fit(np.ones((4, 1))).transform(np.ones((2, 1))).shape == (2, 64)


# --- numerics that used to go wrong silently ---------------------------------------------


def test_tiny_gaussian_windows_give_finite_features():
    features = ConvFeatures(
        image_shape=(12, 12), pooling="mean", pool_grid=2, pool_sigma=1e-9, random_state=0
    ).fit_transform(ROWS)
    assert np.isfinite(features).all()


def test_huge_outputs_fail_with_a_message_saying_what_to_change():
    signal = np.zeros((1, 2_000_000), dtype=np.float32)
    conv = ConvFeatures(bank=np.ones((20_000, 1)), pooling=None)
    with pytest.raises(MemoryError, match="GiB.*pool"):
        conv.fit(signal).transform(signal)


def test_float32_learned_banks_survive_a_large_offset():
    X = (1000.0 + RNG.uniform(0, 1, (20, 12, 12))).reshape(20, -1)
    conv = ConvFeatures(
        PatchBank(n_kernels=8, kernel_size=3, random_state=0),
        image_shape=(12, 12),
        nonlinearity="triangle",
        random_state=0,
    )
    exact = conv.fit(X).transform(X)
    single = conv.fit(X.astype(np.float32)).transform(X.astype(np.float32))
    assert np.abs(single - exact).max() < 1e-2 * np.abs(exact).max()


# --- dask snapshots and threads ----------------------------------------------------------


def test_lazy_dask_results_are_snapshots_of_the_fitted_state():
    da = pytest.importorskip("dask.array")
    conv = ConvFeatures(image_shape=(12, 12), random_state=0).fit(ROWS)
    lazy = conv.transform(da.from_array(ROWS, chunks=3))
    expected = conv.transform(ROWS)
    conv.set_params(pool_grid=2).fit(ROWS)
    computed = lazy.compute()
    assert computed.shape == lazy.shape == expected.shape
    assert_allclose(computed, expected)


def _blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_concurrent_transforms_agree_and_restore_thread_settings():
    conv = ConvFeatures(image_shape=(12, 12), random_state=0).fit(ROWS)
    X = np.tile(ROWS, (200, 1))
    expected = conv.transform(X)
    before = _blas_threads()
    results, errors = [None] * 4, []

    def work(i):
        try:
            results[i] = copy.copy(conv).set_params(n_jobs=2).transform(X)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for result in results:
        assert_allclose(result, expected)
    assert _blas_threads() == before


def test_array_bank_kernels_of_nan_are_rejected():
    with pytest.raises(ValueError, match="NaN|kernels"):
        ArrayBank(np.full((2, 3, 3), np.nan)).fit(IMAGES[:, None])


# --- defaults that serve ---------------------------------------------------------------


def test_defaults_beat_raw_pixels_on_digits():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = load_digits(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    head = [StandardScaler(), LogisticRegression(max_iter=2000)]
    raw = cross_val_score(make_pipeline(*head), X, y, cv=cv).mean()
    conv = cross_val_score(
        make_pipeline(ConvFeatures(image_shape=(8, 8), random_state=0), *head), X, y, cv=cv
    ).mean()
    assert conv > raw + 0.01


def test_flattened_square_rows_without_image_shape_warn():
    with pytest.warns(UserWarning, match=r"image_shape=\(12, 12\)") as record:
        ConvFeatures().fit(ROWS)
    assert record[0].filename == __file__  # the user's line, not scikit-learn's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ConvFeatures(image_shape=(144,)).fit(ROWS)  # declared signals: silent


def test_default_patch_bank_gives_the_same_features_for_0_1_and_0_255_pixels():
    from sklearn.datasets import load_digits

    X = load_digits().data[:300] / 16.0
    conv = ConvFeatures(PatchBank(n_kernels=16, random_state=0), image_shape=(8, 8), random_state=0)
    unit = conv.fit(X).transform(X)
    assert conv.bank_.norm_reg_ == pytest.approx(10 / 255**2)
    byte = conv.fit(X * 255).transform(X * 255)
    assert conv.bank_.norm_reg_ == pytest.approx(10.0)
    assert_allclose(unit, byte, rtol=1e-6, atol=1e-8)


def test_demo_with_a_missing_data_file_exits_with_a_message(capsys):
    from skconv._demo import main

    with pytest.raises(SystemExit) as info:
        main(["--data", "/nonexistent/mnist.npz"])
    assert info.value.code == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_features=1000.5), "n_features"),
        (dict(n_features="10k"), "n_features"),
        (dict(n_features=True), "n_features"),
        (dict(n_features=10), "n_features"),
        (dict(max_channels=0), "max_channels"),
        (dict(max_channels=True), "max_channels"),
    ],
)
def test_presets_validate_their_own_parameters_and_name_them(kwargs, match):
    from skconv import make_minirocket

    with pytest.raises(ValueError, match=f"'{match}' parameter of make_minirocket"):
        make_minirocket(**kwargs)


@pytest.mark.parametrize("statistic", ["mpv", "mipv", "lspv"])
@pytest.mark.parametrize(
    "name, value", [("pool_sigma", 0.5), ("pool_grid", (20, 20)), ("pool_grid", 0)]
)
def test_new_statistics_get_the_same_clear_errors(statistic, name, value):
    with pytest.raises(ValueError, match=name):
        ConvFeatures(image_shape=(12, 12), pooling=statistic, **{name: value}).fit(ROWS)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ConvFeatures(image_shape=(12, 12)).fit(ROWS + 1j), "X"),
        (lambda: ConvFeatures(image_shape=(12, 12)).fit(ROWS).transform(ROWS * 1j), "X"),
        (lambda: ConvFeatures(image_shape=(12, 12)).fit(ROWS.tolist() + [[1j] * 144]), "X"),
        (lambda: ConvFeatures(ArrayBank(KERNELS * (1 + 1j))).fit(IMAGES), "bank kernels"),
        (lambda: convolve(IMAGES + 1j, KERNELS), "images"),
        (lambda: convolve(IMAGES, KERNELS.astype(np.complex64)), "kernels"),
    ],
)
def test_complex_data_and_kernels_are_rejected_naming_them(call, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: refused before any cast
        with pytest.raises(ValueError, match=f"^Complex data not supported: {name} holds"):
            call()
