"""Ready-made ConvFeatures for common recipes."""

from numbers import Integral

from ._compat import Interval, StrOptions, validate_params
from ._difference import SeriesDifference
from ._estimator import ConvFeatures
from ._sparse_scaler import SparseScaler
from .banks import HydraBank, MiniRocketBank

# MiniRocket's 84 kernels: n_features is rounded down to a multiple of it.
_N_MINIROCKET_KERNELS = 84


def _rocket_constraints(min_features):
    """The parameter constraints of the Rocket presets (``n_features >= min_features``)."""
    return {
        "n_features": [Interval(Integral, min_features, None, closed="left")],
        "padding": [None, object],  # checked by ConvFeatures.fit
        "padding_mode": [None, object],
        "max_channels": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [None, Interval(Integral, None, None, closed="neither")],
        "random_state": ["random_state"],
        "dtype": [None, StrOptions({"float32", "float64"})],
    }


def _rocket_features(
    pooling, n_biases, padding, padding_mode, max_channels, n_jobs, random_state, dtype
):
    """MiniRocket's kernels, dilations and fitted biases, pooled by ``pooling``."""
    return ConvFeatures(
        MiniRocketBank(max_channels=max_channels),
        dilation="exponential",
        n_biases=n_biases,
        padding=padding,
        padding_mode=padding_mode,
        nonlinearity=None,
        pooling=pooling,
        pool_grid=1,
        n_jobs=n_jobs,
        random_state=random_state,
        dtype=dtype,
    )


@validate_params(_rocket_constraints(_N_MINIROCKET_KERNELS), prefer_skip_nested_validation=True)
def make_minirocket(
    n_features=10_000,
    *,
    padding="same",
    padding_mode="reflect",
    max_channels=9,
    n_jobs=None,
    random_state=None,
    dtype="float32",
):
    """MiniRocket (Dempster et al. 2021) as a ConvFeatures, for time series.

    MiniRocket's 84 fixed kernels of length 9 (:class:`~skconv.MiniRocketBank`)
    at exponentially spaced dilations, each map pooled as the proportion of
    values above biases fitted from quantiles of the training responses
    (``n_features // 84`` per kernel).

    The defaults differ from MiniRocket in one respect: the series are
    padded by reflection, and every map is pooled whole. MiniRocket pads with
    zeros, where its zero-sum kernels then respond to the step between the
    series and the padding, and pools half of the maps over their valid part
    only; ``padding="alternate", padding_mode="constant"`` reproduces it
    exactly (the same draws for the same ``random_state``: the features equal
    aeon's ``MiniRocket`` up to float32 rounding at ties).
    ``benchmarks/bench_series.py`` compares both on aeon's bundled data sets. Follow it with
    ``RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))`` (small data sets) or
    ``LogisticRegression`` on standardised features (large ones), as the
    MiniRocket paper does.

    Parameters
    ----------
    n_features : int, default=10_000
        About how many features to make (rounded down to a multiple of 84).
    padding : {"same", "alternate"}, default="same"
        ``"alternate"``: MiniRocket's rule (half of the maps pooled over their
        valid part).
    padding_mode : str, default="reflect"
        How the series are padded (``"constant"`` is zeros, as in MiniRocket).
    max_channels : int, default=9
        Multivariate series: each kernel reads a random subset of at most this
        many channels.
    n_jobs : int, default=None
        Threads of ``transform`` (see :class:`~skconv.ConvFeatures`).
    random_state : int, RandomState instance or None, default=None
        Seeds the samples the biases are fitted from and the channel subsets.
    dtype : {"float32", "float64"} or None, default="float32"
        The dtype the features are computed and returned in, whatever the
        input's, as MiniRocket computes in float32: on the float64 series most
        loaders return, 2.6x faster than in float64 (300 series of 500
        samples). None: the input's float dtype.

    Returns
    -------
    conv : ConvFeatures
        Unfitted; every setting stays searchable (``n_biases``, ``dilation``, ...).
        Rows of ``X`` are univariate series; ``X`` of shape ``(n, C, L)`` holds
        ``n`` series of ``C`` channels (aeon's layout).

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import make_minirocket
    >>> X = np.random.default_rng(0).standard_normal((20, 150))
    >>> make_minirocket(random_state=0).fit_transform(X).shape
    (20, 9996)
    """
    n_biases = n_features // _N_MINIROCKET_KERNELS
    return _rocket_features(
        "ppv", n_biases, padding, padding_mode, max_channels, n_jobs, random_state, dtype
    )


