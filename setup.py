"""Build the optional compiled loops (everything else is in pyproject.toml).

``skconv.engine._stat_loops`` counts map values above biases and updates the
states of MultiRocket's statistics (the series path; its whole-region loop
calls BLAS through ``scipy.linalg.cython_blas``, so scipy is a build
requirement, as for scikit-learn); ``skconv.engine._direct``
correlates padded windows with a few kernels (the GEMM path's tiles, float32,
few channels); ``skconv.engine._encoders`` computes the learned banks'
responses and encoders in one pass per patch. All are optional: without a C
compiler (or without GCC/Clang vector extensions) the build skips them and
skconv uses numpy and BLAS instead (``skconv.show_versions()`` says which loops
are built, and the first computation that would use a missing one warns).
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildOptionalExt(build_ext):
    """Build each optional extension, or remove what an earlier build left of it.

    A compile that fails (no C compiler) is skipped because the extensions are
    optional; without this, the ``.so`` of an earlier successful build (in
    ``build/`` or, for editable installs, in ``skconv/``) would ship instead,
    stale, and hide that nothing was compiled.
    """

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:  # the three loops compile side by side (2 cores: 0.74x)
            self.parallel = os.cpu_count() or 1

    def build_extension(self, ext):
        target = self.get_ext_fullpath(ext.name)
        in_source = os.path.join(*ext.name.split(".")[:-1], os.path.basename(target))
        try:
            super().build_extension(ext)
        except Exception:
            for stale in {target, in_source}:
                if os.path.exists(stale):
                    os.remove(stale)
            raise


flags = [] if sys.platform == "win32" else ["-O3"]
# The encoders' square roots never set errno: without it, they vectorise.
extra = {"_encoders": [] if sys.platform == "win32" else ["-fno-math-errno"]}
extensions = [
    Extension(
        f"skconv.engine.{name}",
        [f"skconv/engine/{name}.pyx"],
        depends=[f"skconv/engine/{name}.h"],
        extra_compile_args=flags + extra.get(name, []),
        optional=True,
    )
    for name in ("_stat_loops", "_direct", "_encoders")
]
extensions = cythonize(extensions, quiet=True)
for compiled in extensions:  # cythonize builds new Extension objects: keep them optional
    compiled.optional = True
setup(ext_modules=extensions, cmdclass={"build_ext": BuildOptionalExt})
