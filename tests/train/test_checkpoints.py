"""A trial's checkpoint folders: written whole or not at all, the newest few kept, and the
state a restarted trial trains on from. Sweeps that write them from lanes and inline trials
are ``tests/sweep/test_pooled_execution.py`` and ``tests/faults/test_driver_killed.py``."""

from __future__ import annotations

import pickle

import pytest
import torch

from benchmark.train.checkpoints import (
    CHECKPOINTS_KEPT,
    STATE_FILE,
    TrialCheckpoints,
    load_state,
    save_state,
)


def _epoch_state(epoch: int) -> dict:
    return {"epoch": epoch, "model": {"w": torch.full((2,), float(epoch))}, "optimizer": {}}


def test_each_save_is_a_new_folder_named_like_ray_trains_and_only_the_newest_stay(tmp_path):
    checkpoints = TrialCheckpoints(tmp_path / "trial")
    written = [checkpoints.save(_epoch_state(epoch)) for epoch in (1, 2, 3)]

    assert checkpoints.paths() == written[-CHECKPOINTS_KEPT:]
    assert all(path.name.startswith("checkpoint_20") for path in written)
    assert sorted(path.name for path in (tmp_path / "trial").iterdir()) == [
        path.name for path in written[-CHECKPOINTS_KEPT:]
    ]  # nothing half-written or temporary is left beside them
    assert load_state(written[-1])["epoch"] == 3


def test_a_restarted_trial_resumes_from_its_newest_training_checkpoint(tmp_path):
    checkpoints = TrialCheckpoints(tmp_path / "trial")
    assert checkpoints.resume_state() is None  # a trial's first run

    checkpoints.save(_epoch_state(1))
    checkpoints.save(_epoch_state(2))
    assert checkpoints.resume_state()["epoch"] == 2
    assert checkpoints.final() is None  # still training

    # Stopped after its final checkpoint (weights only) but before its record: it redoes
    # the final evaluation from its last epoch's state.
    final = checkpoints.save({"epoch": 2, "model": {"w": torch.zeros(2)}, "final": True})
    resumed = checkpoints.resume_state()
    assert resumed["epoch"] == 2 and "optimizer" in resumed
    assert checkpoints.final() == final  # what MLflow logs with log_models: true


def test_a_checkpoint_cut_off_while_written_is_never_read(tmp_path):
    checkpoints = TrialCheckpoints(tmp_path / "trial")
    checkpoints.save(_epoch_state(1))
    # What a process killed in the middle of a save leaves behind.
    half = tmp_path / "trial" / ".checkpoint_2099-01-01_00-00-00.000000.123.tmp"
    half.mkdir()
    (half / STATE_FILE).write_bytes(b"\x00" * 10)

    assert checkpoints.resume_state()["epoch"] == 1


def test_a_state_file_refuses_pickled_code(tmp_path):
    save_state(tmp_path, _epoch_state(1))
    assert torch.equal(load_state(tmp_path)["model"]["w"], torch.ones(2))

    torch.save({"epoch": 1, "hook": pickle.loads}, tmp_path / STATE_FILE)
    with pytest.raises(pickle.UnpicklingError):
        load_state(tmp_path)


def test_a_state_file_skips_the_per_record_checksums_and_loads_whole(tmp_path):
    """``torch.save`` checksums each record unless told not to; ``torch.load`` never reads
    the checksums, so a checkpoint skips them, and nothing else in the process does."""
    import zipfile

    weights = torch.arange(1000, dtype=torch.float32)
    save_state(tmp_path, {"epoch": 4, "model": {"w": weights}})

    with zipfile.ZipFile(tmp_path / STATE_FILE) as archive:
        tensors = [info for info in archive.infolist() if "/data/" in info.filename]
        assert tensors and all(info.CRC == 0 for info in tensors)
    state = load_state(tmp_path)
    assert state["epoch"] == 4 and torch.equal(state["model"]["w"], weights)
    assert torch.serialization.get_crc32_options()  # the process's setting is given back
