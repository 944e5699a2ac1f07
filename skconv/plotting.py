"""Figures: kernels, feature maps, grid-search heat maps (needs matplotlib).

matplotlib is an optional dependency (``pip install skconv[plot]``), imported
only when one of these functions is called. Each returns its
:class:`matplotlib.figure.Figure`.
"""

import numpy as np
from sklearn.exceptions import NotFittedError

from ._input import as_images


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("skconv.plotting needs matplotlib: pip install 'skconv[plot]'") from exc
    return plt


def _check_positive(**values):
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")


def _fitted_kernels(obj):
    """``(kernels, bank)`` from a fitted ConvFeatures or a fitted bank."""
    bank = getattr(obj, "bank_", obj)
    kernels = getattr(obj, "kernels_", None)
    if kernels is None:
        raise NotFittedError(
            f"This {type(obj).__name__} instance is not fitted yet: fit it (or the "
            "ConvFeatures holding it) before plotting."
        )
    return np.asarray(kernels), bank


def kernel_titles(bank, n_kernels):
    """A short title per kernel from what the bank knows about it."""
    if hasattr(bank, "orientations_"):
        parts = {0.0: "re", np.pi / 2: "im"}
        return [
            f"{np.degrees(t):.0f}° f={f:.2f} {parts.get(p, f'{p:.2f}')}"
            for t, f, p in zip(bank.orientations_, bank.frequencies_, bank.phases_)
        ]
    sizes = getattr(bank, "cluster_sizes_", None)
    if sizes is not None:
        return [f"n={s}" for s in sizes]
    return [f"k{i}" for i in range(n_kernels)]


def _grid(plt, n_panels, n_cols, panel_size=1.3):
    n_cols = max(1, min(n_cols, n_panels))
    n_rows = -(-n_panels // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(panel_size * n_cols, panel_size * n_rows + 0.3), squeeze=False
    )
    for ax in axes.ravel()[n_panels:]:
        ax.remove()
    return fig, axes.ravel()[:n_panels]


def _image(kernel):
    """An (h, w) or (h, w, 3) array to show for a (C, kh, kw) kernel."""
    if kernel.shape[0] == 3:
        rgb = np.moveaxis(kernel, 0, -1)
        span = np.abs(rgb).max() or 1.0
        return 0.5 + 0.5 * rgb / span
    return kernel.mean(axis=0)


def plot_kernels(obj, *, max_kernels=64, n_cols=8, titles=True):
    """Show the kernels of a fitted ConvFeatures or bank as a grid.

    2-D kernels are images (3-channel kernels in colour, others averaged over
    channels); 1-D kernels are curves. Titles give a Gabor kernel's orientation,
    frequency and part, or a k-means kernel's cluster size.

    Parameters
    ----------
    obj : ConvFeatures or bank
        Fitted.
    max_kernels : int, default=64
        Show at most this many (the first ones).
    n_cols : int, default=8
        Panels per row.
    titles : bool, default=True
        Title each panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    _check_positive(max_kernels=max_kernels, n_cols=n_cols)
    plt = _pyplot()
    kernels, bank = _fitted_kernels(obj)
    shown = kernels[:max_kernels]
    names = kernel_titles(bank, len(kernels))
    fig, axes = _grid(plt, len(shown), n_cols)
    for ax, kernel, name in zip(axes, shown, names):
        if kernel.ndim == 2:  # (C, k): 1-D
            ax.plot(kernel.T)
        else:
            image = _image(kernel)
            span = np.abs(image).max() or 1.0
            ax.imshow(
                image, cmap="RdBu_r", vmin=-span, vmax=span
            ) if image.ndim == 2 else ax.imshow(image)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles:
            ax.set_title(name, fontsize=7)
    fig.suptitle(f"{type(bank).__name__}: {len(kernels)} kernels of shape {kernels.shape[1:]}")
    fig.tight_layout()
    return fig


def plot_feature_maps(conv, sample, *, max_maps=15, n_cols=8):
    """Show one sample and its maps (after the nonlinearity) for the first kernels.

    Parameters
    ----------
    conv : ConvFeatures
        Fitted.
    sample : array-like
        One sample in the shape ConvFeatures was fitted on (a row, or an
        ``(H, W)`` / ``(C, H, W)`` image).
    max_maps : int, default=15
        Maps shown.
    n_cols : int, default=8
        Panels per row.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    _check_positive(max_maps=max_maps, n_cols=n_cols)
    plt = _pyplot()
    _fitted_kernels(conv)
    sample = np.asarray(sample, dtype=np.float64)
    if sample.size != int(np.prod(conv.input_shape_)):
        raise ValueError(
            f"sample has {sample.size} values but ConvFeatures was fitted on samples of "
            f"shape {conv.input_shape_}."
        )
    maps = conv.feature_maps(sample.reshape(1, -1))[0]
    if maps.ndim == 2:  # 1-D signals: (K, L) -> (K, 1, L)
        maps = maps[:, None, :]
    image = as_images(sample.reshape(1, -1), conv.input_shape_)[0]  # (C, H, W)
    shown = maps[:max_maps]
    names = kernel_titles(conv.bank_, len(maps))
    fig, axes = _grid(plt, len(shown) + 1, n_cols, panel_size=1.5)
    original = image  # (C, H, W); 1-D signals have H == 1
    if original.shape[1] == 1:
        axes[0].plot(original[:, 0].T)
    else:
        axes[0].imshow(_image(original), cmap="gray")
    axes[0].set_title("input", fontsize=8)
    for ax, values, name in zip(axes[1:], shown, names):
        if values.shape[0] == 1:  # 1-D signal
            ax.plot(values[0])
        else:
            ax.imshow(values, cmap="magma")
        ax.set_title(name, fontsize=7)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"maps after {conv.nonlinearity or 'no nonlinearity'} ({maps.shape[0]} kernels)")
    fig.tight_layout()
    return fig


