"""The data modules: sine points, and Fashion-MNIST from a tiny IDX data set the tests write."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from litlab.data.fashion import FashionMNISTDataModule
from litlab.data.fashion_files import DataUnavailableError, ensure_fashion_mnist, raw_folder
from litlab.data.sine import SineDataModule, SineDataset
from tests.conftest import plain_batches


def test_sine_dataset_is_sin_on_minus_pi_to_pi():
    dataset = SineDataset(2000)
    assert len(dataset) == 2000
    x, y = dataset[1999]
    assert x.item() == pytest.approx(math.pi) and y.item() == pytest.approx(
        math.sin(math.pi), abs=1e-6
    )
    assert dataset[0][0].item() == pytest.approx(-math.pi)


def test_sine_batches_are_shuffled_by_the_seed_alone():
    def first_epoch(seed: int) -> torch.Tensor:
        loader = SineDataModule(batch_size=200, seed=seed).train_dataloader()
        return torch.cat([x for x, _ in plain_batches(loader)])

    torch.manual_seed(0)
    a = first_epoch(1)
    torch.manual_seed(123)  # the global RNG must not matter
    assert torch.equal(a, first_epoch(1))
    assert not torch.equal(a, first_epoch(2))
    assert torch.equal(a.sort().values, SineDataset(2000).x)  # a permutation of all points
    batches = plain_batches(SineDataModule(num_points=500, batch_size=100).train_dataloader())
    assert len(batches) == 5 and batches[0][0].shape == (100,)


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_tiny_fashion(folder: Path, train: int = 100, test: int = 20, seed: int = 0) -> Path:
    """The four IDX .gz files as Debian ships them, with random images and labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("t10k", test)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), 2051)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)), 2049)
    return folder


def tiny_module(tmp_path: Path, **kwargs) -> FashionMNISTDataModule:
    """A set-up FashionMNISTDataModule over make_tiny_fashion's files (10 validation images)."""
    source = make_tiny_fashion(tmp_path / "system")
    dm = FashionMNISTDataModule(
        tmp_path / "data", val_size=10, system_dir=source, allow_download=False, **kwargs
    )
    dm.prepare_data()
    dm.setup()
    return dm


def test_datamodule_reads_a_tiny_idx_dataset_from_a_local_copy(tmp_path):
    source = make_tiny_fashion(tmp_path / "system")
    data_dir = tmp_path / "data"
    dm = FashionMNISTDataModule(
        data_dir=data_dir, system_dir=source, allow_download=False, val_size=10, batch_size=16
    )
    dm.prepare_data()
    assert sorted(p.name for p in raw_folder(data_dir).iterdir()) == [
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    ]  # fmt: skip
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (90, 10, 20)
    x, y = plain_batches(dm.train_dataloader())[0]
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (16,)
    assert y.min() >= 0 and y.max() < 10
    # normalised: (pixel/255 - mean) / std
    assert x.min() >= (0 - 0.2860) / 0.3530 - 1e-5 and x.max() <= (1 - 0.2860) / 0.3530 + 1e-5
    assert len(list(dm.test_dataloader())) == 2


def test_split_depends_on_the_seed(tmp_path):
    source = make_tiny_fashion(tmp_path / "system")

    def val_indices(seed: int) -> list[int]:
        dm = FashionMNISTDataModule(
            tmp_path / "data", val_size=10, seed=seed, system_dir=source, allow_download=False
        )
        dm.prepare_data()
        dm.setup("fit")
        return list(dm.val_set.indices)

    assert val_indices(1) == val_indices(1)
    assert val_indices(1) != val_indices(2)


def test_missing_data_says_how_to_provide_it_and_leaves_nothing_behind(tmp_path):
    data_dir = tmp_path / "data"
    with pytest.raises(DataUnavailableError) as error:
        ensure_fashion_mnist(data_dir, system_dir=tmp_path / "nowhere", allow_download=False)
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(raw_folder(data_dir)) in message
    assert "download" in message
    assert str(tmp_path / "nowhere") in message  # says what it tried
    assert not raw_folder(data_dir).exists()
    assert not any(p.name.startswith(".staging") for p in (data_dir / "FashionMNIST").iterdir())


def test_a_failing_download_is_reported_too(tmp_path, monkeypatch):
    import litlab.data.fashion_files as files

    def offline(staging: Path) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(files, "download_with_torchvision", offline)
    with pytest.raises(DataUnavailableError, match="network is unreachable"):
        ensure_fashion_mnist(tmp_path / "data", system_dir=None, allow_download=True)


def test_truncated_source_is_rejected_without_touching_the_data_folder(tmp_path):
    source = make_tiny_fashion(tmp_path / "system")
    raw = (source / "train-images-idx3-ubyte.gz").read_bytes()
    with gzip.open(source / "train-images-idx3-ubyte.gz", "rb") as f:
        content = f.read()
    with gzip.open(source / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(content[:-100])
    assert raw != (source / "train-images-idx3-ubyte.gz").read_bytes()
    with pytest.raises(DataUnavailableError, match="truncated"):
        ensure_fashion_mnist(tmp_path / "data", system_dir=source, allow_download=False)
    assert not raw_folder(tmp_path / "data").exists()
