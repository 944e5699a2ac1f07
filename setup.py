"""Build the optional compiled kernel (everything else is in pyproject.toml).

``skconv._count_above`` is a small Cython loop for the biased-PPV path. It is
optional: without a C compiler the build skips it and skconv uses numpy for
the same counts.
"""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

flags = [] if sys.platform == "win32" else ["-O3"]
extension = Extension(
    "skconv._count_above",
    ["skconv/_count_above.pyx"],
    depends=["skconv/_count_above.h"],
    extra_compile_args=flags,
    optional=True,
)
extensions = cythonize([extension], quiet=True)
for compiled in extensions:  # cythonize builds new Extension objects: keep them optional
    compiled.optional = True
setup(ext_modules=extensions)
