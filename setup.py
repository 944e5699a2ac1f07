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
            if ext.name in OPENMP_EXTENSIONS and self._openmp():
                openmp = _openmp_flags(self.compiler)
                ext.extra_compile_args = ext.extra_compile_args + openmp
                ext.extra_link_args = ext.extra_link_args + openmp
            super().build_extension(ext)
        except Exception:
            for stale in {target, in_source}:
                if os.path.exists(stale):
                    os.remove(stale)
            raise

    def _openmp(self):
        """Whether the compiler builds and links an OpenMP program (checked once)."""
        if getattr(self, "_has_openmp", None) is None:
            self._has_openmp = _compiles_openmp(self.compiler)
        return self._has_openmp


# The plane loops share their items between OpenMP threads (as scikit-learn's
# Cython loops do); without OpenMP they run on the calling thread.
OPENMP_EXTENSIONS = {"skconv.engine._encoders"}


def _openmp_flags(compiler):
    return ["/openmp"] if getattr(compiler, "compiler_type", "") == "msvc" else ["-fopenmp"]


def _compiles_openmp(compiler):
    """Compile and link a one-line OpenMP program with ``compiler``'s flags."""
    import tempfile

    flags = _openmp_flags(compiler)
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "check_openmp.c")
        with open(source, "w") as file:
            file.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
        try:
            objects = compiler.compile([source], output_dir=folder, extra_postargs=flags)
            compiler.link_executable(
                objects, "check_openmp", output_dir=folder, extra_postargs=flags
            )
        except Exception:
            print("skconv: the C compiler does not build OpenMP; the plane loops run on one thread")
            return False
    return True


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
