"""`import skconv` stays light: no dask, no matplotlib (scikit-learn itself may load pandas)."""

import subprocess
import sys

import pytest


@pytest.mark.slow  # a fresh interpreter
def test_import_does_not_load_heavy_optional_modules():
    code = (
        "import sys, skconv; "
        "heavy = ('dask', 'distributed', 'dask_ml', 'matplotlib', 'torch', 'zarr', 'tqdm'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
