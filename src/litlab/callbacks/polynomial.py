"""The polynomial's reference: the least-squares cubic, as a metric and as a picture."""

from __future__ import annotations

from typing import cast

import lightning as L
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from litlab.image_grids import image_summary
from litlab.models.polynomial import cubic, format_cubic, least_squares_cubic
from litlab.tensorboard import tensorboard_logger


class LeastSquaresReference(L.Callback):
    """Compares the trained cubic with the least-squares cubic on the same data, solved once.

    Logs ``train/mse`` (over the whole data set) and ``train/mse_ratio`` (that MSE over the
    least-squares MSE, so 1.0 is the best any cubic can do) at the end of every training epoch;
    draws sin(x), the learned and the least-squares cubic in TensorBoard (``fit/polynomial``)
    every ``figure_every_n_epochs`` epochs and at the end (never with None, or without a
    TensorBoard logger); prints both polynomials when training ends. Needs a datamodule whose
    ``dataset`` has ``x`` and ``y`` tensors.
    """

    def __init__(self, figure_every_n_epochs: int | None = 1) -> None:
        self.figure_every_n_epochs = figure_every_n_epochs
        self.coefficients: torch.Tensor | None = None
        self.reference_mse = float("nan")
        self.drawn_at_step: int | None = None
        self.canvas: FigureCanvasAgg | None = None  # the figure, built at the first picture

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dataset = trainer.datamodule.dataset  # type: ignore[attr-defined]  # set by Lightning's data connector, undeclared on Trainer
        self.x, self.y = dataset.x.cpu(), dataset.y.cpu()  # for the figure
        self.coefficients, self.reference_mse = least_squares_cubic(self.x, self.y)
        self.reference_curve = cubic(self.coefficients, self.x)
        self.x_on_device, self.y_on_device = (
            self.x.to(pl_module.device),
            self.y.to(pl_module.device),
        )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with torch.no_grad():
            learned = pl_module(self.x_on_device)
        mse = torch.mean((learned - self.y_on_device) ** 2)
        pl_module.log("train/mse", mse)
        pl_module.log("train/mse_ratio", mse / self.reference_mse)
        every = self.figure_every_n_epochs
        if every and trainer.current_epoch % every == 0 and self.will_draw(trainer):
            self.draw(trainer, learned)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.figure_every_n_epochs and self.will_draw(trainer):  # unless the last epoch did
            with torch.no_grad():
                self.draw(trainer, pl_module(self.x_on_device))
        if not trainer.is_global_zero:
            return
        ratio = trainer.callback_metrics.get("train/mse_ratio", torch.tensor(float("nan")))
        print(
            f"\nlearned:       {pl_module.net.string()}\n"  # type: ignore[operator,union-attr]  # a Cubic
            f"least squares: {format_cubic(self.coefficients)}  (MSE {self.reference_mse:.6f})\n"  # type: ignore[arg-type]  # set at fit start
            f"train/mse_ratio = {float(ratio):.4f}  (1.0 is the best a cubic can do)"
        )

    def will_draw(self, trainer: L.Trainer) -> bool:
        """Rank zero, with a TensorBoard logger, and not drawn at this step yet."""
        logger = tensorboard_logger(trainer)
        return (
            logger is not None
            and trainer.is_global_zero
            and self.drawn_at_step != trainer.global_step
        )

    def draw(self, trainer: L.Trainer, learned: torch.Tensor) -> None:
        pixels = self.picture(learned.cpu(), trainer.global_step)
        writer = tensorboard_logger(trainer).experiment._get_file_writer()  # type: ignore[union-attr]  # will_draw
        writer.add_summary(image_summary("fit/polynomial", pixels), trainer.global_step)
        self.drawn_at_step = trainer.global_step

    def picture(self, learned: torch.Tensor, step: int) -> np.ndarray:
        """The figure as (H, W, 3) pixels. Built once a run; each later picture only moves the
        learned curve and the title (a new figure each time cost ~0.3 s)."""
        if self.canvas is None:
            self.canvas, self.learned_line = self.figure(learned)
        self.learned_line.set_ydata(learned.numpy())
        ax = cast(Axes, self.learned_line.axes)  # the figure's one Axes
        ax.relim()  # the y range follows the curves, as a new figure's would
        ax.autoscale_view()
        ax.set_title(f"after {step} steps")
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def figure(self, learned: torch.Tensor) -> tuple[FigureCanvasAgg, Line2D]:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        x = self.x.numpy()
        ax.plot(x, self.y.numpy(), label="sin(x)", color="black", linewidth=3, alpha=0.3)
        (line,) = ax.plot(x, learned.numpy(), label="learned cubic")
        ax.plot(x, self.reference_curve.numpy(), "--", label="least-squares cubic")
        ax.set(xlabel="x", ylabel="y")
        ax.legend()
        return FigureCanvasAgg(fig), line
