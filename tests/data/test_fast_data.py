"""The preloaded-tensor data path: same data as the torchvision path, seeded order, resumable."""

from __future__ import annotations

import json
from functools import partial

import lightning as L
import pytest
import torch

from litlab.data.augment import RandomHorizontalFlip
from litlab.data.fashion import FashionMNISTDataModule
from litlab.data.sine import SineDataModule
from litlab.data.tensor_batches import BatchIndexSampler, TensorBatches, batch_loader
from litlab.errors import ConfigValueError
from litlab.models.classifier import Classifier
from litlab.models.mlp import MLP
from litlab.multistep.loader import TrainingLoader
from litlab.run import run
from tests.conftest import plain_batches, requires_cuda
from tests.data.test_data import tiny_module


def test_preloaded_data_equals_the_torchvision_path(tmp_path):
    fast, slow = tiny_module(tmp_path, preload=True), tiny_module(tmp_path, preload=False)
    assert list(fast.val_set.indices.tolist()) == list(slow.val_set.indices)
    for fast_set, slow_set in ((fast.train_set, slow.train_set), (fast.test_set, slow.test_set)):
        assert len(fast_set) == len(slow_set)
        for row in (0, 7, len(slow_set) - 1):
            image, label = slow_set[row]
            fast_image, fast_label = fast_set[row]
            torch.testing.assert_close(fast_image, image, rtol=0, atol=1e-6)
            assert int(fast_label) == label


def test_batches_cover_every_row_once_in_a_seeded_order(tmp_path):
    def epoch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        dm = tiny_module(tmp_path, batch_size=16, seed=seed)
        batches = plain_batches(dm.train_dataloader())
        assert [len(y) for _, y in batches] == [16] * 5 + [10]
        assert all(x.shape[1:] == (1, 28, 28) for x, _ in batches)
        return torch.cat([x for x, _ in batches]), dm.train_set.tensors[0]

    torch.manual_seed(0)
    a, rows = epoch(1)
    torch.manual_seed(99)  # the global RNG must not matter
    assert torch.equal(a, epoch(1)[0])
    assert not torch.equal(a, epoch(2)[0])
    # a permutation of the training rows: each appears exactly once
    assert torch.equal(a.flatten(1).sum(1).sort().values, rows.flatten(1).sum(1).sort().values)


def test_the_training_loaders_state_resumes_the_shuffling_order(tmp_path):
    loader = TrainingLoader(tiny_module(tmp_path, batch_size=16).train_dataloader(), 2)
    list(loader)  # epoch 1
    state = loader.state_dict()
    epoch2 = torch.cat([y for _, y in plain_batches(loader)])
    resumed = TrainingLoader(tiny_module(tmp_path, batch_size=16).train_dataloader(), 2)
    resumed.load_state_dict(state)
    assert torch.equal(torch.cat([y for _, y in plain_batches(resumed)]), epoch2)


def test_sampler_makes_several_passes_per_epoch_and_slices_when_not_shuffled():
    sampler = BatchIndexSampler(10, 4, shuffle=True, generator=torch.Generator(), passes=3)
    batches = list(sampler)
    assert len(sampler) == len(batches) == 9
    for p in range(3):
        assert sorted(torch.cat(batches[3 * p : 3 * p + 3]).tolist()) == list(range(10))
    assert list(BatchIndexSampler(10, 4)) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    loader = batch_loader(TensorBatches(torch.arange(10.0), torch.arange(10)), batch_size=4)
    assert [x.tolist() for x, _ in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_sine_passes_per_epoch_make_one_long_epoch():
    loader = SineDataModule(batch_size=200, passes_per_epoch=3).train_dataloader()
    batches = [x for x, _ in plain_batches(loader)]
    assert len(loader) == len(batches) == 30
    first_pass = torch.cat(batches[:10]).sort().values
    assert torch.equal(first_pass, torch.cat(batches[10:20]).sort().values)
    assert not torch.equal(torch.cat(batches[:10]), torch.cat(batches[10:20]))  # reshuffled


def test_workers_with_preloaded_tensors_are_refused():
    with pytest.raises(ConfigValueError, match="data.num_workers=2"):
        FashionMNISTDataModule(preload=True, num_workers=2)


def test_random_flip_is_seeded_and_flips_whole_images():
    images = torch.arange(2 * 3 * 4.0).view(2, 1, 3, 4)
    assert torch.equal(RandomHorizontalFlip(p=1.0)(images), images.flip(-1))
    assert torch.equal(RandomHorizontalFlip(p=0.0)(images), images)
    batch = torch.randn(64, 1, 28, 28)
    a, b = RandomHorizontalFlip(seed=3)(batch), RandomHorizontalFlip(seed=3)(batch)
    assert torch.equal(a, b)
    flipped = [not torch.equal(a[i], batch[i]) for i in range(64)]
    assert 10 < sum(flipped) < 54
    assert all(torch.equal(a[i], batch[i].flip(-1)) for i in range(64) if flipped[i])


def test_augmentation_touches_training_batches_only(tmp_path):
    calls = []

    def record(images: torch.Tensor) -> torch.Tensor:
        calls.append(len(images))
        return images

    dm = tiny_module(tmp_path, batch_size=30, augment=record)
    model = Classifier(MLP(hidden_sizes=[8]), optimizer=partial(torch.optim.SGD, lr=0.1))
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(model, datamodule=dm)
    assert calls == [30, 30, 30]  # 90 training rows; the 10 validation rows untouched


def test_epoch_metrics_are_exact_over_uneven_batches(tmp_path):
    dm = tiny_module(tmp_path, batch_size=6)  # 20 test rows: batches of 6, 6, 6, 2
    torch.manual_seed(0)
    model = Classifier(MLP(hidden_sizes=[8]), optimizer=partial(torch.optim.SGD, lr=0.1))
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (result,) = trainer.test(model, datamodule=dm, verbose=False)
    images, labels = dm.test_set.tensors
    with torch.no_grad():
        logits = model(images)
    expected_acc = (logits.argmax(-1) == labels).float().mean().item()
    expected_loss = torch.nn.functional.cross_entropy(logits, labels).item()
    assert result["test/acc"] == pytest.approx(expected_acc, abs=1e-6)
    assert result["test/loss"] == pytest.approx(expected_loss, rel=1e-5)


@pytest.mark.gpu
@requires_cuda
def test_preloaded_batches_live_on_the_gpu(make_cfg, tmp_path):
    cfg = make_cfg(
        "experiment=fashion",
        "trainer=gpu",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=50",
        "logger=none",
    )
    run(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test/acc"] > 0.6
    dm = FashionMNISTDataModule(data_dir=cfg.paths.data_dir, allow_download=False)
    trainer = L.Trainer(accelerator="gpu", devices=1, logger=False)
    dm.trainer = trainer
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert dm.train_set.device.type == "cuda" and x.device.type == "cuda"
    assert y.device.type == "cuda"


def test_workers_with_preload_stop_train_py_with_exit_code_2(tmp_path, monkeypatch, capsys):
    from tests.conftest import train_in_process

    result = train_in_process(
        monkeypatch, capsys, "data.num_workers=2", f"paths.log_dir={tmp_path}", "logger=none"
    )
    assert result.returncode == 2
    assert "error: data.num_workers=2 is invalid" in result.stderr
    assert "data.preload=false" in result.stderr
    assert not any(tmp_path.rglob("*.ckpt"))
