import functools
import math

import lightning as L
import torch
from hydra.utils import instantiate
from torch import nn

from litlab.callbacks import TrainingTime
from litlab.data.sine import SineDataModule
from litlab.models.classifier import Classifier
from litlab.models.cnn import CNN
from litlab.models.functional import stable_softmax
from litlab.models.mlp import MLP
from litlab.models.polynomial import Polynomial3
from litlab.models.regression import RegressionModule
from litlab.multistep import EpochMean, MultiStepCallback


def test_polynomial3_evaluates_the_cubic_with_four_scalar_parameters():
    torch.manual_seed(0)
    model = Polynomial3()
    params = dict(model.named_parameters())
    assert sorted(params) == ["a", "b", "c", "d"]
    assert all(p.shape == () for p in params.values())
    x = torch.tensor([-2.0, 0.0, 0.5, 3.0])
    a, b, c, d = model.coefficients
    torch.testing.assert_close(model(x), a + b * x + c * x**2 + d * x**3)


def test_polynomial3_string_shows_the_learned_coefficients():
    model = Polynomial3()
    with torch.no_grad():
        for name, value in zip("abcd", (0.5, -1.25, 0.0, 2.0), strict=True):
            getattr(model, name).fill_(value)
    assert model.string() == "y = +0.5000 -1.2500 x +0.0000 x^2 +2.0000 x^3"


def test_default_mlp_is_the_specified_network():
    layers = list(MLP().layers)
    assert [type(layer) for layer in layers] == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    shapes = [
        (layer.in_features, layer.out_features) for layer in layers if isinstance(layer, nn.Linear)
    ]
    assert shapes == [(784, 512), (512, 512), (512, 10)]
    assert MLP()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_mlp_hidden_sizes_and_dropout_are_configurable():
    model = MLP(hidden_sizes=[32], dropout=0.2)
    assert [type(layer) for layer in model.layers] == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
    ]
    assert model.layers[3].p == 0.2


def test_stable_softmax_matches_torch_and_survives_huge_logits():
    probs = stable_softmax(torch.tensor([1000.0, 1001.0, 1002.0]))
    torch.testing.assert_close(probs, torch.tensor([0.0900, 0.2447, 0.6652]), atol=1e-4, rtol=0)
    extreme = stable_softmax(torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]))
    assert torch.isfinite(extreme).all()
    torch.testing.assert_close(extreme.sum(-1), torch.ones(2))
    logits = torch.randn(5, 7)
    torch.testing.assert_close(stable_softmax(logits), torch.softmax(logits, -1))
    # the naive formula overflows where the stable one does not
    naive = torch.tensor([1000.0]).exp() / torch.tensor([1000.0]).exp().sum()
    assert math.isnan(naive.item())


def constant_logits_classifier(logits: list[float]):
    """A Classifier whose network answers every input with the same logits."""
    from functools import partial

    from litlab.models.classifier import Classifier

    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.logits = nn.Parameter(torch.tensor(logits))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.logits.expand(len(x), -1)

    return Classifier(Constant(), partial(torch.optim.SGD, lr=0.1))


def test_classifier_loss_is_cross_entropy_of_the_logits_and_stays_finite():
    model = constant_logits_classifier([1000.0, 1001.0, 1002.0])
    x, y = torch.zeros(4, 2), torch.tensor([0, 1, 2, 2])
    loss = model.batch_loss((x, y), "train")
    # -log softmax: 2.4076, 1.4076, 0.4076 -- exact from the logits; the naive exp overflows
    expected = torch.tensor([2.4076, 1.4076, 0.4076, 0.4076]).mean()
    torch.testing.assert_close(loss, expected, atol=1e-4, rtol=0)
    loss.backward()
    assert torch.isfinite(model.net.logits.grad).all()
    extreme = constant_logits_classifier([1e4, -1e4, 0.0])
    assert torch.isfinite(extreme.batch_loss((x[:2], torch.tensor([1, 2])), "train"))


