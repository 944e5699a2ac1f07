"""numpydoc validation of the public API, as sklearn/tests/test_docstrings.py does."""

import pytest

numpydoc_validation = pytest.importorskip("numpydoc.validate")

import skconv  # noqa: E402

# Checks not enforced (the same family scikit-learn skips): extended summaries,
# See Also / Examples on every method, and docstring start/end blank lines.
IGNORED = {"GL01", "GL02", "ES01", "SA01", "EX01", "RT02", "PR02", "SS05", "GL08"}

PUBLIC = ["skconv.convolve"]
for cls_name in ["ConvFeatures", "RandomBank", "GaborBank", "ArrayBank", "PatchBank"]:
    cls = getattr(skconv, cls_name)
    PUBLIC.append(f"skconv.{cls_name}")
    PUBLIC += [
        f"skconv.{cls_name}.{m}"
        for m in ("fit", "transform", "get_feature_names_out")
        if m in cls.__dict__
    ]


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring(name):
    result = numpydoc_validation.validate(name)
    errors = [f"{code}: {msg}" for code, msg in result["errors"] if code not in IGNORED]
    assert not errors, f"{name}:\n" + "\n".join(errors)
