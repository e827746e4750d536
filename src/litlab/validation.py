"""Checks on the composed config, run before anything is built, so bad input costs seconds."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from litlab.data.fashion import check_workers
from litlab.errors import UserError

CUDA_ACCELERATORS = ("gpu", "cuda")


def check_accelerator(cfg: DictConfig) -> None:
    accelerator = str(cfg.trainer.get("accelerator", "cpu"))
    if accelerator in CUDA_ACCELERATORS and not torch.cuda.is_available():
        raise UserError(
            f"trainer.accelerator={accelerator!r} needs a CUDA GPU, and none is available here. "
            "Use trainer=cpu (or trainer=auto to take a GPU only when there is one)."
        )


def check_data(cfg: DictConfig) -> None:
    data = cfg.get("data") or {}
    if "preload" in data:
        check_workers(bool(data.preload), int(data.get("num_workers", 0)))


def validate(cfg: DictConfig) -> None:
    check_accelerator(cfg)
    check_data(cfg)
