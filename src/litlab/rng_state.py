"""Random number generator states in checkpoints, so that a resumed run continues exactly.

Lightning's checkpoints hold the weights, the optimizer, the loops and the data module's state
(our data modules put their shuffling generator there), but not the global RNGs that dropout,
weight noise or augmentation draw from. This callback adds them.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn


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


class RngStateCheckpoint(L.Callback):
    """Saves the RNG states with every checkpoint; on resume, sets them back when training
    starts -- after the sanity check, whose validation DataLoader draws from the torch RNG too.

    Exact for checkpoints written at the end of an epoch (``last.ckpt``, the best checkpoint).
    """

    def __init__(self) -> None:
        self._loaded: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return collect_rng_states()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._loaded is not None:
            restore_rng_states(self._loaded)
            self._loaded = None
        elif trainer.ckpt_path is not None:
            rank_zero_warn(
                f"{trainer.ckpt_path} holds no RNG states (written without RngStateCheckpoint): "
                "training resumes, but not exactly as an uninterrupted run would have gone on."
            )
