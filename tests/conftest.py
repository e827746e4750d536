"""Shared helpers: compose configs as train.py does, and run train.py as a user would."""

from __future__ import annotations

import logging
import re
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from litlab.multistep.batches import batches_by_step

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
DATA_DIR = REPO / "data"  # the real Fashion-MNIST, imported once from the local copy


def plain_batches(loader: Iterable[Any]) -> list[tuple[torch.Tensor, ...]]:
    """A training loader's items (a call's batches each, or plain batches) as the plain
    batches a one-batch-per-call loader would yield, in order."""
    return [batch for item in loader for step in batches_by_step(item) for batch in step]


@pytest.fixture(autouse=True)
def lightning_logs_to_the_live_stderr() -> None:
    """Lightning binds its console handler to the ``sys.stderr`` of its first import; in a
    pytest-xdist worker that can be a capture stream closed since ("Logging error ... closed
    file"). Each test gets it pointed at the stream alive now."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler and handler.stream is not sys.stderr:
                handler.setStream(sys.stderr)


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def compose_config(overrides: list[str]) -> DictConfig:
    """The config train.py would get; ``${hydra:...}`` resolves as it does in a real run."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Iterator[Callable[..., DictConfig]]:
    """compose_config with the run folder in tmp_path and the shared data folder."""

    def make(*overrides: str) -> DictConfig:
        base = [f"paths.output_dir={tmp_path / 'run'}", f"paths.data_dir={DATA_DIR}"]
        return compose_config(base + list(overrides))

    yield make


def run_train(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_folder(result: subprocess.CompletedProcess[str] | str) -> Path:
    """The folder train.py says it wrote (the last line of every run names it), from a
    finished process or from what an in-process run printed."""
    stdout, stderr = (result, "") if isinstance(result, str) else (result.stdout, result.stderr)
    match = re.search(r"^Run folder: (.+)$", stdout, flags=re.MULTILINE)
    assert match, f"no run folder printed\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
    return Path(match.group(1))


def train_in_process(monkeypatch, capsys, *args: str) -> subprocess.CompletedProcess[str]:
    """train.py's main() in this process, answered as ``run_train`` answers (exit code, stdout,
    stderr): for tests where a fresh interpreter proves nothing more than the same main()."""
    monkeypatch.setattr(sys, "argv", ["train.py", *args])
    monkeypatch.chdir(REPO)
    code: int | str | None = 0
    try:
        runpy.run_path(str(REPO / "train.py"), run_name="__main__")
    except SystemExit as exit_info:
        code = exit_info.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def train_main(monkeypatch, capsys, *args: str) -> tuple[int | str | None, str]:
    """train.py's main() in this process: (exit code, stderr)."""
    result = train_in_process(monkeypatch, capsys, *args)
    return result.returncode, result.stderr


def stop_server(process: subprocess.Popen) -> None:
    """End a server a test started (TensorBoard, optuna-dashboard), killing it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
