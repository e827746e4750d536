"""What MultiStepCallback sets up: a data module's batch hook sees plain batches, never a call's
container; a MultiStepModule gets the trainer's accumulation and clipping (its one place)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from litlab.data.tensor_batches import TensorBatches, batch_loader
from litlab.errors import ConfigValueError
from litlab.models.classifier import Classifier
from litlab.multistep import MultiStepCallback, MultiStepModule, accumulation


class Regression(MultiStepModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(3, 1)

    def batch_loss(self, batch, stage):
        x, y = batch
        return F.mse_loss(self.net(x).squeeze(-1), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class HookedData(L.LightningDataModule):
    """Records what its on_after_batch_transfer is handed while training."""

    def __init__(self, preload: bool) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(40, 3, generator=g), torch.randn(40, generator=g)
        self.preload, self.seen = preload, []

    def train_dataloader(self) -> DataLoader:
        if self.preload:
            return batch_loader(TensorBatches(self.x, self.y), 8)
        return DataLoader(TensorDataset(self.x, self.y), batch_size=8)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        if self.trainer is not None and self.trainer.training:
            self.seen.append((type(batch), len(batch[0])))
        return batch


@pytest.mark.parametrize("preload", [False, True])
def test_a_data_modules_batch_hook_gets_batches_not_a_calls_container(preload):
    data = HookedData(preload)
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[MultiStepCallback(steps_per_call=5)],
    )  # fmt: skip
    trainer.fit(Regression(), datamodule=data)
    assert trainer.global_step == 5  # 40 rows, batches of 8, all five steps in one call
    kinds = {kind for kind, _ in data.seen}
    assert kinds <= {tuple, list}, kinds  # a batch as the loader yields it
    # one call: its batches one by one, or (preloaded) its rows gathered as one batch
    assert [rows for _, rows in data.seen] == ([40] if preload else [8] * 5)


def test_the_module_takes_accumulation_and_clipping_from_the_trainers_keys():
    model = Regression()
    callback = MultiStepCallback(2, accumulate_grad_batches=3, gradient_clip_val=0.5,
                                 gradient_clip_algorithm="value")  # fmt: skip
    trainer = L.Trainer(
        max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[callback],
    )  # fmt: skip
    trainer.fit(model, datamodule=HookedData(preload=True))
    assert (model.gradient_clip_val, model.gradient_clip_algorithm) == (0.5, "value")
    assert accumulation(trainer) == model.accumulate_grad_batches == 3


def test_clipping_in_a_modules_constructor_is_refused_naming_the_trainers_key():
    with pytest.raises(ConfigValueError, match=r"model.gradient_clip_val=0.5.*trainer\.gradient"):
        Classifier(torch.nn.Linear(2, 2), torch.optim.SGD, gradient_clip_val=0.5)
