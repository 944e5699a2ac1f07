"""numpydoc validation of the public API, as sklearn/tests/test_docstrings.py does."""

import pytest

numpydoc_validation = pytest.importorskip("numpydoc.validate")

import skconv  # noqa: E402

# Checks not enforced (the same family scikit-learn skips): extended summaries,
# See Also / Examples on every method, and docstring start/end blank lines.
IGNORED = {"GL01", "GL02", "ES01", "SA01", "EX01", "RT02", "PR02", "SS05", "GL08"}

# Every public name of skconv, and the public methods its classes define or
# inherit from a skconv base (not scikit-learn's own, such as fit_transform).
PUBLIC = []
for name in sorted(set(skconv.__all__) - {"__version__", "SlowPathWarning"}):
    obj = getattr(skconv, name)
    PUBLIC.append(f"skconv.{name}")
    if isinstance(obj, type):
        PUBLIC += [
            f"skconv.{name}.{method}"
            for method in dir(obj)
            if not method.startswith("_")
            and callable(getattr(obj, method))
            and getattr(getattr(obj, method), "__module__", "").startswith("skconv")
        ]


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring(name):
    result = numpydoc_validation.validate(name)
    errors = [f"{code}: {msg}" for code, msg in result["errors"] if code not in IGNORED]
    assert not errors, f"{name}:\n" + "\n".join(errors)
