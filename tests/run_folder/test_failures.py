"""Runs that go wrong: divergence, interruption, missing or damaged data, unusable run folders."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from litlab.data.fashion_files import ensure_fashion_mnist, raw_folder
from litlab.errors import TrainingDiverged, UserError
from litlab.run import run
from tests.conftest import REPO, run_train, train_main
from tests.data.test_data import make_tiny_fashion


def test_divergence_stops_at_the_first_nonfinite_loss_and_keeps_checkpoints(make_cfg, tmp_path):
    # epochs of one pass (10 steps), so that an epoch ends, and checkpoints, before the blow-up
    cfg = make_cfg(
        "experiment=polynomial", "data.passes_per_epoch=1", "model.optimizer.lr=1e-2", "logger=none"
    )
    with pytest.raises(TrainingDiverged) as error:
        run(cfg)
    message = str(error.value)
    assert isinstance(error.value, UserError)  # train.py: "error: ...", exit code 2
    assert "training diverged: the loss is inf at optimizer step " in message
    assert "model.optimizer.lr=0.001" in message
    step = int(message.split(" at optimizer step ")[1].split()[0])
    checkpoints = tmp_path / "run" / "checkpoints"
    assert str(checkpoints) in message
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert 0 < last["global_step"] < step  # saved at an epoch end before the bad step
    assert all(torch.isfinite(w).all() for w in last["state_dict"].values())
    assert any(p.name.startswith("best-") for p in checkpoints.iterdir())
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_divergence_before_any_checkpoint_says_none_was_saved(make_cfg, tmp_path):
    # epochs of 100 passes (1000 steps): it blows up in the first epoch, before any checkpoint
    cfg = make_cfg("experiment=polynomial", "model.optimizer.lr=1e-2", "logger=none")
    with pytest.raises(TrainingDiverged, match=r"\(epoch 0\)") as error:
        run(cfg)
    message = str(error.value)
    assert message.endswith(
        "No checkpoint was saved before it (they are saved at the end of each epoch)."
    )
    assert "kept in" not in message
    assert not list((tmp_path / "run").glob("**/*.ckpt"))


def start_polynomial(run_dir: Path) -> subprocess.Popen[str]:
    # 800 epochs of one pass (10 steps): long enough to interrupt after the first epoch
    args = ["experiment=polynomial", "data.passes_per_epoch=1", "trainer.max_epochs=800"]
    args += ["logger=none", f"hydra.run.dir={run_dir}"]
    return subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background jobs ignore SIGINT, and Python then never raises
        # KeyboardInterrupt: give the child the default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def interrupt_after_first_epoch(proc: subprocess.Popen[str], run_dir: Path, signum: int) -> str:
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints" / "last.ckpt").exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return err


def test_sigterm_saves_a_checkpoint_that_resumes(tmp_path):
    run_dir = tmp_path / "run"
    proc = start_polynomial(run_dir)
    err = interrupt_after_first_epoch(proc, run_dir, signal.SIGTERM)
    saved = run_dir / "checkpoints" / "interrupted.ckpt"
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM at step" in err and f"ckpt_path={saved}" in err
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"
    interrupted = torch.load(saved, weights_only=True)
    assert interrupted["global_step"] > 0

    epochs = interrupted["epoch"] + 2
    result = run_train(
        "experiment=polynomial",
        "data.passes_per_epoch=1",
        "logger=none",
        f"trainer.max_epochs={epochs}",
        f"ckpt_path={saved}",
        f"paths.log_dir={tmp_path / 'resumed'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Restored all states from the checkpoint at {saved}" in result.stdout + result.stderr
    folder = Path(result.stdout.rstrip().splitlines()[-1].removeprefix("Run folder: "))
    last = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == epochs * 10  # 10 steps per epoch, none lost or repeated


def test_ctrl_c_saves_a_checkpoint_too(tmp_path):
    run_dir = tmp_path / "run"
    proc = start_polynomial(run_dir)
    err = interrupt_after_first_epoch(proc, run_dir, signal.SIGINT)
    assert proc.returncode != 0
    assert "Ctrl-C at step" in err
    saved = torch.load(run_dir / "checkpoints" / "interrupted.ckpt", weights_only=True)
    assert saved["global_step"] > 0 and "state_dict" in saved
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["status"], status["error"]) == ("interrupted", "Ctrl-C")


def test_missing_data_exits_2_with_the_ways_to_get_it(tmp_path, monkeypatch, capsys):
    code, stderr = train_main(
        monkeypatch,
        capsys,
        f"paths.data_dir={tmp_path / 'data'}",
        f"data.system_dir={tmp_path / 'nowhere'}",
        "data.allow_download=false",
        f"paths.log_dir={tmp_path / 'outputs'}",
        "logger=none",
    )
    assert code == 2
    assert "error: Fashion-MNIST is not available." in stderr  # raised inside trainer.fit
    assert "apt-get install dataset-fashion-mnist" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("damage", ["truncate", "bad magic"])
def test_damaged_data_is_detected_and_reimported_from_the_local_copy(tmp_path, damage):
    source = make_tiny_fashion(tmp_path / "system")
    data_dir = tmp_path / "data"
    ensure_fashion_mnist(data_dir, system_dir=source, allow_download=False, log=lambda _: None)
    images = raw_folder(data_dir) / "train-images-idx3-ubyte"
    good = images.read_bytes()
    images.write_bytes(good[:-500] if damage == "truncate" else b"\0\0\0\0" + good[4:])

    said: list[str] = []
    ensure_fashion_mnist(data_dir, system_dir=source, allow_download=False, log=said.append)
    reason = "is truncated or corrupt" if damage == "truncate" else "is not an IDX file"
    assert f"{images} {reason}" in said[0]
    assert said[1].startswith(f"Fashion-MNIST imported from the local copy in {source}")
    assert images.read_bytes() == good


def test_damaged_data_without_a_source_says_what_is_wrong(tmp_path):
    source = make_tiny_fashion(tmp_path / "system")
    data_dir = tmp_path / "data"
    ensure_fashion_mnist(data_dir, system_dir=source, allow_download=False, log=lambda _: None)
    labels = raw_folder(data_dir) / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    with gzip.open(source / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"garbage")
    said: list[str] = []
    with pytest.raises(UserError, match="Fashion-MNIST is not available"):
        ensure_fashion_mnist(data_dir, system_dir=source, allow_download=False, log=said.append)
    assert "t10k-labels-idx1-ubyte is truncated or corrupt" in said[0]


def test_unwritable_output_folder_stops_before_any_work(tmp_path, monkeypatch, capsys):
    # Tests run as root, where chmod does not stop writes: a folder "inside" a regular file
    # cannot be created by anyone.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file\n")
    code, stderr = train_main(
        monkeypatch, capsys, "experiment=polynomial", f"paths.log_dir={blocker / 'outputs'}"
    )
    assert code == 2
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write the run folder '{blocker}/outputs/polynomial/")
    assert "paths.log_dir=" in last and "Traceback" not in stderr
    assert blocker.read_text() == "a file\n"


def test_a_folder_holding_a_run_is_never_reused(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "finished"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"precious")
    (folder / "metrics.json").write_text('{"test/loss": 0.1}\n')
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    code, stderr = train_main(
        monkeypatch, capsys, "experiment=polynomial", f"hydra.run.dir={folder}"
    )
    assert code == 2
    assert f"error: hydra.run.dir='{folder}' already holds a run (metrics.json, checkpoints)" in (
        stderr
    )
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
