"""Checks on the composed config, run before anything is built, so bad input costs seconds."""

from __future__ import annotations

import inspect
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import torch
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from litlab.config_types import check_types, warn_unread
from litlab.errors import ConfigValueError, UserError
from litlab.run_folder.folder import Run, config_changes
from litlab.value_rules import (  # noqa: F401 - the rules' old home: litlab.validation.<RULE>
    AT_LEAST_ONE,
    CLIP_ALGORITHM,
    DROPOUT,
    HIDDEN_SIZES,
    MIN_OR_MAX,
    NOT_NEGATIVE,
    NOT_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    PROBABILITY,
    Rule,
    check_rules,
)

CUDA_ACCELERATORS = ("gpu", "cuda")
# ckpt_path values Lightning resolves itself rather than reading a file.
LIGHTNING_CKPT_NAMES = ("best", "last", "hpc", "registry")


# key -> its rule. Keys an experiment does not have are skipped; None means "not set". A limit
# that belongs to one class is checked by that class (e.g. data.val_size by the Fashion module).
RULES: dict[str, Rule] = {
    "model.optimizer.lr": POSITIVE,
    "data.batch_size": POSITIVE_INT,
    "data.eval_batch_size": POSITIVE_INT,
    "data.num_points": POSITIVE_INT,
    "data.num_workers": NOT_NEGATIVE_INT,
    "trainer.max_epochs": POSITIVE_INT,
    "trainer.accumulate_grad_batches": AT_LEAST_ONE,
    "steps_per_call": AT_LEAST_ONE,
    "model.net.hidden_sizes": HIDDEN_SIZES,
    "model.net.dropout": DROPOUT,
    "optimized_metric_mode": MIN_OR_MAX,
    "data.passes_per_epoch": AT_LEAST_ONE,
    "trainer.num_nodes": AT_LEAST_ONE,
    "trainer.check_val_every_n_epoch": AT_LEAST_ONE,
    "trainer.min_epochs": NOT_NEGATIVE_INT,
    "trainer.gradient_clip_val": NOT_NEGATIVE,
    "trainer.gradient_clip_algorithm": CLIP_ALGORITHM,
    "model.label_smoothing": PROBABILITY,
    "model.optimizer.weight_decay": NOT_NEGATIVE,
}
# Folders a run reads or writes: an existing file there, or no way to create one, is refused.
FOLDER_KEYS = ("paths.data_dir", "paths.log_dir")


def check_values(cfg: DictConfig, rules: dict[str, Rule] = RULES) -> None:
    check_rules(cfg, rules)


def check_accelerator(cfg: DictConfig) -> None:
    accelerator = str(cfg.trainer.get("accelerator", "cpu"))
    if accelerator in CUDA_ACCELERATORS and not torch.cuda.is_available():
        raise UserError(
            f"trainer.accelerator={accelerator!r} needs a CUDA GPU, and none is available here. "
            "Use trainer=cpu (or trainer=auto to take a GPU only when there is one)."
        )


def check_epochs(cfg: DictConfig) -> None:
    """``trainer.max_epochs=null`` is Lightning's silent 1000 epochs unless steps or time end
    the run (``max_steps``, ``max_time``): then it means "no limit", as Lightning has it."""
    trainer = cfg.get("trainer")
    if trainer is None or "max_epochs" not in trainer or trainer.max_epochs is not None:
        return
    if trainer.get("max_steps", -1) in (-1, None) and trainer.get("max_time") is None:
        raise ConfigValueError(
            "trainer.max_epochs", None,
            "must be a whole number > 0 (null runs Lightning's default of 1000 epochs); "
            "to stop by steps or time instead, set trainer.max_steps or +trainer.max_time",
        )  # fmt: skip


# Keys litlab's presets set in ``data``, and what a data module of your own needs for them.
PRESET_DATA_KEYS = {
    "shuffle": "debug=overfit sets it false, to train on one batch in a fixed order: give the "
    "data module a shuffle parameter that its train_dataloader passes to DataLoader",
}


def check_data_arguments(cfg: DictConfig) -> None:
    """The data module is built from ``data``'s keys: one it does not take (e.g. a preset's,
    on a data module of your own) is named before anything runs, with what the preset needs."""
    node = cfg.get("data")
    if not isinstance(node, DictConfig) or not isinstance(node.get("_target_"), str):
        return
    if node._target_.startswith("litlab."):  # litlab's take the presets' keys (and importing
        return  # one here would import what the run may not need, e.g. torchvision)
    try:
        parameters = inspect.signature(get_object(node._target_)).parameters
    except Exception:  # noqa: BLE001 - not found or no signature: instantiate says why
        return
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    for key in node:
        if not str(key).startswith("_") and key not in parameters:
            why = f"{node._target_} takes no argument {key!r}"
            if key in PRESET_DATA_KEYS:
                why += f" ({PRESET_DATA_KEYS[key]})"
            raise ConfigValueError(f"data.{key}", node._get_node(key)._value(), why)  # type: ignore[str-bytes-safe,union-attr]