# MultiRocket's four statistics, on the series and on its first difference.
_MULTIROCKET_POOLINGS = ("ppv", "mpv", "mipv", "lspv")


@validate_params(
    _rocket_constraints(2 * len(_MULTIROCKET_POOLINGS) * _N_MINIROCKET_KERNELS),
    prefer_skip_nested_validation=True,
)
def make_multirocket(
    n_features=50_000,
    *,
    padding="same",
    padding_mode="reflect",
    max_channels=9,
    n_jobs=None,
    random_state=None,
    dtype="float32",
):
    """MultiRocket (Tan et al. 2022): four statistics of the series and of its difference.

    MiniRocket's kernels, dilations and fitted biases (see
    :func:`make_minirocket`), each map pooled by MultiRocket's four statistics
    (``"ppv"``, ``"mpv"``, ``"mipv"``, ``"lspv"``: proportion, mean and mean
    index of the positive values, longest run of them), on the series and on
    their first-order difference (:class:`~skconv.SeriesDifference`). The
    two representations are the two branches of a ``FeatureUnion``, so
    feature names say where each comes from (``series__...`` and
    ``difference__...``) and every setting is searchable
    (``series__n_biases``, ``difference__convfeatures__dilation``, ...).

    Parameters
    ----------
    n_features : int, default=50_000
        Features in all, about: ``n_features // (2 * 4 * 84)`` biases per
        kernel in each representation (MultiRocket's default gives 49,728).
    padding, padding_mode, max_channels, n_jobs, random_state, dtype : \
            see :func:`make_minirocket`
        The parameters of :func:`make_minirocket`, with its defaults, for
        both representations.

    Returns
    -------
    union : sklearn.pipeline.FeatureUnion
        Unfitted. Rows of ``X`` are univariate series; ``X`` of shape
        ``(n, C, L)`` holds ``n`` series of ``C`` channels.

    See Also
    --------
    make_minirocket : The proportion of positive values of the series alone.

    Notes
    -----
    Univariate series take the series path (runs of positions, never whole
    maps) with a compiled loop that updates the four statistics' states for
    sixteen biases per read of a value; ``benchmarks/bench_series.py``
    compares the time with aeon's ``MultiRocket``.

    References
    ----------
    C. W. Tan, A. Dempster, C. Bergmeir, G. I. Webb. "MultiRocket: multiple
    pooling operators and transformations for fast and effective time series
    classification", Data Mining and Knowledge Discovery 36, 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import make_multirocket
    >>> X = np.random.default_rng(0).standard_normal((20, 60))
    >>> make_multirocket(n_features=1344, random_state=0).fit_transform(X).shape
    (20, 1344)
    """
    from sklearn.pipeline import FeatureUnion, make_pipeline

    n_biases = n_features // (2 * len(_MULTIROCKET_POOLINGS) * _N_MINIROCKET_KERNELS)

    def features():
        return _rocket_features(
            _MULTIROCKET_POOLINGS,
            n_biases,
            padding,
            padding_mode,
            max_channels,
            n_jobs,
            random_state,
            dtype,
        )

    return FeatureUnion(
        [("series", features()), ("difference", make_pipeline(SeriesDifference(), features()))]
    )


# Hydra's statistics: the summed response where a kernel gives its group's
# largest response (soft count), the count of positions where it gives the
# smallest (hard count).
_HYDRA_POOLINGS = ("max_wins_sum", "min_wins")


