"""model.compile: torch.compile of the network, in place, behind a config switch."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from litlab.data.sine import SineDataModule
from litlab.data.tensor_batches import TensorBatches, batch_loader
from litlab.models.classifier import Classifier
from litlab.models.cnn import CNN
from litlab.models.mlp import MLP
from litlab.models.polynomial import Polynomial3
from litlab.models.regression import RegressionModule
from litlab.tensorboard import eager_calls
from tests.conftest import REPO, run_folder, run_train


def sgd(lr: float = 1e-3) -> functools.partial:
    return functools.partial(torch.optim.SGD, lr=lr)


def test_the_switch_hands_the_network_to_torch_compile(monkeypatch):
    """Cheap: the wrapping is checked, not the compilation (minutes on a busy CPU, see the slow
    test below). torch.compile is recorded and returns the call unchanged."""
    compiled = []

    def record(fn, *args, **kwargs):
        compiled.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", record)
    mlp, polynomial = MLP(), Polynomial3()
    Classifier(mlp, sgd(), compile=True)
    RegressionModule(polynomial, sgd(), compile=True)
    assert compiled == [mlp._call_impl, polynomial._call_impl]  # the networks, not the steps
    Classifier(MLP(), sgd())
    RegressionModule(Polynomial3(), sgd())
    assert len(compiled) == 2  # off by default


@pytest.mark.parametrize(
    "experiment, net", [("fashion", "MLP"), ("fashion_cnn", "CNN"), ("polynomial", "Polynomial3")]
)
def test_model_compile_is_a_config_switch(make_cfg, experiment, net):
    eager = instantiate(make_cfg(f"experiment={experiment}").model)
    assert type(eager.net).__name__ == net
    assert eager.net._compiled_call_impl is None  # off where it does not pay (benchmarks/README)
    compiled = instantiate(make_cfg(f"experiment={experiment}", "model.compile=true").model)
    assert compiled.net._compiled_call_impl is not None


def test_a_compiled_modules_checkpoint_loads_into_an_eager_one(tmp_path):
    """In-place compilation keeps the parameter names: no "_orig_mod." in the state dict."""
    torch.manual_seed(0)
    compiled = Classifier(CNN(channels=(4, 8)), sgd(), compile=True)
    eager = Classifier(CNN(channels=(4, 8)), sgd())
    assert list(compiled.state_dict()) == list(eager.state_dict())
    torch.save(compiled.state_dict(), tmp_path / "weights.pt")
    eager.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True))  # strict
    for key, value in compiled.state_dict().items():
        assert torch.equal(eager.state_dict()[key], value)


def test_tensorboards_graph_traces_a_compiled_network_eagerly():
    """torch.jit.trace (TensorBoard's graph) refuses compiled calls: the logger traces the
    network eagerly, and leaves it compiled."""
    model = Classifier(MLP(hidden_sizes=(8,)), sgd(), compile=True)
    compiled_call = model.net._compiled_call_impl
    with eager_calls(model):
        assert model.net._compiled_call_impl is None
        torch.jit.trace(model.net, torch.zeros(1, 1, 28, 28))  # no compilation, no error
    assert model.net._compiled_call_impl is compiled_call


def fit_steps(model: L.LightningModule, data: L.LightningDataModule, steps: int) -> None:
    trainer = L.Trainer(
        max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, deterministic=True,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)


class RandomImages(L.LightningDataModule):
    """32 random 28x28 images in batches of 8: enough to take a few steps of a tiny CNN."""

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(32, 1, 28, 28, generator=generator)
        labels = torch.randint(0, 10, (32,), generator=generator)
        return batch_loader(TensorBatches(images, labels), 8)  # a step a batch


@pytest.mark.slow  # inductor compiles C++ for the forward and the backward: minutes on 2 cores
def test_compiled_and_eager_training_agree():
    """The same steps from the same start, compiled and eager. Compiled kernels fuse and reorder
    float32 arithmetic, so the last bits differ, and BatchNorm carries the difference on: after
    4 steps the tiny CNN's weights differed by up to 3.5e-6 (the cubic's after 20 steps: 1.2e-7).
    Tolerance: 1e-5 absolute, 1e-4 relative."""
    results = {}
    for compile in (False, True):
        torch.manual_seed(0)
        cubic = RegressionModule(Polynomial3(), sgd(), compile=compile)
        fit_steps(cubic, SineDataModule(seed=0, batch_size=200), steps=20)
        torch.manual_seed(0)
        cnn = Classifier(CNN(channels=(4, 8), dropout=0.0), sgd(0.1), compile=compile)
        fit_steps(cnn, RandomImages(), steps=4)
        results[compile] = (cubic.state_dict(), cnn.state_dict())
    for eager, compiled in zip(results[False], results[True], strict=True):
        assert list(eager) == list(compiled)
        for key in eager:
            torch.testing.assert_close(compiled[key], eager[key], rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # compiles the cubic for training, then for testing: minutes on 2 cores
def test_a_compiled_runs_checkpoint_tests_compiled_and_eager(tmp_path):
    """train.py with model.compile=true (TensorBoard's graph traced too), then `litlab rerun
    train=false` of its best checkpoint, as recorded (compiled) and with model.compile=false."""
    run = run_train(
        "experiment=polynomial", "model.compile=true", "data.passes_per_epoch=1",
        "trainer.max_epochs=2", f"paths.log_dir={tmp_path}", timeout=1200,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    folder = run_folder(run)
    [best] = (folder / "checkpoints").glob("best-*.ckpt")
    state = torch.load(best, weights_only=True)["state_dict"]
    assert list(state) == ["net.a", "net.b", "net.c", "net.d"]  # no "_orig_mod."
    losses = {}
    for compile in ("true", "false"):
        rerun = subprocess.run(
            [sys.executable, "-m", "litlab", "rerun", str(folder), "train=false",
             f"model.compile={compile}", f"paths.log_dir={tmp_path / compile}"],
            cwd=REPO, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        metrics = json.loads((run_folder(rerun) / "metrics.json").read_text())
        losses[compile] = metrics["test/loss"]
    assert losses["true"] == pytest.approx(losses["false"], rel=1e-5)
