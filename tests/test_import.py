"""`import skconv` stays light: no dask, no matplotlib (scikit-learn itself may load pandas)."""

import subprocess
import sys


def test_import_does_not_load_heavy_optional_modules():
    code = (
        "import sys, skconv; "
        "heavy = [m for m in ('dask', 'distributed', 'dask_ml', 'matplotlib', 'torch', 'zarr') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
