"""``skconv.show_versions()``: what a bug report needs, as ``sklearn.show_versions()``."""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from .engine.compiled import LOOPS, status

_DEPENDENCIES = (
    "skconv",
    "numpy",
    "scipy",
    "scikit-learn",
    "joblib",
    "threadpoolctl",
    "dask",
    "distributed",
    "dask-ml",
    "matplotlib",
    "pandas",
)


def _versions():
    found = {}
    for name in _DEPENDENCIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _thread_info():
    from threadpoolctl import threadpool_info

    return [
        {key: pool.get(key) for key in ("internal_api", "version", "num_threads", "filepath")}
        for pool in threadpool_info()
    ]


def _openmp_state():
    """Whether the "planes" loop runs its own threads (built with OpenMP)."""
    from .engine.compiled import load

    encoders = load("_encoders")
    if encoders is None:
        return "no (skconv.engine._encoders not built)"
    if not encoders.OPENMP:
        return "no (built without it: the planes loop's threads are Python workers)"
    return "yes, the planes loop runs n_jobs threads itself"


def show_versions():
    """Print the versions of Python, skconv's dependencies, BLAS and the compiled loops.

    The compiled loops are optional: skconv installed without a C compiler
    works, on numpy's slower paths; this says which loops are built.

    Examples
    --------
    >>> import skconv
    >>> skconv.show_versions()  # doctest: +SKIP
    """
    print("\nSystem:")
    print(f"    python: {sys.version.splitlines()[0]}")
    print(f"executable: {sys.executable}")
    print(f"   machine: {platform.platform()}")
    print("\nPython dependencies:")
    for name, found in _versions().items():
        print(f"{name:>13}: {found if found is not None else 'not installed'}")
    print("\nCompiled loops:")
    for name, built in status().items():
        state = "built, in use" if built else "NOT BUILT (numpy fallback, slower)"
        print(f"{name:>13}: {state} - {LOOPS[name]}")
    print(f"{'OpenMP':>13}: {_openmp_state()}")
    print("\nThreadpoolctl info:")
    for pool in _thread_info():
        for key, value in pool.items():
            print(f"{key:>13}: {value}")
        print()
