"""The main job, `python -m skconv`, on a small number of folds."""

import io

import numpy as np
import pytest

from skconv._demo import main, run_demo, run_mnist


def test_demo_table_shows_convfeatures_beating_raw_pixels():
    out = io.StringIO()
    results = run_demo(n_splits=2, file=out)
    names = [r[0] for r in results]
    assert names[0] == "raw pixels" and len(results) == 4
    text = out.getvalue()
    assert all(name in text for name in names)
    raw = results[0][1]
    assert all(accuracy > raw for _, accuracy, *_ in results[1:])


def test_mnist_mode_reads_a_local_file(tmp_path, capsys):
    from sklearn.datasets import load_digits

    digits, labels = load_digits(return_X_y=True)
    images = np.kron(digits.reshape(-1, 8, 8), np.ones((4, 4)))[:, 2:30, 2:30]  # 28x28
    images = (images * 255 / 16).astype(np.uint8)
    path = tmp_path / "mini_mnist.npz"
    np.savez(
        path,
        x_train=images[:600],
        y_train=labels[:600],
        x_test=images[600:800],
        y_test=labels[600:800],
    )
    main(["--data", str(path), "--train", "600", "--bank", "random"])
    text = capsys.readouterr().out
    assert "600 training and 200 test images" in text
    assert "raw pixels" in text and "random bank" in text and "Gabor" not in text
    results = run_mnist(str(path), 600, ("gabor",), file=io.StringIO())
    assert [r[0] for r in results][1].startswith("ConvFeatures, Gabor")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--folds", "1"], "--folds must be >= 2"),
        (["--bank", "wavelet"], "invalid choice"),
        (["--train", "3"], "--train applies to MNIST only"),
        (["--train", "600"], "--train applies to MNIST only"),
        (["--n-jobs", "0"], "--n-jobs must be"),
        (["--data", "no-such-file.npz"], "no such file"),
    ],
)
def test_demo_rejects_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_demo_rejects_data_files_that_are_not_mnist(tmp_path, capsys):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((2, 28, 28), dtype=np.uint8))
    not_npz = tmp_path / "text.npz"
    not_npz.write_text("not a zip")
    for path, message in [(wrong, "lacks the array(s) x_train"), (not_npz, "not a readable")]:
        with pytest.raises(SystemExit):
            main(["--data", str(path)])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--data", str(wrong), "--folds", "3"])
    assert "apply to the digits demo" in capsys.readouterr().err
