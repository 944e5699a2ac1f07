"""The main job, `python -m skconv`, on a small number of folds."""

import io

import pytest

from skconv._demo import main, run_demo


def test_demo_table_shows_convfeatures_beating_raw_pixels():
    out = io.StringIO()
    results = run_demo(n_splits=2, file=out)
    names = [r[0] for r in results]
    assert names[0] == "raw pixels" and len(results) == 3
    text = out.getvalue()
    assert all(name in text for name in names)
    raw, random_bank, gabor = (r[1] for r in results)
    assert random_bank > raw and gabor > raw


def test_demo_rejects_bad_folds():
    with pytest.raises(SystemExit):
        main(["--folds", "1"])
