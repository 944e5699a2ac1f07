"""Kernels learned from the data's own patches."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._compat import HasMethods, Interval, StrOptions, _fit_context
from .._kernels import resolve_kernel_size
from .._patches import (
    PatchTransform,
    _learner,
    normalize_patches,
    resolve_norm_reg,
    sample_patches,
    zca_whitening,
)
from ._base import _SIZE_CONSTRAINT, _BaseBank, _image_layout, _step_timer


class PatchBank(_BaseBank):
    """Kernels learned from the training images' own patches.

    The single-layer recipe of Coates, Lee & Ng (2011) and of PCANet: sample
    patches, optionally normalise each one (contrast normalisation) and ZCA-whiten
    them, then fit any scikit-learn estimator exposing ``cluster_centers_`` or
    ``components_``; its centres or components are the kernels. Inside
    :class:`~skconv.ConvFeatures` every patch of the data gets the same
    normalisation and whitening before it meets the kernels, without the patches
    being materialised: the whitening folds into the kernels and a bias, and each
    patch's mean and norm come from box sums over the patch.

    Parameters
    ----------
    estimator : {"kmeans", "pca", "ica", "dictionary"} or estimator, default="kmeans"
        ``"kmeans"``: MiniBatchKMeans; ``"pca"``: PCA; ``"ica"``: FastICA;
        ``"dictionary"``: MiniBatchDictionaryLearning, each with ``n_kernels``
        components. An estimator object (e.g. KMeans, or dask-ml's KMeans) is
        cloned and used with its own size.
    n_kernels : int, default=64
        Number of kernels for a shortcut ``estimator``.
    kernel_size : int or tuple of int, default=5
        Patch (and kernel) size.
    n_patches : int, default=10000
        Patches sampled (reproducibly, from ``random_state``) to learn from.
    normalize : bool, default=True
        Subtract each patch's mean and divide by ``sqrt(var + norm_reg)``.
        Patches must then hold at least 2 values (a one-value patch minus its
        mean is 0): ``kernel_size=1`` on 1-channel images raises a ValueError.
    norm_reg : "auto" or float, default="auto"
        Variance regulariser of the normalisation (> 0: flat patches are then
        divided by ``sqrt(norm_reg)``, not by zero). ``"auto"`` follows the
        data's scale: ``10 * (r / 255) ** 2`` with ``r`` the range of the
        sampled patch values, which is the 10 Coates et al. use for pixels in
        0..255 and 1.5e-4 for pixels in 0..1, so that both scalings learn the
        same kernels. The value used is ``norm_reg_``.
    whiten : bool, default=True
        ZCA-whiten the (normalised) patches.
    whiten_reg : float, default=0.1
        Added to the covariance's eigenvalues before whitening.
    random_state : int, RandomState instance or None, default=None
        Seeds the patch sample and the estimator.
    verbose : int or None, default=None
        Above 0, ``fit`` prints what it did and how long each step took
        (sampling, normalising and whitening, the learner). None: as the
        ``verbose`` of the :class:`~skconv.ConvFeatures` holding the bank.

    Attributes
    ----------
    kernels_ : ndarray of shape ``(K, C, *kernel_size)``
        Centres or components, in the normalised and whitened patch space.
    estimator_ : estimator
        The fitted estimator.
    patch_mean_ : ndarray of shape ``(C * prod(kernel_size),)`` or None
        Mean of the normalised patches (subtracted before whitening).
    whitening_ : ndarray of shape (D, D) or None
        The ZCA matrix, None without whitening.
    cluster_sizes_ : ndarray of shape (K,) or None
        Sampled patches assigned to each centre, for clustering estimators.
    norm_reg_ : float
        The normalisation's regulariser actually used.

    See Also
    --------
    RandomBank : Random kernels.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skconv import PatchBank
    >>> images = load_digits().images[:, None]          # (1797, 1, 8, 8)
    >>> bank = PatchBank("pca", n_kernels=8, kernel_size=3, whiten=False, random_state=0)
    >>> bank.fit(images).kernels_.shape
    (8, 1, 3, 3)
    """

    _parameter_constraints = {
        "estimator": [StrOptions({"kmeans", "pca", "ica", "dictionary"}), HasMethods(["fit"])],
        "n_kernels": [Interval(Integral, 1, None, closed="left")],
        "kernel_size": _SIZE_CONSTRAINT,
        "n_patches": [Interval(Integral, 2, None, closed="left")],
        "normalize": ["boolean"],
        "norm_reg": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "whiten": ["boolean"],
        "whiten_reg": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "verbose": [None, "verbose"],
    }

    def __init__(
        self,
        estimator="kmeans",
        n_kernels=64,
        kernel_size=5,
        *,
        n_patches=10000,
        normalize=True,
        norm_reg="auto",
        whiten=True,
        whiten_reg=0.1,
        random_state=None,
        verbose=None,
    ):
        self.estimator = estimator
        self.n_kernels = n_kernels
        self.kernel_size = kernel_size
        self.n_patches = n_patches
        self.normalize = normalize
        self.norm_reg = norm_reg
        self.whiten = whiten
        self.whiten_reg = whiten_reg
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, images, y=None):
        """Sample patches, normalise and whiten them, fit the estimator.

        Parameters
        ----------
        images : array of shape (n, C, L) or (n, C, H, W)
            Training images (numpy or dask).
        y : None
            Ignored.

        Returns
        -------
        self : PatchBank
            The fitted bank.
        """
        n_channels, n_axes = _image_layout(images)
        size = resolve_kernel_size(self.kernel_size, n_axes)
        if self.normalize and n_channels * int(np.prod(size)) == 1:
            raise ValueError(
                "normalize=True needs patches of at least 2 values: with kernel_size "
                f"{self.kernel_size!r} on {n_channels}-channel images each patch is one "
                "value, which its own mean sets to 0, so every kernel would be learned from "
                "zeros. Pass normalize=False, a larger kernel_size, or more channels."
            )
        rng = check_random_state(self.random_state)
        step = _step_timer(self.verbose)
        patches = sample_patches(images, size, self.n_patches, rng)
        step(f"sampled {len(patches)} patches of {'x'.join(map(str, size))}")
        if not np.ptp(np.asarray(patches), axis=0).any():
            raise ValueError(
                f"PatchBank cannot learn kernels: all {len(patches)} patches sampled from "
                "the training images are the same (constant images?). Train on images "
                "with some variation, or use RandomBank / GaborBank."
            )
        self.norm_reg_ = resolve_norm_reg(self.norm_reg, patches)
        if self.normalize:
            patches = normalize_patches(patches, self.norm_reg_)
        self.patch_mean_, self.whitening_ = None, None
        if self.whiten:
            self.patch_mean_, self.whitening_ = zca_whitening(patches, self.whiten_reg)
            patches = (patches - self.patch_mean_) @ self.whitening_
        if self.normalize or self.whiten:
            done = [
                n for n, on in (("normalised", self.normalize), ("whitened", self.whiten)) if on
            ]
            step(" and ".join(done) + " them")
        learner = _learner(self.estimator, self.n_kernels, rng)
        self.estimator_ = learner.fit(patches)
        step(f"fitted {type(learner).__name__} on them")
        centres = getattr(self.estimator_, "cluster_centers_", None)
        if centres is None:
            centres = getattr(self.estimator_, "components_", None)
        if centres is None:
            raise TypeError(
                f"estimator {type(self.estimator_).__name__} has neither cluster_centers_ "
                "nor components_ after fit."
            )
        self.kernels_ = np.asarray(centres, dtype=np.float64).reshape(-1, n_channels, *size)
        labels = getattr(self.estimator_, "labels_", None)
        self.cluster_sizes_ = (  # np.asarray also computes dask-ml's lazy labels
            np.bincount(np.asarray(labels), minlength=len(self.kernels_))
            if labels is not None
            else None
        )
        return self

    @property
    def patch_transform_(self):
        """What ConvFeatures applies to every patch: see :class:`PatchTransform`."""
        check_is_fitted(self, "kernels_")
        return PatchTransform(
            self.norm_reg_ if self.normalize else None, self.patch_mean_, self.whitening_
        )
