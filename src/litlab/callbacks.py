"""Lightning callbacks that report on the experiments (they observe; models stay trainer-free)."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer

from litlab.models.polynomial import format_cubic


def least_squares_cubic(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Closed-form best cubic (a, b, c, d) for the points, and its mean squared error."""
    design = torch.stack([x**0, x, x**2, x**3], dim=1).double()
    solution = torch.linalg.lstsq(design, y.double().unsqueeze(1)).solution.squeeze(1)
    mse = torch.mean((design @ solution - y.double()) ** 2).item()
    return solution.float(), mse


class LeastSquaresReference(L.Callback):
    """Compares the trained cubic with the least-squares cubic on the same data.

    Logs ``train/mse`` (over the whole data set) and ``train/mse_ratio`` (that MSE over the
    least-squares MSE, so 1.0 is the best any cubic can do) at the end of every training epoch,
    and prints both polynomials when training ends. Needs a datamodule whose ``dataset`` has
    ``x`` and ``y`` tensors.
    """

    def __init__(self) -> None:
        self.coefficients: torch.Tensor | None = None
        self.reference_mse = float("nan")

    def _data(self, trainer: L.Trainer, pl_module: L.LightningModule) -> tuple[torch.Tensor, ...]:
        dataset = trainer.datamodule.dataset
        return dataset.x.to(pl_module.device), dataset.y.to(pl_module.device)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        x, y = self._data(trainer, pl_module)
        self.coefficients, self.reference_mse = least_squares_cubic(x.cpu(), y.cpu())

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        x, y = self._data(trainer, pl_module)
        with torch.no_grad():
            mse = torch.mean((pl_module(x) - y) ** 2)
        pl_module.log("train/mse", mse)
        pl_module.log("train/mse_ratio", mse / self.reference_mse)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        ratio = trainer.callback_metrics.get("train/mse_ratio", torch.tensor(float("nan")))
        print(
            f"\nlearned:       {pl_module.net.string()}\n"
            f"least squares: {format_cubic(self.coefficients)}  (MSE {self.reference_mse:.6f})\n"
            f"train/mse_ratio = {float(ratio):.4f}  (1.0 is the best a cubic can do)"
        )


class TrainingTime(Timer):
    """Lightning's ``Timer`` that also logs ``time/train_s`` at every training epoch's end.

    Seconds since training started: validation inside fit counts; process start-up, data
    loading and testing do not. With ``test/acc`` it answers "how long to reach X %".
    """

    def __init__(self) -> None:
        super().__init__(duration=None, verbose=False)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        pl_module.log("time/train_s", self.time_elapsed("train"))
