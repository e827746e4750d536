"""Several optimizer steps per training_step call: the same training, bit for bit, as one step
per call -- with accumulation, clipping, schedulers, max_steps and resuming mid-epoch."""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.exceptions import SIGTERMException

from litlab import run as run_module
from litlab.data.sine import SineDataModule
from litlab.models.polynomial import Polynomial3
from litlab.models.regression import RegressionModule
from litlab.multistep import MultiStepCallback
from litlab.multistep.loader import TrainingLoader
from litlab.run import build_trainer, run
from tests.conftest import DATA_DIR, compose_config, requires_cuda

# 1000 training images (val_size=59000) in batches of 48: 21 batches an epoch, the last of 40
FASHION = [
    "experiment=fashion",
    "data.val_size=59000",
    "data.batch_size=48",
    "trainer.max_epochs=2",
    "trainer.limit_val_batches=3",
    "trainer.limit_test_batches=2",
    "model.net.dropout=0.2",  # draws random numbers every step
]
HALVE_LR_EACH_EPOCH = (
    "model.scheduler={_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,"
    "step_size:1,gamma:0.5}"
)
POLYNOMIAL = ["experiment=polynomial", "trainer.max_epochs=2", "data.passes_per_epoch=3"]


def train_in(folder: Path, *overrides: str) -> tuple[dict, dict]:
    """run(cfg) in ``folder``: (last.ckpt, metrics.json)."""
    base = [f"paths.output_dir={folder}", f"paths.data_dir={DATA_DIR}", "logger=none"]
    run(compose_config(base + list(overrides)))
    last = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    return last, json.loads((folder / "metrics.json").read_text())


def assert_same_weights(a: dict, b: dict) -> None:
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), f"{name} differs"


CASES = {
    "polynomial": POLYNOMIAL,
    "fashion with dropout and a scheduler": [*FASHION, HALVE_LR_EACH_EPOCH],
    "fashion accumulating 2 batches a step": [*FASHION, "trainer.accumulate_grad_batches=2"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_eight_steps_per_call_train_exactly_as_one_step_per_call(tmp_path, case):
    one_step, one_step_metrics = train_in(tmp_path / "k1", *CASES[case], "steps_per_call=1")
    fused, fused_metrics = train_in(tmp_path / "k8", *CASES[case], "steps_per_call=8")
    assert fused["global_step"] == one_step["global_step"] > 0
    assert_same_weights(fused, one_step)
    assert fused_metrics == one_step_metrics  # train/loss, train/acc, val/..., test/...
    exactly = {"rtol": 0, "atol": 0}
    torch.testing.assert_close(fused["optimizer_states"], one_step["optimizer_states"], **exactly)


def test_max_steps_stops_exactly_where_asked(tmp_path):
    """13 steps: the second call of 8 stops after its fifth step."""
    fused, _ = train_in(tmp_path / "k8", *FASHION, "trainer.max_steps=13", "steps_per_call=8")
    one_step, _ = train_in(tmp_path / "k1", *FASHION, "trainer.max_steps=13", "steps_per_call=1")
    assert fused["global_step"] == one_step["global_step"] == 13
    assert_same_weights(fused, one_step)


def parameters_after(tmp_path: Path, *overrides: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The cubic's (a, b, c, d) before and after one epoch of 10 SGD steps."""
    cfg = [*POLYNOMIAL, "trainer.max_epochs=1", "data.passes_per_epoch=1", *overrides]
    last, _ = train_in(tmp_path, *cfg, "test=false")
    after = torch.stack([last["state_dict"][f"net.{name}"] for name in "abcd"])
    L.seed_everything(42)
    before = Polynomial3().coefficients
    return before, after


@pytest.mark.parametrize("model", ["polynomial", "polynomial_manual"])
def test_gradient_clipping_from_the_trainer_config_bounds_every_step(tmp_path, model):
    """SGD with lr 1e-3 for 10 steps: clipped to norm 0.01, the weights move at most
    10 x 1e-3 x 0.01 = 1e-4; unclipped, the cubic's first gradients are far larger."""
    clip = ("trainer.gradient_clip_val=0.01", f"model={model}")
    before, clipped = parameters_after(tmp_path / "norm", *clip)
    assert 0 < (clipped - before).norm() <= 1e-4 + 1e-6  # float32 rounding of ~0.3 values
    _, by_value = parameters_after(
        tmp_path / "value", *clip, "trainer.gradient_clip_algorithm=value"
    )
    assert 0 < (by_value - before).abs().max() <= 1e-4 + 1e-6
    _, free = parameters_after(tmp_path / "free", f"model={model}")
    assert (free - before).norm() > 1e-3


def test_epoch_scheduler_steps_once_per_epoch(tmp_path):
    last, _ = train_in(tmp_path, *FASHION, HALVE_LR_EACH_EPOCH, "trainer.max_epochs=3")
    assert last["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(1e-3 / 8)
    assert last["lr_schedulers"][0]["last_epoch"] == 3


def test_step_scheduler_steps_at_its_frequency():
    """A scheduler configured per optimizer step, every second step: 10 steps, 5 decays."""

    class StepDecay(RegressionModule):
        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.parameters(), lr=1e-3)
            decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": decay, "interval": "step", "frequency": 2},
            }

    model = StepDecay(Polynomial3(), optimizer=None)
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[MultiStepCallback(steps_per_call=4)],
    )  # fmt: skip
    trainer.fit(model, datamodule=SineDataModule(batch_size=200))
    assert trainer.global_step == 10
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.9**5)


