"""The training loader wrapper: any batch structure, any loader, its position as state."""

from __future__ import annotations

import lightning as L
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from litlab.multistep import MultiStepCallback, MultiStepModule
from litlab.multistep.batches import CallBatches
from litlab.multistep.loader import (
    StatefulGroupedIterable,
    TrainingLoader,
    wrap_training_loader,
)


class Pairs(Dataset):
    """Items as dicts, as many user data sets have them."""

    def __init__(self, size: int = 100) -> None:
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(size, 3, generator=g), torch.randn(size, generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self.x[i], "target": self.y[i]}


class DictData(L.LightningDataModule):
    def train_dataloader(self) -> DataLoader:
        order = torch.Generator().manual_seed(1)
        return DataLoader(Pairs(), batch_size=8, shuffle=True, generator=order)


class DictRegression(MultiStepModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(3, 1)

    def batch_loss(self, batch, stage):
        return F.mse_loss(self.net(batch["features"]).squeeze(-1), batch["target"])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def trained(steps_per_call: int, accumulate: int = 1) -> torch.Tensor:
    torch.manual_seed(0)
    model = DictRegression()
    trainer = L.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[MultiStepCallback(steps_per_call, accumulate)],
    )  # fmt: skip
    trainer.fit(model, datamodule=DictData())
    assert trainer.global_step == 2 * -(-13 // accumulate)  # 100 pairs: 13 batches an epoch
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_dict_batches_train_bit_for_bit_alike_at_1_and_8_steps_per_call():
    assert torch.equal(trained(1), trained(8))
    assert torch.equal(trained(1, accumulate=3), trained(8, accumulate=3))
    assert not torch.equal(trained(1), trained(1, accumulate=3))


def test_a_call_of_dict_batches_holds_each_batch_as_the_loader_collates_it():
    loader = DictData().train_dataloader()
    calls = list(TrainingLoader(loader, steps_per_call=2, accumulate=3))
    assert all(isinstance(call, CallBatches) for call in calls)
    assert [call.steps for call in calls] == [(3, 3), (3, 3), (1,)]
    batches = [batch for call in calls for batch in call.batches]
    assert [len(batch["target"]) for batch in batches] == [8] * 12 + [4]
    plain = list(TrainingLoader(DictData().train_dataloader(), grouped=False))
    assert all(
        torch.equal(a["features"], b["features"]) for a, b in zip(batches, plain, strict=True)
    )


class CountingIterable:
    """A loader of one's own that knows where it is (as torchdata's StatefulDataLoader)."""

    def __init__(self) -> None:
        self.position = 0

    def __len__(self) -> int:
        return 10

    def __iter__(self):
        while self.position < 10:
            self.position += 1
            yield (torch.tensor([float(self.position)]),)

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.position = state["position"]


def test_a_stateful_iterable_is_grouped_and_resumes_from_its_own_state():
    grouped = wrap_training_loader(CountingIterable(), 2, 2, grouped=True, trainer=None)
    assert isinstance(grouped, StatefulGroupedIterable) and len(grouped) == 3
    calls = iter(grouped)
    first = next(calls)
    assert [float(x) for (x,) in first.batches] == [1, 2, 3, 4] and first.steps == (2, 2)
    resumed = wrap_training_loader(CountingIterable(), 2, 2, grouped=True, trainer=None)
    resumed.load_state_dict(grouped.state_dict())
    assert [float(x) for (x,) in next(iter(resumed)).batches] == [5, 6, 7, 8]


def test_a_loader_shuffled_by_the_global_rng_resumes_mid_epoch_in_its_order():
    """DataLoader(shuffle=True) without a generator draws its order from torch's global RNG:
    resumed after 2 of 4 calls (the global RNG elsewhere by then), the same last 2 calls."""

    def loader() -> TrainingLoader:
        return TrainingLoader(DataLoader(Pairs(), batch_size=8, shuffle=True), steps_per_call=4)

    torch.manual_seed(5)
    first = loader()
    calls = iter(first)
    done = [next(calls), next(calls)]
    state = first.state_dict()
    rest = list(calls)
    assert len(done + rest) == 4 and state["calls_done"] == 2
    torch.manual_seed(99)
    resumed = loader()
    resumed.load_state_dict(state)
    again = list(resumed)
    targets = [batch["target"] for call in rest for batch in call.batches]
    resumed_targets = [batch["target"] for call in again for batch in call.batches]
    assert all(torch.equal(a, b) for a, b in zip(targets, resumed_targets, strict=True))
