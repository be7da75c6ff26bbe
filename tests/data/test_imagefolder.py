"""A user's ImageFolder tree: train/ and test/ folders, or one folder split with a seed."""

from __future__ import annotations

import numpy as np
import pytest
from formats import truncate, write_class_folders, write_image

from benchmark.data import get_dataset, make_loader
from benchmark.errors import DatasetError


def test_train_and_test_folders_give_the_splits(tmp_path):
    write_class_folders(tmp_path / "ds" / "train", {"ant": 5, "bee": 5, "wasp": 5})
    write_class_folders(tmp_path / "ds" / "test", {"ant": 2, "bee": 2})
    bundle = get_dataset("imagefolder", path=str(tmp_path / "ds"), image_size=24)

    assert bundle.class_names == ["ant", "bee", "wasp"]
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (13, 2, 4)
    assert all("/test/" in path for path in bundle.test.paths)
    assert bundle.test.labels.tolist() == [0, 0, 1, 1]
    assert bundle.input_shape == (3, 24, 24)


def test_a_test_class_unknown_to_train_is_an_error(tmp_path):
    write_class_folders(tmp_path / "ds" / "train", {"ant": 3, "bee": 3})
    write_class_folders(tmp_path / "ds" / "test", {"moth": 1})
    with pytest.raises(DatasetError, match=r"class folders that .* lacks: moth"):
        get_dataset("imagefolder", path=str(tmp_path / "ds"))


def test_one_folder_of_classes_is_split_by_test_fraction_with_its_seed(pets_folder):
    bundle = get_dataset("imagefolder", path=str(pets_folder), image_size=16, test_fraction=0.4)
    again = get_dataset("imagefolder", path=str(pets_folder), image_size=16, test_fraction=0.4)
    other = get_dataset("imagefolder", path=str(pets_folder), image_size=16, test_fraction=0.4,
                        test_seed=1)  # fmt: skip

    assert bundle.class_names == ["cat", "dog", "fish"]
    assert len(bundle.test) == 6 and np.bincount(bundle.test.labels.numpy()).tolist() == [2, 2, 2]
    assert bundle.test.paths == again.test.paths
    assert bundle.test.paths != other.test.paths
    suffixes = {path.rsplit(".", 1)[1] for path in bundle.train.paths}
    assert suffixes == {"jpg", "png"}


@pytest.mark.parametrize(
    ("counts", "expected"),
    [({}, "no images found"), ({"cat": 0, "dog": 0}, "no images found"),
     ({"cat": 4}, "only class 'cat'.*at least two class folders")],
)  # fmt: skip
def test_a_folder_without_images_or_with_one_class_is_an_error(tmp_path, counts, expected):
    folder = tmp_path / "ds"
    folder.mkdir()
    for name in counts:
        (folder / name).mkdir()
    write_class_folders(folder, counts)
    with pytest.raises(DatasetError, match=expected):
        get_dataset("imagefolder", path=str(folder))


def test_path_is_required_and_must_be_a_folder(tmp_path):
    with pytest.raises(DatasetError, match="set the option path"):
        get_dataset("imagefolder")
    with pytest.raises(DatasetError, match="is not a folder"):
        get_dataset("imagefolder", path=str(tmp_path / "absent"))


def test_unreadable_files_are_named_or_skipped_with_a_count(pets_folder, caplog):
    (pets_folder / "dog" / "notes.png").write_bytes(b"")
    (pets_folder / "fish" / "broken.jpg").write_bytes(b"\xff\xd8 garbage")
    with pytest.raises(DatasetError, match=r"unreadable image .*(notes.png|broken.jpg)"):
        get_dataset("imagefolder", path=str(pets_folder))

    bundle = get_dataset("imagefolder", path=str(pets_folder), on_corrupt="skip")
    assert sorted(p.rsplit("/", 1)[1] for p in bundle.skipped_files) == ["broken.jpg", "notes.png"]
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 15
    assert "skipped 2 unreadable image(s)" in caplog.text


def test_an_image_cut_short_fails_when_decoded_naming_the_file_in_one_line(tmp_path):
    folder = tmp_path / "ds"
    write_class_folders(folder, {"a": 3, "b": 3}, suffixes=(".jpg",))
    cut = truncate(write_image(folder / "a" / "big.jpg", (200, 150), seed=5), 0.3)
    bundle = get_dataset("imagefolder", path=str(folder), test_fraction=0.3, image_size=8,
                         val_fraction=0.2)  # fmt: skip
    split = next(name for name in ("train", "val", "test")
                 if str(cut) in bundle.split(name).paths)  # fmt: skip
    loader = make_loader(bundle, split, batch_size=4, num_workers=1)
    with pytest.raises(DatasetError) as caught:
        list(loader)
    assert str(caught.value).startswith(f"cannot decode image {cut}")
    assert "\n" not in str(caught.value)