def test_classifier_predicts_probabilities_through_the_stable_softmax():
    model = constant_logits_classifier([1000.0, 1001.0, 1002.0])
    probs = model.predict_step(torch.zeros(3, 2), 0)
    torch.testing.assert_close(
        probs, torch.tensor([[0.0900, 0.2447, 0.6652]] * 3), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    huge = constant_logits_classifier([1e4, -1e4, 0.0]).predict_step(torch.zeros(1, 2), 0)
    assert torch.isfinite(huge).all()
    torch.testing.assert_close(huge, torch.tensor([[1.0, 0.0, 0.0]]))


def test_epoch_mean_weights_batches_by_size_and_restarts_each_epoch():
    mean = EpochMean()
    mean.update(torch.tensor(2.0), 1)
    mean.update(torch.tensor(5.0), 3)  # a batch of 3 weighs three times as much
    assert mean.compute().item() == (2.0 * 1 + 5.0 * 3) / 4
    mean.update(torch.tensor(7.0), 2)
    assert mean.compute().item() == 7.0  # the second epoch alone


def test_regression_train_loss_is_the_sample_mean_of_the_epochs_step_losses():
    """2000 points in batches of 300 (a short last batch), 3 steps a call: the mean is over
    samples."""
    steps: list[tuple[float, int]] = []

    class RecordSteps(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            for loss, sizes in zip(outputs["loss"].tolist(), batch.steps, strict=True):
                steps.append((loss, sum(sizes)))

    model = RegressionModule(Polynomial3(), functools.partial(torch.optim.SGD, lr=1e-3))
    data = SineDataModule(batch_size=300, seed=0)
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[RecordSteps(), MultiStepCallback(3)],
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    assert [n for _, n in steps] == [300] * 6 + [200]
    expected = sum(loss * n for loss, n in steps) / 2000
    assert math.isclose(trainer.callback_metrics["train/loss"].item(), expected, rel_tol=1e-6)


def test_epoch_metric_sums_are_not_model_state():
    """DDP broadcasts buffers from rank 0 before each forward and EMA swaps them: the running
    sums must not be buffers, or another rank's (or the average's) sums would replace them."""
    model = Classifier(MLP(), functools.partial(torch.optim.SGD, lr=0.1))
    regression = RegressionModule(Polynomial3(), functools.partial(torch.optim.SGD, lr=0.1))
    assert list(model.buffers()) == [] and list(regression.buffers()) == []
    assert not any("metrics" in key for key in model.state_dict())


def test_training_time_is_logged_at_every_epoch_end_and_grows():
    times: list[float] = []

    class RecordTime(L.Callback):  # after TrainingTime in the list: sees this epoch's value
        def on_train_epoch_end(self, trainer, pl_module):
            times.append(float(trainer.callback_metrics["time/train_s"]))

    model = RegressionModule(Polynomial3(), functools.partial(torch.optim.SGD, lr=1e-3))
    trainer = L.Trainer(
        max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[TrainingTime(), RecordTime()],
    )  # fmt: skip
    trainer.fit(model, datamodule=SineDataModule(seed=0))
    assert len(times) == 3 and 0 < times[0] < times[1] < times[2]


def test_evaluation_runs_in_eval_mode_so_dropout_is_off():
    """Dropout 0.5 changes every training forward; Lightning puts the module in eval mode to
    evaluate (test here; validation goes through the same loop) and back in train mode after,
    so testing the same weights twice agrees."""
    torch.manual_seed(0)
    model = RegressionModule(
        nn.Sequential(nn.Unflatten(0, (-1, 1)), nn.Linear(1, 64), nn.Dropout(0.5),
                      nn.Linear(64, 1), nn.Flatten(0)),
        functools.partial(torch.optim.SGD, lr=1e-3),
    )  # fmt: skip
    x = torch.linspace(-1, 1, 50)
    assert not torch.equal(model(x), model(x))  # train mode: two dropout masks
    data = SineDataModule(batch_size=200)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    first = trainer.test(model, datamodule=data, verbose=False)[0]["test/loss"]
    second = trainer.test(model, datamodule=data, verbose=False)[0]["test/loss"]
    assert first == second
    assert model.training  # Lightning puts it back in train mode


def test_cnn_is_conv_batchnorm_relu_maxpool_stages_and_a_linear_head():
    model = CNN(channels=(16, 32), dropout=0.2)
    stage = [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]
    assert [[type(layer) for layer in block] for block in model.features] == [stage, stage]
    assert [type(layer) for layer in model.head] == [nn.Flatten, nn.Dropout, nn.Linear]
    assert model.head[1].p == 0.2
    assert (model.head[2].in_features, model.head[2].out_features) == (32 * 7 * 7, 10)
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_model_net_cnn_swaps_the_network_and_keeps_the_rest(make_cfg):
    """`model/net=cnn` is a config group option: the Classifier, optimizer and data stay."""
    cfg = make_cfg("model/net=cnn")
    mlp_cfg = make_cfg()
    assert cfg.model.net._target_ == "litlab.models.cnn.CNN"
    assert {k: v for k, v in cfg.model.items() if k != "net"} == {
        k: v for k, v in mlp_cfg.model.items() if k != "net"
    }
    assert isinstance(instantiate(cfg.model).net, CNN)
    assert make_cfg("experiment=fashion_90").model.net.hidden_sizes == [1024, 512]  # the MLP's
