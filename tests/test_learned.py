"""Learned banks (PatchBank) and the encoders, against explicit patches."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline

from skconv import ConvFeatures, PatchBank, RandomBank
from skconv._patches import sample_patches

DIGITS = load_digits().images[:300, None] / 16.0  # (300, 1, 8, 8) in 0..1
RGB = np.random.default_rng(0).random((20, 3, 9, 10))


def explicit_patches(images, size):
    """Every valid patch of every image, (n, h_out * w_out, C * kh * kw), by loops."""
    n, c, h, w = images.shape
    kh, kw = size
    out = []
    for image in images:
        out.append(
            [
                image[:, y : y + kh, x : x + kw].ravel()
                for y in range(h - kh + 1)
                for x in range(w - kw + 1)
            ]
        )
    return np.array(out)


def test_sample_patches_is_reproducible_and_exact():
    a = sample_patches(RGB, (3, 4), 50, np.random.RandomState(0))
    b = sample_patches(RGB, (3, 4), 50, np.random.RandomState(0))
    assert a.shape == (50, 36)
    assert_array_equal(a, b)
    every = explicit_patches(RGB, (3, 4)).reshape(-1, 36)
    for patch in a:  # each sampled patch is a real patch of the data
        assert np.isclose(every, patch).all(axis=1).any()


def test_kmeans_recovers_known_patterns():
    rng = np.random.default_rng(0)
    patterns = np.array([np.eye(3), np.eye(3)[::-1], np.ones((3, 3)), -np.ones((3, 3))])
    images = patterns[rng.integers(0, 4, 400)] + rng.normal(0, 0.05, (400, 3, 3))
    bank = PatchBank(
        KMeans(4, n_init=10, random_state=0),
        kernel_size=3,
        n_patches=400,
        normalize=False,
        whiten=False,
        random_state=0,
    ).fit(images[:, None])
    centres = bank.kernels_[:, 0]
    for pattern in patterns:
        assert min(np.abs(centres - pattern).max() for centres in centres) < 0.05
    assert sorted(bank.cluster_sizes_) == sorted(np.bincount(bank.estimator_.labels_))


def test_pca_kernels_are_orthonormal_and_ica_dictionary_work():
    bank = PatchBank("pca", n_kernels=6, kernel_size=3, whiten=False, random_state=0).fit(DIGITS)
    flat = bank.kernels_.reshape(6, -1)
    assert_allclose(flat @ flat.T, np.eye(6), atol=1e-10)
    for estimator in ("ica", "dictionary"):
        other = PatchBank(estimator, n_kernels=4, kernel_size=3, n_patches=500, random_state=0)
        assert other.fit(DIGITS).kernels_.shape == (4, 1, 3, 3)
    own = PatchBank(MiniBatchDictionaryLearning(3, random_state=0), kernel_size=3, n_patches=300)
    assert own.fit(DIGITS).kernels_.shape == (3, 1, 3, 3)


def test_whitening_decorrelates_the_sampled_patches():
    bank = PatchBank(
        n_kernels=4, kernel_size=3, n_patches=5000, norm_reg=0.01, whiten_reg=1e-6, random_state=0
    )
    bank.fit(RGB)
    patches = sample_patches(RGB, (3, 3), 5000, np.random.RandomState(0))
    white = bank.patch_transform_.apply(patches)
    assert_allclose(np.cov(white.T, bias=True), np.eye(27), atol=0.05)


@pytest.mark.parametrize(
    "normalize, whiten", [(True, True), (True, False), (False, True), (False, False)]
)
@pytest.mark.parametrize("nonlinearity", [None, "triangle", "soft_threshold"])
def test_transform_equals_explicit_normalised_whitened_patches(normalize, whiten, nonlinearity):
    bank = PatchBank(
        n_kernels=5,
        kernel_size=(3, 4),
        n_patches=400,
        normalize=normalize,
        norm_reg=0.1,
        whiten=whiten,
        random_state=0,
    )
    conv = ConvFeatures(
        bank, padding="valid", nonlinearity=nonlinearity, threshold=0.1, pooling=None
    ).fit(RGB)
    x = conv.bank_.patch_transform_.apply(explicit_patches(RGB, (3, 4)).reshape(-1, 36))
    centres = conv.kernels_.reshape(5, -1)
    responses = x @ centres.T  # (patches, K)
    if nonlinearity == "triangle":
        z = np.sqrt(((x[:, None, :] - centres[None]) ** 2).sum(axis=2))
        expected = np.maximum(0, z.mean(axis=1, keepdims=True) - z)
    elif nonlinearity == "soft_threshold":
        expected = np.maximum(0, responses - 0.1)
    else:
        expected = responses
    # transform returns (kernel, row, column) order
    expected = expected.reshape(20, 7, 7, 5).transpose(0, 3, 1, 2).reshape(20, -1)
    assert_allclose(conv.transform(RGB), expected, rtol=1e-8, atol=1e-8)


def test_triangle_on_a_plain_bank_uses_raw_patches():
    conv = ConvFeatures(
        RandomBank(3, 3), padding="valid", nonlinearity="triangle", pooling=None, random_state=0
    )
    conv.fit(DIGITS[:5])
    x = explicit_patches(DIGITS[:5], (3, 3)).reshape(-1, 9)
    centres = conv.kernels_.reshape(3, -1)
    z = np.sqrt(((x[:, None, :] - centres[None]) ** 2).sum(axis=2))
    expected = np.maximum(0, z.mean(axis=1, keepdims=True) - z).reshape(5, 6, 6, 3)
    assert_allclose(
        conv.transform(DIGITS[:5]), expected.transpose(0, 3, 1, 2).reshape(5, -1), atol=1e-10
    )


def test_float32_and_float64_agree_and_seeds_reproduce():
    params = dict(n_kernels=8, kernel_size=3, n_patches=1000, norm_reg=0.01)
    conv = ConvFeatures(
        PatchBank(**params), nonlinearity="triangle", pool_grid=2, pooling="sum", random_state=0
    )
    out64 = conv.fit_transform(DIGITS)
    again = ConvFeatures(
        PatchBank(**params), nonlinearity="triangle", pool_grid=2, pooling="sum", random_state=0
    )
    assert_array_equal(again.fit_transform(DIGITS), out64)
    out32 = conv.fit_transform(DIGITS.astype(np.float32))
    assert out32.dtype == np.float32
    assert_allclose(out32, out64, rtol=2e-3, atol=2e-3 * np.abs(out64).max())


def test_bank_is_relearned_per_fit_and_grid_searchable():
    X, y = DIGITS.reshape(300, -1), load_digits().target[:300]
    pipe = make_pipeline(
        ConvFeatures(
            PatchBank(n_kernels=8, kernel_size=3, n_patches=500, norm_reg=0.01),
            image_shape=(8, 8),
            nonlinearity="triangle",
            pool_grid=2,
            pooling="sum",
            random_state=0,
        ),
        LogisticRegression(max_iter=500),
    )
    search = GridSearchCV(pipe, {"convfeatures__bank__n_kernels": [4, 8]}, cv=2).fit(X, y)
    assert (
        search.best_estimator_[0].bank_.kernels_.shape[0]
        == search.best_params_["convfeatures__bank__n_kernels"]
    )
    a = pipe[0].fit(X[:150]).kernels_
    b = pipe[0].fit(X[150:]).kernels_
    assert not np.allclose(a, b)  # learned from the data it is fitted on


def test_two_stages_stack_in_a_pipeline():
    """PCANet-style: the second ConvFeatures reads the first's maps as a K-channel image."""
    X = DIGITS.reshape(300, -1)
    first = ConvFeatures(
        PatchBank("pca", 4, 3, whiten=False),
        image_shape=(8, 8),
        nonlinearity=None,
        pooling=None,
        random_state=0,
    )
    second = ConvFeatures(
        PatchBank("pca", 4, 3, whiten=False),
        image_shape=(4, 8, 8),
        pooling="mean",
        pool_grid=2,
        random_state=0,
    )
    pipe = make_pipeline(first, second)
    features = pipe.fit_transform(X)
    assert features.shape == (300, 4 * 4)
    assert second.kernels_.shape == (4, 4, 3, 3)  # kernels span the 4 first-stage maps
    maps = first.transform(X).reshape(300, 4, 8, 8)
    assert_allclose(second.transform(maps.reshape(300, -1)), features)