@validate_params(
    {
        "n_groups": [Interval(Integral, 2, None, closed="left")],
        "group_size": [Interval(Integral, 2, None, closed="left")],
        "max_channels": [Interval(Integral, 1, None, closed="left")],
        "scale": ["boolean"],
        "n_jobs": [None, Interval(Integral, None, None, closed="neither")],
        "random_state": ["random_state"],
        "dtype": [None, StrOptions({"float32", "float64"})],
    },
    prefer_skip_nested_validation=True,
)
def make_hydra(
    n_groups=64,
    *,
    group_size=8,
    max_channels=8,
    scale=True,
    n_jobs=None,
    random_state=None,
    dtype="float32",
):
    """Hydra (Dempster et al. 2023): competing kernels on the series and its difference.

    ``n_groups`` groups of ``group_size`` random kernels of length 9
    (:class:`~skconv.HydraBank`), half of the groups on the series and half
    on their first-order difference (:class:`~skconv.SeriesDifference`), at
    the dyadic dilations (1, 2, 4, ... up to the largest whose span fits
    the series), zero-padded to the series' length. At each position the
    kernels of a group compete: per kernel, the summed response where it
    gives its group's largest response (``"max_wins_sum"``) and the number of
    positions where it gives the smallest (``"min_wins"``), as in Hydra.
    Followed by :class:`~skconv.SparseScaler` (``scale=True``), as Hydra's
    classifier is; then ``RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))``.

    Parameters
    ----------
    n_groups : int, default=64
        Groups in all (``n_groups // 2`` on each representation): Hydra's
        default gives ``64 * 8 * 2 = 1024`` features per dilation.
    group_size : int, default=8
        Kernels per group.
    max_channels : int, default=8
        Multivariate series: channels each group reads (see
        :class:`~skconv.HydraBank`).
    scale : bool, default=True
        End with :class:`~skconv.SparseScaler`.
    n_jobs, random_state, dtype : see :func:`make_minirocket`
        The parameters of :func:`make_minirocket`, with its defaults, for
        both representations.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline or sklearn.pipeline.FeatureUnion
        Unfitted: a ``FeatureUnion`` of the ``series`` and ``difference``
        branches (feature names say which), followed by the scaler when
        ``scale``. Rows of ``X`` are univariate series; ``X`` of shape
        ``(n, C, L)`` holds ``n`` series of ``C`` channels.

    See Also
    --------
    make_multirockethydra : Hydra and MultiRocket together.

    References
    ----------
    A. Dempster, D. F. Schmidt, G. I. Webb. "Hydra: competing convolutional
    kernels for fast and accurate time series classification", Data Mining and
    Knowledge Discovery 37, 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import make_hydra
    >>> X = np.random.default_rng(0).standard_normal((20, 60))
    >>> make_hydra(random_state=0).fit_transform(X).shape
    (20, 3072)
    """
    from sklearn.pipeline import FeatureUnion, make_pipeline

    def features():
        return ConvFeatures(
            HydraBank(n_groups // 2, group_size=group_size, max_channels=max_channels),
            dilation="dyadic",
            padding="same",
            padding_mode="constant",
            nonlinearity=None,
            pooling=_HYDRA_POOLINGS,
            pool_grid=1,
            n_jobs=n_jobs,
            random_state=random_state,
            dtype=dtype,
        )

    union = FeatureUnion(
        [("series", features()), ("difference", make_pipeline(SeriesDifference(), features()))]
    )
    return make_pipeline(union, SparseScaler()) if scale else union


@validate_params(
    {
        "n_features": [
            Interval(Integral, 2 * len(_MULTIROCKET_POOLINGS) * 84, None, closed="left")
        ],
        "n_groups": [Interval(Integral, 2, None, closed="left")],
        "n_jobs": [None, Interval(Integral, None, None, closed="neither")],
        "random_state": ["random_state"],
        "dtype": [None, StrOptions({"float32", "float64"})],
    },
    prefer_skip_nested_validation=True,
)
def make_multirockethydra(
    n_features=50_000, n_groups=64, *, n_jobs=None, random_state=None, dtype="float32"
):
    """MultiRocket and Hydra together, each scaled as its classifier scales it.

    The union of :func:`make_hydra` (its features square-rooted and scaled by
    :class:`~skconv.SparseScaler`) and :func:`make_multirocket` (standardised
    by :class:`~sklearn.preprocessing.StandardScaler`), as in
    MultiRocket-Hydra (Dempster et al. 2023); follow it with
    ``RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))``.

    Parameters
    ----------
    n_features : int, default=50_000
        MultiRocket's features (see :func:`make_multirocket`).
    n_groups : int, default=64
        Hydra's groups (see :func:`make_hydra`).
    n_jobs, random_state, dtype : see :func:`make_minirocket`
        The parameters of :func:`make_minirocket`, with its defaults, for
        every branch.

    Returns
    -------
    union : sklearn.pipeline.FeatureUnion
        Unfitted, with the branches ``hydra`` and ``multirocket``.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import make_multirockethydra
    >>> X = np.random.default_rng(0).standard_normal((20, 60))
    >>> union = make_multirockethydra(n_features=1344, random_state=0)
    >>> union.fit_transform(X).shape
    (20, 4416)
    """
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import StandardScaler

    shared = dict(n_jobs=n_jobs, random_state=random_state, dtype=dtype)
    return FeatureUnion(
        [
            ("hydra", make_hydra(n_groups, **shared)),
            (
                "multirocket",
                make_pipeline(make_multirocket(n_features, **shared), StandardScaler()),
            ),
        ]
    )