def check_folders(cfg: DictConfig, keys: tuple[str, ...] = FOLDER_KEYS) -> None:
    """Each folder must be one, or be creatable: its nearest existing parent a writable folder."""
    for key in keys:
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        path = Path(str(value))
        if path.exists() and not path.is_dir():
            raise ConfigValueError(key, str(value), "is a file; a folder is needed here")
        parent = next(p for p in (path, *path.parents) if p.exists())
        if not parent.is_dir():
            raise ConfigValueError(key, str(value), f"cannot be created: {parent} is a file")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigValueError(key, str(value), f"cannot be written: {parent} is read-only")


def check_checkpoint(ckpt_path: str | None) -> None:
    """The file must be there and load the way Lightning loads it (``torch.load``)."""
    if ckpt_path is None or ckpt_path in LIGHTNING_CKPT_NAMES:
        return
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigValueError("ckpt_path", ckpt_path, "no such file")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; truncation breaks it
        raise ConfigValueError(
            "ckpt_path", ckpt_path, "not a checkpoint (not a torch.save file, or truncated)"
        )
    try:
        checkpoint = saved_shapes(str(path), path.stat().st_mtime_ns)
    except Exception as error:  # noqa: BLE001 - whatever torch says, Lightning could not load it
        raise ConfigValueError(
            "ckpt_path", ckpt_path, f"not a checkpoint torch.load can read ({type(error).__name__})"
        ) from error
    if checkpoint is None:
        raise ConfigValueError("ckpt_path", ckpt_path, "not a Lightning checkpoint (no state_dict)")


@lru_cache(maxsize=1)  # read once for both checks; never a pickle (weights_only)
def saved_shapes(path: str, modified: int) -> dict[str, list[int]] | None:
    """The checkpoint's tensors' shapes by name, or None for a file without a state_dict
    (``modified``: its mtime, so that a file written again is read again)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        return None
    return {name: list(tensor.shape) for name, tensor in checkpoint["state_dict"].items()}


def check_switches(cfg: DictConfig) -> None:
    if not cfg.get("train", True) and not cfg.get("test", True):
        raise UserError(
            "train=false with test=false: the run would do nothing (train=false tests a "
            "checkpoint; an experiment without a test set has test: false)"
        )
    if not cfg.get("train", True) and cfg.get("test", True) and cfg.get("ckpt_path") is None:
        raise UserError(
            "train=false tests a checkpoint, and none was given: pass "
            "ckpt_path=<run folder>/checkpoints/<file>.ckpt, or test a run's best checkpoint "
            "with: litlab rerun <run folder> train=false"
        )


def _listed(names: list[str], limit: int = 4) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[: limit - 1]) + f" and {len(names) - limit + 1} more"


def _origin(cfg: DictConfig, ckpt_path: str) -> str:
    """Where the checkpoint's run differs from this config, if its run folder says (or "")."""
    path = Path(ckpt_path).resolve()
    for folder in (path.parent.parent, path.parent):  # <run>/checkpoints/x.ckpt, <run>/hpc_*.ckpt
        theirs = Run(folder).config  # {} where no run's config is
        if not theirs:
            continue
        try:
            old = OmegaConf.to_container(OmegaConf.create(theirs).model, resolve=True)
        except Exception:  # noqa: BLE001 - a hint only; the mismatch itself is the error
            return ""
        if theirs.get("name") != cfg.get("name"):
            return f" (the checkpoint is from a {theirs.get('name')} run, the config is {cfg.name})"
        new = OmegaConf.to_container(cfg.model, resolve=True)
        keys = [key for key in sorted(config_changes(old, new, "model."))  # type: ignore[arg-type]  # dicts
                if not key.startswith(("model.optimizer", "model.scheduler"))]  # fmt: skip
        return f" ({', '.join(keys)})" if keys else ""
    return ""


def check_checkpoint_fits(cfg: DictConfig, model: torch.nn.Module) -> None:
    """The checkpoint holds the model's tensors, by name and shape (Lightning loads it strictly);
    run before any training or testing, so a checkpoint of another experiment or network costs
    no data loading and ends in one line instead of Lightning's list of missing keys."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None or ckpt_path in LIGHTNING_CKPT_NAMES:
        return
    stored = saved_shapes(str(ckpt_path), Path(ckpt_path).stat().st_mtime_ns) or {}
    built = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    if stored == built:
        return
    shapes = [name for name in built if name in stored and stored[name] != built[name]]
    parts = [f"{name} is {stored[name]} in the checkpoint, {built[name]} in the model"
             for name in shapes[:1]]  # fmt: skip
    if len(shapes) > 1:
        parts[0] += f" (and {len(shapes) - 1} more tensors differ)"
    if extra := [name for name in stored if name not in built]:
        parts.append(f"the checkpoint has {_listed(extra)}, which the model lacks")
    if missing := [name for name in built if name not in stored]:
        parts.append(f"the model has {_listed(missing)}, which the checkpoint lacks")
    raise UserError(
        f"ckpt_path={ckpt_path!r} does not fit the config: {'; '.join(parts)}"
        + _origin(cfg, ckpt_path)
    )


def validate(cfg: DictConfig) -> None:
    check_data_arguments(cfg)  # before the type checks: it says what a preset needs
    unread = check_types(cfg)  # every value by the type its code takes (config_types.py)
    check_values(cfg)
    check_epochs(cfg)
    check_accelerator(cfg)
    check_folders(cfg)
    check_switches(cfg)
    check_checkpoint(cfg.get("ckpt_path"))
    warn_unread(unread)
