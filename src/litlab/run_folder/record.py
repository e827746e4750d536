"""``run_record.json``: what a run needs to be repeated -- seed, determinism, effective batch
size, library versions, hardware, git commit, command line -- written into every run folder
(by ``litlab.callbacks.RunRecord``) and read back by the run tools."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import lightning as L
import torch

from litlab.cuda_check import NVML_CUDA_CHECK
from litlab.multistep.module import accumulation
from litlab.run_folder.folder import ORIGIN_ENV, RECORD_FILE, Run, read_yaml  # noqa: F401 - RECORD_FILE
from litlab.run_folder.sources import current_sources

PACKAGES = ("torch", "lightning", "hydra-core", "omegaconf", "torchvision", "torchmetrics", "numpy")
EFFECTIVE_BATCH_SIZE_METRIC = "train/effective_batch_size"


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(folder: Path) -> dict[str, Any]:
    """The commit of the code that ran and whether the tree had uncommitted changes (ignored
    files, such as outputs/ and data/, do not count)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def effective_batch_size(trainer: L.Trainer) -> dict[str, int | None]:
    """Samples per optimizer step: batch_size x accumulate_grad_batches x devices x nodes
    (``data.batch_size`` is per device)."""
    hparams = getattr(trainer.datamodule, "hparams", {}) or {}  # type: ignore[attr-defined]  # set by Lightning's data connector, undeclared on Trainer
    batch_size = hparams.get("batch_size")
    accumulate = accumulation(trainer)  # Lightning's, or a MultiStepModule's
    devices, nodes = trainer.num_devices, trainer.num_nodes
    total = None if batch_size is None else batch_size * accumulate * devices * nodes
    return {"effective_batch_size": total, "batch_size": batch_size,
            "accumulate_grad_batches": accumulate, "devices": devices,
            "num_nodes": nodes}  # fmt: skip


def training_samples(trainer: L.Trainer) -> int | None:
    """The training set's size, from the loader Lightning trains on (None if it has none)."""
    loader = trainer.train_dataloader
    dataset = getattr(getattr(loader, "loader", loader), "dataset", None)  # TrainingLoader's
    try:
        return len(dataset)  # type: ignore[arg-type]
    except TypeError:  # an IterableDataset, or no dataset at all
        return None


def cap_to_data(batch: dict[str, Any], samples: int | None) -> dict[str, Any]:
    """A step cannot see more samples than the training set holds (batch 4096 x 4 on 2000
    points is 2000 a step): ``effective_batch_size`` is what a step sees, and the product of
    the settings stays beside it as ``nominal_batch_size``."""
    nominal = batch.get("nominal_batch_size", batch["effective_batch_size"])
    effective = nominal if nominal is None or samples is None else min(nominal, samples)
    return {**batch, "effective_batch_size": effective, "nominal_batch_size": nominal,
            "training_samples": samples}  # fmt: skip


def build_run_record(trainer: L.Trainer, seed: int | None) -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else None
    device = trainer.strategy.root_device
    on_gpu = device.type == "cuda"
    cpus_usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "determinism": {  # as torch has them now (Trainer(deterministic=..., benchmark=...))
            "use_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        },
        "batch": effective_batch_size(trainer),
        "versions": package_versions(),
        "hardware": {
            "accelerator": type(trainer.accelerator).__name__,
            "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if on_gpu else None,
            "cuda": torch.version.cuda if on_gpu else None,
            "cudnn": torch.backends.cudnn.version() if on_gpu else None,
            "os": platform.platform(),
            "cpu_count": os.cpu_count(),
            "cpus_usable": cpus_usable,
            NVML_CUDA_CHECK: os.environ.get(NVML_CUDA_CHECK),  # see litlab.cuda_check
        },
        "git": git_state(Path(__file__).resolve().parent),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "hydra_overrides": overrides,
        "sources": run_sources(),  # its config folders and import roots (litlab.run_folder.sources)
        # what `litlab rerun`/`resume` made it from: {"command": "rerun", "run": <folder>}
        "origin": json.loads(os.environ.get(ORIGIN_ENV, "null")),
    }


def run_sources() -> dict[str, list[str]] | None:
    """``litlab.run_folder.sources`` of this run, from the config Hydra wrote into its folder."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    from omegaconf import OmegaConf

    hydra = HydraConfig.get()
    output_dir = OmegaConf.select(hydra, "runtime.output_dir", default=None)  # type: ignore[arg-type]
    subdir = OmegaConf.select(hydra, "output_subdir", default=None)  # type: ignore[arg-type]
    config = Path(str(output_dir)) / str(subdir) / "config.yaml"
    task = read_yaml(config.read_text()) if output_dir and subdir and config.is_file() else {}
    try:
        return current_sources(hydra, task or {})
    except Exception:  # noqa: BLE001 - a config composed outside a run (tests, notebooks)
        return None


def read_run_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's record, or None for a folder written before run records existed."""
    return Run(run_dir).record
