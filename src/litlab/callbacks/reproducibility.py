"""What it takes to repeat a run: its record, and the random number generators' states.

Lightning's checkpoints hold the weights, the optimizer, the loops and the data module's state
(our data modules put their shuffling order there), but not the global RNGs that dropout,
weight noise or augmentation draw from: ``RunRecord`` adds them, and writes the run's
``run_record.json`` (``litlab.run_folder.record``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn

from litlab.run_folder.record import (
    EFFECTIVE_BATCH_SIZE_METRIC,
    RECORD_FILE,
    build_run_record,
    cap_to_data,
    training_samples,
)


def collect_rng_states() -> dict[str, Any]:
    """python, numpy, torch (and CUDA, if it is in use) states, as plain values and tensors so
    the checkpoint still loads with ``torch.load(weights_only=True)``."""
    numpy_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {
                "key": numpy_state["key"].numpy().astype(np.uint32),
                "pos": numpy_state["pos"],
            },
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RunRecord(L.Callback):
    """Writes ``run_record.json`` (rank zero) when the run is set up -- so even a run that fails
    later has one -- and logs ``train/effective_batch_size`` beside the other metrics. (The
    TensorBoard text entry ``run/record`` is written from this file by ``litlab.tensorboard``.)

    Saves the python, numpy, torch (and CUDA) RNG states with every checkpoint and, on resume,
    sets them back when training starts -- after the sanity check, whose validation DataLoader
    draws from the torch RNG too -- so a resumed run draws what the uninterrupted one would.
    """

    def __init__(self, output_dir: str | Path, seed: int | None) -> None:
        self.output_dir = Path(output_dir)
        self.seed = seed
        self.record: dict[str, Any] | None = None
        self._loaded_rng_states: dict[str, Any] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.record is not None:  # fit then test: one record per run
            return
        self.record = build_run_record(trainer, self.seed)
        if not trainer.is_global_zero:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / RECORD_FILE).write_text(json.dumps(self.record, indent=2) + "\n")

    def _record_samples_per_step(self, trainer: L.Trainer) -> None:
        """The training set is known once its loader is: the batch record capped to it."""
        if self.record is None:
            return
        self.record["batch"] = cap_to_data(self.record["batch"], training_samples(trainer))
        if trainer.is_global_zero:
            (self.output_dir / RECORD_FILE).write_text(json.dumps(self.record, indent=2) + "\n")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        size = (self.record or {}).get("batch", {}).get("effective_batch_size")
        if size is not None:
            pl_module.log(EFFECTIVE_BATCH_SIZE_METRIC, float(size))

    def state_dict(self) -> dict[str, Any]:
        return {"rng": collect_rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded_rng_states = state_dict.get("rng")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record_samples_per_step(trainer)
        if self._loaded_rng_states is not None:
            restore_rng_states(self._loaded_rng_states)
            self._loaded_rng_states = None
        elif trainer.ckpt_path is not None:
            rank_zero_warn(
                f"{trainer.ckpt_path} holds no RNG states (written without RunRecord): training "
                "resumes, but not exactly as an uninterrupted run would have gone on."
            )
