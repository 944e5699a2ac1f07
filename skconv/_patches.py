"""Learning kernels from patches: sampling, normalisation, whitening, the learners.

What :class:`~skconv.PatchBank` does in ``fit``, as plain functions:
a reproducible sample of the images' own patches, Coates et al.'s contrast
normalisation and ZCA whitening, and the estimator that turns patches into
kernels. :class:`PatchTransform` records the map applied to patches, which
:mod:`skconv.engine.learned` folds into the convolution at transform time.
"""

import numpy as np
from sklearn.base import clone


def sample_patches(images, kernel_size, n_patches, random_state):
    """A reproducible random sample of patches, each spanning all channels.

    Only the sampled images are read (for a dask array, only the blocks that
    hold them are computed, once); the patches of the whole dataset never exist.

    Parameters
    ----------
    images : array of shape (n, C, L) or (n, C, H, W)
        numpy or dask array.
    kernel_size : tuple of int
        ``(k,)`` or ``(kh, kw)``; must fit inside the images (no padding).
    n_patches : int
    random_state : numpy.random.RandomState

    Returns
    -------
    patches : ndarray of shape ``(n_patches, C * prod(kernel_size))``, float64
        Flattened in (channel, row, column) order, like a kernel ``(C, kh, kw)``.
    """
    n, n_channels, *spatial = images.shape
    if any(k > s for k, s in zip(kernel_size, spatial)):
        raise ValueError(
            f"kernel_size={tuple(kernel_size)} does not fit in images of size {tuple(spatial)}."
        )
    which = random_state.randint(0, n, n_patches)
    starts = [random_state.randint(0, s - k + 1, n_patches) for s, k in zip(spatial, kernel_size)]
    unique, inverse = np.unique(which, return_inverse=True)
    picked = images[unique]
    if hasattr(picked, "compute"):
        picked = picked.compute()
    picked = np.asarray(picked, dtype=np.float64)
    offsets = np.meshgrid(*[np.arange(k) for k in kernel_size], indexing="ij")
    index = [
        start.reshape((-1,) + (1,) * len(kernel_size)) + off for start, off in zip(starts, offsets)
    ]
    rows = inverse.reshape((-1,) + (1,) * len(kernel_size))
    patches = np.stack([picked[(rows, c, *index)] for c in range(n_channels)], axis=1)
    return patches.reshape(n_patches, -1)


def resolve_norm_reg(norm_reg, patches):
    """``norm_reg`` itself, or for ``"auto"`` Coates's 10 rescaled to the patches' range.

    Examples
    --------
    >>> import numpy as np
    >>> resolve_norm_reg("auto", np.array([[0.0, 255.0]]))
    10.0
    >>> round(resolve_norm_reg("auto", np.array([[0.0, 1.0]])), 6)
    0.000154
    """
    if norm_reg != "auto":
        return float(norm_reg)
    value_range = float(np.ptp(patches)) if np.size(patches) else 0.0
    if not value_range > 0:
        value_range = 255.0  # constant patches: any positive value keeps them finite
    return 10.0 * (value_range / 255.0) ** 2


def normalize_patches(patches, reg):
    """Subtract each patch's mean and divide by ``sqrt(variance + reg)``."""
    mean = patches.mean(axis=1, keepdims=True)
    var = patches.var(axis=1, keepdims=True)
    return (patches - mean) / np.sqrt(var + reg)


def zca_whitening(patches, reg):
    """Mean and ZCA matrix ``U diag(1 / sqrt(s + reg)) U^T`` of the patches.

    Parameters
    ----------
    patches : ndarray of shape (n, D)
    reg : float
        Added to the eigenvalues of the covariance.

    Returns
    -------
    mean : ndarray of shape (D,)
    whitening : ndarray of shape (D, D)
        Symmetric.
    """
    mean = patches.mean(axis=0)
    centered = patches - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centered.T @ centered / len(patches))
    scale = 1.0 / np.sqrt(np.clip(eigenvalues, 0, None) + reg)
    return mean, (eigenvectors * scale) @ eigenvectors.T


def _learner(estimator, n_kernels, random_state):
    """A fresh scikit-learn estimator for a shortcut name, or a clone."""
    if not isinstance(estimator, str):
        learner = clone(estimator)
        if "random_state" in learner.get_params() and learner.get_params()["random_state"] is None:
            learner.set_params(random_state=random_state)
        return learner
    if estimator == "kmeans":
        from sklearn.cluster import MiniBatchKMeans

        return MiniBatchKMeans(n_kernels, n_init=3, batch_size=2048, random_state=random_state)
    if estimator == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_kernels, random_state=random_state)
    if estimator == "ica":
        from sklearn.decomposition import FastICA

        return FastICA(n_kernels, whiten="unit-variance", max_iter=500, random_state=random_state)
    from sklearn.decomposition import MiniBatchDictionaryLearning

    return MiniBatchDictionaryLearning(n_kernels, batch_size=256, random_state=random_state)


class PatchTransform:
    """An affine map of patches: ``x = W ((p - mean(p)) / sqrt(var(p) + reg) - mu)``.

    Parameters
    ----------
    norm_reg : float or None
        Contrast normalisation's regulariser; None skips the normalisation.
    mean : ndarray of shape (D,) or None
        ``mu``, subtracted after normalisation (None: zero).
    whitening : ndarray of shape (D, D) or None
        ``W``, symmetric (None: identity).
    """

    def __init__(self, norm_reg, mean, whitening):
        self.norm_reg = norm_reg
        self.mean = mean
        self.whitening = whitening

    def apply(self, patches):
        """Transform explicit patches ``(n, D)`` (the reference the engine matches)."""
        x = normalize_patches(patches, self.norm_reg) if self.norm_reg is not None else patches
        if self.mean is not None:
            x = x - self.mean
        return x @ self.whitening if self.whitening is not None else x