def _label(value):
    """A short label for a searched parameter value (a bank, a tuple, a number)."""
    if hasattr(value, "get_params"):
        params = {
            k: v
            for k, v in value.get_params(deep=False).items()
            if k in ("n_kernels", "kernel_size", "frequencies", "estimator")
        }
        return type(value).__name__ + "".join(f"\n{k}={v}" for k, v in params.items())
    return str(value)


def plot_search_heatmap(search, x_param, y_param, *, ax=None):
    """Mean test score of a fitted search as a heat map over two parameters.

    Where the search varied other parameters too, each cell shows the best
    score over them.

    Parameters
    ----------
    search : GridSearchCV or RandomizedSearchCV
        Fitted (``cv_results_`` is read).
    x_param, y_param : str
        Parameter names as in ``cv_results_`` without ``param_`` (e.g.
        ``"convfeatures__stride"``).
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    results = getattr(search, "cv_results_", None)
    if results is None:
        raise NotFittedError(
            f"This {type(search).__name__} instance is not fitted yet (no cv_results_): "
            "fit the search before plotting it."
        )
    for name in (x_param, y_param):
        if f"param_{name}" not in results:
            raise ValueError(
                f"{name!r} is not a searched parameter; searched: "
                f"{sorted(k[6:] for k in results if k.startswith('param_'))}"
            )
    xs = [_label(v) for v in results[f"param_{x_param}"]]
    ys = [_label(v) for v in results[f"param_{y_param}"]]
    x_labels = list(dict.fromkeys(xs))
    y_labels = list(dict.fromkeys(ys))
    grid = np.full((len(y_labels), len(x_labels)), np.nan)
    for x, y, score in zip(xs, ys, results["mean_test_score"]):
        i, j = y_labels.index(y), x_labels.index(x)
        grid[i, j] = score if np.isnan(grid[i, j]) else max(grid[i, j], score)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(x_labels), 1.2 + 0.9 * len(y_labels)))
    else:
        fig = ax.figure
    image = ax.imshow(grid, cmap="viridis")
    for i in range(len(y_labels)):
        for j in range(len(x_labels)):
            ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", color="w", fontsize=9)
    ax.set_xticks(range(len(x_labels)), x_labels, fontsize=8)
    ax.set_yticks(range(len(y_labels)), y_labels, fontsize=8)
    ax.set_xlabel(x_param)
    ax.set_ylabel(y_param)
    ax.set_title("mean test score")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig
