"""Figures render with Agg and show what they claim (axes, titles)."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from skconv import ConvFeatures, GaborBank, PatchBank, RandomBank  # noqa: E402
from skconv.plotting import plot_feature_maps, plot_kernels, plot_search_heatmap  # noqa: E402

X, Y = load_digits(return_X_y=True)
X, Y = X[:200] / 16, Y[:200]


def panel_titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_gabor_kernels_are_titled_with_orientation_and_frequency():
    conv = ConvFeatures(GaborBank(4, (0.2, 0.4), kernel_size=5), image_shape=(8, 8)).fit(X)
    fig = plot_kernels(conv)
    assert len(fig.axes) == 16
    titles = panel_titles(fig)
    assert titles[0] == "0° f=0.20 re" and titles[3] == "45° f=0.20 im"
    assert "GaborBank: 16 kernels" in fig._suptitle.get_text()


def test_kmeans_kernels_show_cluster_sizes_and_max_kernels():
    bank = PatchBank(n_kernels=12, kernel_size=3, n_patches=600, norm_reg=0.01, random_state=0)
    conv = ConvFeatures(bank, image_shape=(8, 8)).fit(X)
    fig = plot_kernels(conv, max_kernels=10, n_cols=5)
    assert len(fig.axes) == 10
    sizes = [int(t[2:]) for t in panel_titles(fig)]
    assert sizes == list(conv.bank_.cluster_sizes_[:10])


def test_colour_and_1d_kernels():
    rgb = ConvFeatures(RandomBank(3, 3), random_state=0).fit(np.random.rand(4, 3, 8, 8))
    fig = plot_kernels(rgb.bank_)
    assert fig.axes[0].images[0].get_array().shape == (3, 3, 3)
    signal = ConvFeatures(RandomBank(2, 5), random_state=0).fit(np.random.rand(4, 30))
    assert len(plot_kernels(signal).axes[0].lines) == 1


def test_feature_maps_show_the_input_then_one_map_per_kernel():
    conv = ConvFeatures(RandomBank(6, 3), image_shape=(8, 8), random_state=0).fit(X)
    fig = plot_feature_maps(conv, X[0], max_maps=4)
    assert len(fig.axes) == 5 and fig.axes[0].get_title() == "input"
    shown = fig.axes[1].images[0].get_array()
    assert shown.shape == (8, 8) and shown.min() >= 0  # after relu


def test_feature_maps_of_a_signal_are_curves():
    conv = ConvFeatures(RandomBank(3, 5), random_state=0).fit(np.random.rand(4, 50))
    fig = plot_feature_maps(conv, np.random.rand(50))
    assert all(len(ax.lines) == 1 for ax in fig.axes) and len(fig.axes) == 4


def test_search_heatmap_has_one_cell_per_pair():
    pipe = make_pipeline(
        ConvFeatures(RandomBank(8), image_shape=(8, 8), random_state=0),
        LogisticRegression(max_iter=200),
    )
    search = GridSearchCV(
        pipe, {"convfeatures__stride": [1, 2], "convfeatures__bank__kernel_size": [3, 5]}, cv=2
    ).fit(X, Y)
    fig = plot_search_heatmap(search, "convfeatures__stride", "convfeatures__bank__kernel_size")
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (2, 2)
    assert len(ax.texts) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    with pytest.raises(ValueError, match="not a searched parameter"):
        plot_search_heatmap(search, "convfeatures__stride", "convfeatures__pooling")


def test_unfitted_objects_and_bad_arguments_are_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted"):
        plot_kernels(RandomBank())
    with pytest.raises(NotFittedError, match="not fitted"):
        plot_kernels(ConvFeatures())
    with pytest.raises(NotFittedError, match="not fitted"):
        plot_feature_maps(ConvFeatures(), X[0])
    search = GridSearchCV(ConvFeatures(), {"stride": [1, 2]})
    with pytest.raises(NotFittedError, match="not fitted"):
        plot_search_heatmap(search, "stride", "stride")
    conv = ConvFeatures(RandomBank(2, 3), image_shape=(8, 8), random_state=0).fit(X)
    with pytest.raises(ValueError, match="max_kernels must be a positive int"):
        plot_kernels(conv, max_kernels=0)
    with pytest.raises(ValueError, match="n_cols must be a positive int"):
        plot_feature_maps(conv, X[0], n_cols=-1)
    with pytest.raises(ValueError, match="sample has 10 values"):
        plot_feature_maps(conv, np.zeros(10))