def test_patch_bank_validates():
    with pytest.raises(ValueError, match="does not fit"):
        PatchBank(kernel_size=9).fit(DIGITS)
    with pytest.raises(ValueError, match="n_patches"):
        PatchBank(n_patches=0).fit(DIGITS)
    with pytest.raises(ValueError, match="estimator"):
        PatchBank(estimator="svd").fit(DIGITS)
    with pytest.raises(TypeError, match="cluster_centers_"):
        PatchBank(estimator=NearestNeighbors()).fit(DIGITS)


def test_patch_bank_on_a_dask_array_reads_only_what_it_samples():
    da = pytest.importorskip("dask.array")
    computed = []

    def record(block, block_info=None):
        if block.size:
            computed.append(block_info[0]["chunk-location"][0])
        return block

    lazy = da.from_array(DIGITS, chunks=(30, 1, 8, 8)).map_blocks(record, dtype=DIGITS.dtype)
    bank = PatchBank(n_kernels=4, kernel_size=3, n_patches=5, random_state=0).fit(lazy)
    eager = PatchBank(n_kernels=4, kernel_size=3, n_patches=5, random_state=0).fit(DIGITS)
    assert_allclose(bank.kernels_, eager.kernels_)
    assert (
        len(computed) == len(set(computed)) <= 5
    )  # at most the blocks holding the 5 patches, once


def test_dask_ml_kmeans_as_the_estimator():
    cluster = pytest.importorskip("dask_ml.cluster")
    bank = PatchBank(
        cluster.KMeans(n_clusters=4, random_state=0, init_max_iter=2, oversampling_factor=2),
        kernel_size=3,
        n_patches=500,
        norm_reg=0.01,
        random_state=0,
    ).fit(DIGITS)
    assert bank.kernels_.shape == (4, 1, 3, 3)
    assert isinstance(bank.cluster_sizes_, np.ndarray) and bank.cluster_sizes_.sum() == 500


def test_verbose_reports_each_step_of_a_learned_banks_fit(capsys):
    from sklearn.datasets import load_digits

    X = load_digits().data[:200]
    ConvFeatures(PatchBank(n_kernels=4, n_patches=500), image_shape=(8, 8), verbose=1).fit(X)
    lines = [line for line in capsys.readouterr().out.splitlines() if "[PatchBank]" in line]
    assert [line.split(" ")[1] for line in lines] == ["sampled", "normalised", "fitted"]
    ConvFeatures(PatchBank(n_kernels=4, n_patches=500), image_shape=(8, 8)).fit(X)
    assert "[PatchBank]" not in capsys.readouterr().out  # silent by default
