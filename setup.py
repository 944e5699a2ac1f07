"""Build the optional compiled loops (everything else is in pyproject.toml).

``skconv._count_above`` counts map values above biases (the biased-PPV path
of time series); ``skconv._direct`` correlates padded windows with a few
kernels (the GEMM path's tiles, float32, few channels). Both are optional:
without a C compiler (or, for ``_direct``, without GCC/Clang vector
extensions) the build skips them and skconv uses numpy and BLAS instead.
"""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

flags = [] if sys.platform == "win32" else ["-O3"]
extensions = [
    Extension(
        f"skconv.{name}",
        [f"skconv/{name}.pyx"],
        depends=[f"skconv/{name}.h"],
        extra_compile_args=flags,
        optional=True,
    )
    for name in ("_count_above", "_direct")
]
extensions = cythonize(extensions, quiet=True)
for compiled in extensions:  # cythonize builds new Extension objects: keep them optional
    compiled.optional = True
setup(ext_modules=extensions)
