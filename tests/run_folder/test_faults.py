"""Faults end in one line and lose nothing: a full disk, a file where a folder must go, data out
of range, a mandatory value left unset; checkpoints are written whole or not at all."""

from __future__ import annotations

import errno
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from litlab.checkpoint_io import AtomicCheckpointIO
from litlab.data.fashion_files import DataUnavailableError, ensure_fashion_mnist, raw_folder
from tests.conftest import REPO, train_main

QUICK = ["experiment=polynomial", "data.passes_per_epoch=1", "trainer.max_epochs=1", "logger=none"]


def test_a_checkpoint_that_cannot_be_written_whole_leaves_the_good_one(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.zeros(4)}, "global_step": 1}, path)
    good = path.read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(good) + 100, hard))  # Python ignores SIGXFSZ
    try:
        with pytest.raises(OSError) as error:  # the disk is full halfway through the file
            io.save_checkpoint({"state_dict": {"w": torch.zeros(10_000)}, "global_step": 2}, path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert error.value.errno == errno.EFBIG
    assert path.read_bytes() == good and sorted(p.name for p in path.parent.iterdir()) == [
        "last.ckpt"
    ]  # the good one under its name, no temporary file left
    io.save_checkpoint({"state_dict": {}, "global_step": 3}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 3


def test_a_file_where_the_tensorboard_folder_goes_ends_in_one_line(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "tensorboard").write_text("mine\n")
    code, stderr = train_main(monkeypatch, capsys, *QUICK, "logger=tensorboard",
                              f"hydra.run.dir={folder}")  # fmt: skip
    assert code == 1 and "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]] and errors[0].startswith(
        f"error: cannot write '{folder}/tensorboard': File exists; a file stands where a folder"
    )
    assert (folder / "tensorboard").read_text() == "mine\n"
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "failed" and "FileExistsError" in status["error"]


def test_a_file_where_the_data_folder_goes_ends_in_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "data" / "FashionMNIST"  # (a data folder that is a file: exit 2)
    blocker.parent.mkdir()
    blocker.write_text("mine\n")
    args = ["experiment=fashion", "logger=none", f"paths.data_dir={blocker.parent}"]
    code, stderr = train_main(monkeypatch, capsys, *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 1 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"error: cannot write '{blocker}")
    assert blocker.read_text() == "mine\n"


def test_labels_out_of_range_are_named_with_their_file_and_left_alone(tmp_path):
    raw = raw_folder(tmp_path / "data")
    raw.mkdir(parents=True)
    for split, n in (("train", 30), ("t10k", 10)):
        images = np.zeros((n, 28, 28), np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        labels[3] = 12 if split == "train" else 0
        for name, magic, array in (("images-idx3", 2051, images), ("labels-idx1", 2049, labels)):
            header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
            (raw / f"{split}-{name}-ubyte").write_bytes(header + array.tobytes())
    before = (raw / "train-labels-idx1-ubyte").read_bytes()
    with pytest.raises(DataUnavailableError) as error:
        ensure_fashion_mnist(tmp_path / "data", system_dir=None, allow_download=False,
                             log=lambda line: None)  # fmt: skip
    assert f"{raw}/train-labels-idx1-ubyte holds label 12 (item 3); Fashion-MNIST's labels are " \
        "0 to 9" in str(error.value)  # fmt: skip
    assert (raw / "train-labels-idx1-ubyte").read_bytes() == before


def test_a_mandatory_value_left_unset_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    code, stderr = train_main(monkeypatch, capsys, *QUICK, "data.batch_size=???",
                              f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    assert code == 2
    assert stderr == (
        "error: data.batch_size=??? is a mandatory value that nothing sets: pass "
        "data.batch_size=<value>\n"
    )
    assert not (tmp_path / "run" / "checkpoints").exists()


def mount_tmpfs(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def test_a_read_only_folder_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    disk = tmp_path / "read_only"
    if not mount_tmpfs(disk, "ro,size=64k"):  # root ignores a folder's mode bits: a mount
        pytest.skip("needs a tmpfs mount (root)")
    try:
        code, stderr = train_main(monkeypatch, capsys, *QUICK, f"hydra.run.dir={disk}")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert code == 2
    assert stderr == (
        f"error: cannot write the run folder '{disk}': Read-only file system. Choose a writable "
        "place with paths.log_dir=<folder>.\n"
    )


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_ends_in_one_line_and_keeps_the_last_checkpoint(tmp_path):
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "size=4m"):
        pytest.skip("needs a tmpfs mount (root)")
    try:
        folder = disk / "run"
        args = [*QUICK, "trainer.max_epochs=100000", f"hydra.run.dir={folder}"]
        process = subprocess.Popen([sys.executable, "train.py", *args], cwd=REPO, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        last = folder / "checkpoints" / "last.ckpt"
        deadline = time.monotonic() + 240
        while not last.exists():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        time.sleep(1)
        with open(disk / "filler", "wb") as filler:  # the disk fills up
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError as error:
                assert error.errno == errno.ENOSPC
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 1, stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-3000:]
        errors = [line for line in stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1 and errors[0] == stderr.strip().splitlines()[-1], stderr[-3000:]
        assert errors[0].startswith(f"error: cannot write '{folder}/")
        assert ": No space left on device; the disk" in errors[0]
        checkpoint = torch.load(last, weights_only=True)  # the last good one, whole
        assert checkpoint["global_step"] > 0
        assert not [p for p in last.parent.iterdir() if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
