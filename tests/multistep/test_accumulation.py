"""batch_size=b with accumulate_grad_batches=k trains like batch_size=b*k with k=1 -- including
the epoch's last window, which is shorter and ends with a shorter batch."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from litlab.run import build_trainer
from tests.conftest import DATA_DIR, compose_config, plain_batches

# (experiment overrides, b, k, epochs, optimizer steps per epoch).
# Polynomial: 2000 points in batches of 300 = 6 x 300 + 200, so windows of 4 are 1200 and 800
# (300, 300, 200) samples. Fashion: 1000 training images (val_size=59000) in batches of 64 =
# 15 x 64 + 40, so windows of 6 are 384, 384 and 232 (64, 64, 64, 40) samples.
CASES = {
    "polynomial": (["experiment=polynomial", "data.passes_per_epoch=1"], 300, 4, 3, 2),
    "fashion": (
        ["experiment=fashion", "data.val_size=59000", "model.net.dropout=0.0"],
        64,
        6,
        1,
        3,
    ),
}


def train(overrides: list[str], batch_size: int, k: int, epochs: int, steps_per_call: int):
    """(flat final weights, optimizer steps) after training as the config says."""
    cfg = compose_config(
        [f"paths.data_dir={DATA_DIR}", "paths.output_dir=unused", *overrides]
        + [f"data.batch_size={batch_size}", f"trainer.accumulate_grad_batches={k}", "seed=5"]
        + [f"steps_per_call={steps_per_call}"]
    )
    L.seed_everything(cfg.seed)
    model, datamodule = instantiate(cfg.model), instantiate(cfg.data)
    trainer = build_trainer(
        cfg,
        model,
        max_epochs=epochs,
        limit_val_batches=0,
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    return weights, trainer.global_step


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("experiment", sorted(CASES))
def test_accumulating_k_batches_of_b_equals_batches_of_b_times_k(experiment):
    overrides, b, k, epochs, windows = CASES[experiment]
    big, big_steps = train(overrides, b * k, 1, epochs, steps_per_call=1)
    accumulated, steps = train(overrides, b, k, epochs, steps_per_call=2)
    L.seed_everything(5)
    initial_model = instantiate(compose_config([*overrides, "seed=5"]).model)
    initial = torch.cat([p.detach().flatten() for p in initial_model.parameters()])

    assert steps == big_steps == windows * epochs  # the last window of each epoch is short
    assert relative_error(big, initial) > 1e-3  # it trained
    assert relative_error(accumulated, big) < 1e-5


@pytest.mark.parametrize("experiment", sorted(CASES))
def test_the_shuffled_order_does_not_depend_on_the_batch_size(experiment):
    """The sampler draws one permutation of the data set from the module's generator; the batch
    size only cuts it into pieces."""
    overrides, b, k, _, _ = CASES[experiment]

    def two_epochs(batch_size: int) -> list[torch.Tensor]:
        cfg = compose_config(
            [f"paths.data_dir={DATA_DIR}", *overrides, f"data.batch_size={batch_size}"]
        )
        datamodule = instantiate(cfg.data)
        datamodule.prepare_data()
        datamodule.setup("fit")
        return [
            torch.cat([y for _, y in plain_batches(datamodule.train_dataloader())])
            for _ in range(2)
        ]

    small, big = two_epochs(b), two_epochs(b * k)
    assert torch.equal(small[0], big[0]) and torch.equal(small[1], big[1])
    assert not torch.equal(small[0], small[1]), "each epoch is shuffled anew"
