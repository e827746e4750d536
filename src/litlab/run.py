"""run(cfg): validate -> seed -> instantiate -> fit -> test -> write results."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from litlab.console import print_config, print_summary, quiet_library_noise
from litlab.cuda_check import drop_nvml_check_without_driver
from litlab.errors import ConfigValueError, UserError
from litlab.multistep import MultiStepCallback, MultiStepModule
from litlab.run_folder.results import write_metrics
from litlab.run_folder.sweep_job import is_multirun
from litlab.seeding import resolve_seed, seed_run
from litlab.tensorboard import log_run_summary
from litlab.trackers import log_run_params, log_tracker_summary
from litlab.validation import check_checkpoint_fits, validate


def build(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """``instantiate`` the config at ``key``. A value its class refuses (``trainer.devices=0``,
    an argument it does not take) is the user's to fix: one ``error:`` line naming the key."""
    try:
        return instantiate(OmegaConf.select(cfg, key), **kwargs)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if isinstance(cause, UserError):  # the class's own check, already naming its key
            raise cause from None
        raise UserError(f"{key} cannot be built: {type(cause).__name__}: {cause}") from error


def instantiate_group(cfg: DictConfig, group: str) -> list[Any]:
    """A config group written as named entries (callbacks, loggers) -> a list of objects."""
    entries = OmegaConf.select(cfg, group) or {}
    return [build(cfg, f"{group}.{name}") for name, entry in entries.items() if entry is not None]


# The trainer's keys a MultiStepModule's loop takes over from Lightning, and Lightning's values
# then (it refuses others under manual optimization).
LIGHTNING_LOOP_OFF = dict(
    accumulate_grad_batches=1, gradient_clip_val=None, gradient_clip_algorithm=None
)
LOOP_KEYS = tuple(LIGHTNING_LOOP_OFF)


def build_trainer(cfg: DictConfig, model: L.LightningModule, **overrides: Any) -> L.Trainer:
    """Lightning's Trainer from ``cfg.trainer`` (``overrides`` replace its arguments), with the
    training loader wrapped (``MultiStepCallback``: resumable, and grouped into calls of
    ``steps_per_call`` steps for a ``MultiStepModule``).

    ``trainer.accumulate_grad_batches`` and ``trainer.gradient_clip_*`` are the one place to
    set them, for any module: a module with automatic optimization gets them from Lightning; a
    ``MultiStepModule`` runs its steps itself (manual optimization, where Lightning refuses
    both), so ``MultiStepCallback`` has the loader group the batches of each step and hands the
    module the clipping, and Lightning's are off. The callback comes first, so that it has
    set the module up before any other callback's ``setup`` reads it (``RunRecord``)."""
    callbacks = overrides.pop("callbacks", None)
    if callbacks is None:
        callbacks = instantiate_group(cfg, "callbacks")
    own_steps = isinstance(model, MultiStepModule)  # asked of the model the trainer will fit
    loop = {key: OmegaConf.select(cfg, f"trainer.{key}") for key in LOOP_KEYS if own_steps}
    multistep = MultiStepCallback(cfg.get("steps_per_call", 1), **loop)
    overrides["callbacks"] = [multistep, *callbacks]
    if "logger" not in overrides:
        overrides["logger"] = instantiate_group(cfg, "logger") or False
    if own_steps:
        overrides = {**LIGHTNING_LOOP_OFF, **overrides}
    return build(cfg, "trainer", **overrides)


def best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
        return callback.best_model_path
    return None


def missing_keys(node: Any, prefix: str = "") -> Iterator[str]:
    """The dotted keys whose value is ``???`` itself (an interpolation is not resolved here:
    ``${hydra:job.num}`` is missing until Hydra runs a job)."""
    if not isinstance(node, dict | list):
        return
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if value == "???":
            yield f"{prefix}{key}"
        else:
            yield from missing_keys(value, f"{prefix}{key}.")


def check_nothing_missing(cfg: DictConfig) -> None:
    """A mandatory value (``???``) left unset is the user's to give: one line naming it, before
    anything reads it (omegaconf's traceback otherwise, or, in a ``_partial_`` node, a class's
    default taken silently)."""
    mine = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])  # type: ignore[misc]  # Hydra's: its own
    missing = list(missing_keys(OmegaConf.to_container(mine, resolve=False)))
    if missing:
        keys = ", ".join(missing)
        raise UserError(
            f"{keys}=??? {'is a mandatory value' if len(missing) == 1 else 'are mandatory values'}"
            f" that nothing sets: pass {' '.join(f'{key}=<value>' for key in missing)}"
        )


def prepare(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """Everything up to training: bad input ends here, in one ``UserError``, before any work."""
    check_nothing_missing(cfg)
    resolve_seed(cfg)  # seed=null draws one into cfg.seed first: ${seed} is typed as it will run
    validate(cfg)
    seed_run(cfg)
    print_config(cfg)

    datamodule: L.LightningDataModule = build(cfg, "data")
    model: L.LightningModule = build(cfg, "model")
    check_checkpoint_fits(cfg, model)  # before the trainer, any data or any training
    return datamodule, model, build_trainer(cfg, model)


def run(cfg: DictConfig) -> float | None:
    """Train and/or test as the config says; return ``cfg.optimized_metric`` for sweepers."""
    drop_nvml_check_without_driver()  # no NVIDIA driver: cheaper Adam steps (cuda_check.py)
    quiet_library_noise()  # no library deprecation warnings or advertisements on the console
    datamodule, model, trainer = prepare(cfg)
    run_dir = Path(cfg.paths.output_dir)
    log_run_params(trainer, cfg, run_dir)  # MLflow, W&B: the run's parameters from its start

    metrics: dict[str, Any] = {}
    if cfg.train:
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        metrics.update(trainer.callback_metrics)
    if cfg.test:
        ckpt_path = best_checkpoint(trainer) if cfg.train else cfg.ckpt_path
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics.update(trainer.callback_metrics)

    if trainer.is_global_zero:
        write_metrics(run_dir, metrics)
        log_run_summary(trainer, cfg, metrics, run_dir)
        log_tracker_summary(trainer, metrics, run_dir)
        print_summary(metrics, run_dir)
    return optimized_value(cfg, metrics)


def optimized_value(cfg: DictConfig, metrics: dict[str, Any]) -> float | None:
    """``cfg.optimized_metric`` of this run, for sweepers. In a sweep, a name the run never
    logged (a misspelling would otherwise rank the job by nothing, and Optuna would record a
    failed trial for a job the summary calls completed) fails the job, naming what it logged.
    A single run is ranked by nothing: it warns, unless it only tested (``train=false``: the
    metrics training logs are missing by design, and its last line stays its run folder)."""
    name = cfg.get("optimized_metric")
    if not name or name in metrics:
        return float(metrics[name]) if name else None
    logged = ", ".join(sorted(metrics)) or "none"
    if is_multirun():
        requirement = f"this run logged no such metric ({logged})"
        raise ConfigValueError("optimized_metric", name, requirement)
    if cfg.train:  # nothing ranks a single run by it: say so, and end as it is
        print(f"warning: optimized_metric={name!r}: this run logged no such metric ({logged})",
              file=sys.stderr)  # fmt: skip
    return None