class SigtermAfterCall(L.Callback):
    """What Lightning does on a real SIGTERM: finish the call, then stop (see test_failures)."""

    def __init__(self, call: int) -> None:
        self.call, self.calls = call, 0

    def on_train_batch_end(self, trainer, *args) -> None:
        self.calls += 1
        if self.calls == self.call:
            trainer._signal_connector.received_sigterm = True


@pytest.mark.parametrize("call", [3, 8], ids=["first epoch", "last epoch"])
def test_resuming_mid_epoch_ends_bit_for_bit_where_an_uninterrupted_run_ends(
    tmp_path, monkeypatch, call
):
    """Batches of 48, 4 steps a call: 6 calls an epoch. SIGTERM after call 3 (mid first epoch)
    or 8 (mid last epoch); resuming from interrupted.ckpt gives the same weights, optimizer
    state, scheduler and training metrics as the uninterrupted run."""
    case = [*FASHION, HALVE_LR_EACH_EPOCH, "steps_per_call=4"]
    straight, straight_metrics = train_in(tmp_path / "straight", *case)

    build = run_module.instantiate_group

    def with_sigterm(cfg, group):
        return build(cfg, group) + ([SigtermAfterCall(call)] if group == "callbacks" else [])

    monkeypatch.setattr(run_module, "instantiate_group", with_sigterm)
    with pytest.raises(SIGTERMException):
        train_in(tmp_path / "stopped", *case)
    monkeypatch.setattr(run_module, "instantiate_group", build)
    saved = tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt"
    assert torch.load(saved, weights_only=True)["global_step"] == call * 4 - (call > 6) * 3

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed, resumed_metrics = train_in(tmp_path / "resumed", *case, f"ckpt_path={saved}")
    # Lightning's "your dataloader is not resumable": the training loader is (state_dict)
    assert not [w for w in caught if "not resumable" in str(w.message)]
    assert resumed["global_step"] == straight["global_step"] == 42
    assert_same_weights(resumed, straight)
    assert resumed["lr_schedulers"] == straight["lr_schedulers"]
    for name in ("train/loss", "train/acc", "val/loss", "val/acc"):
        assert resumed_metrics[name] == straight_metrics[name], name
    # test/* differ by design: the resumed run tests the best of its own epochs (README)


def test_a_call_holds_the_batches_of_its_steps_in_one_tensor():
    """2000 points, batches of 300 (6 x 300 + 200), windows of 2, 2 steps a call: calls of
    (300, 300 | 300, 300), (300, 300 | 200), in the order batches of 300 come one by one."""
    plain = SineDataModule(batch_size=300, seed=3)
    fused = TrainingLoader(SineDataModule(batch_size=300, seed=3).train_dataloader(), 2, 2)
    calls = list(fused)
    assert [call.steps for call in calls] == [((300, 300), (300, 300)), ((300, 300), (200,))]
    assert [len(call.tensors[0]) for call in calls] == [1200, 800]
    batches = [batch for call in calls for step in call.batches_by_step() for batch in step]
    views = [x.untyped_storage().data_ptr() for x, _ in batches]
    assert len(set(views)) == 2  # every batch is a view of its call's tensor
    expected = [x for x, _ in TrainingLoader(plain.train_dataloader(), grouped=False)]
    assert all(torch.equal(x, e) for (x, _), e in zip(batches, expected, strict=True))


def test_the_divergence_check_costs_one_host_sync_per_call(monkeypatch):
    """TrainingGuard reads the call's step losses once, not once per step."""
    from litlab.callbacks import TrainingGuard

    checks = []
    real_isfinite = torch.isfinite
    monkeypatch.setattr(torch, "isfinite", lambda t: checks.append(t.shape) or real_isfinite(t))
    model = RegressionModule(Polynomial3(), functools.partial(torch.optim.SGD, lr=1e-3))
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[TrainingGuard(), MultiStepCallback(8)],
    )  # fmt: skip
    trainer.fit(model, datamodule=SineDataModule(batch_size=200))
    assert checks == [torch.Size([8]), torch.Size([2])]  # 10 steps in 2 calls


@pytest.mark.gpu
@requires_cuda
def test_eight_steps_per_call_train_exactly_as_one_step_per_call_on_the_gpu(tmp_path):
    case = [*FASHION, HALVE_LR_EACH_EPOCH, "trainer=gpu", "trainer.deterministic=true"]
    one_step, one_step_metrics = train_in(tmp_path / "k1", *case, "steps_per_call=1")
    fused, fused_metrics = train_in(tmp_path / "k8", *case, "steps_per_call=8")
    assert_same_weights(fused, one_step)
    assert fused_metrics == one_step_metrics


def test_lightning_accumulates_and_clips_only_for_modules_that_do_not_run_their_own_steps():
    """One place for both keys, for any module: Lightning's for automatic optimization; the
    loop's (MultiStepCallback) for a MultiStepModule, with Lightning's off."""
    keys = ["trainer.accumulate_grad_batches=4", "trainer.gradient_clip_val=0.5"]
    base = ["experiment=polynomial", "paths.output_dir=unused", *keys]
    cfg = compose_config(base)
    fused = build_trainer(cfg, instantiate(cfg.model), logger=False)
    assert (fused.accumulate_grad_batches, fused.gradient_clip_val) == (1, None)
    (loop,) = [c for c in fused.callbacks if isinstance(c, MultiStepCallback)]
    assert (loop.accumulate_grad_batches, loop.gradient_clip_val) == (4, 0.5)
    plain = build_trainer(cfg, BoringModel(), logger=False)  # automatic optimization
    assert (plain.accumulate_grad_batches, plain.gradient_clip_val) == (4, 0.5)
    (loop,) = [c for c in plain.callbacks if isinstance(c, MultiStepCallback)]
    assert (loop.accumulate_grad_batches, loop.gradient_clip_val) == (1, None)
