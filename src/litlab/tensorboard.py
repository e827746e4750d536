"""What a run puts in TensorBoard besides its scalars: hparams with final metrics, text, and the
logger that draws the model's graph once."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch import loggers
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard._pytorch_graph import graph as traced_graph
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from litlab.hparams import run_hparams
from litlab.run_folder.record import read_run_record
from litlab.run_folder.results import to_floats


def tensorboard_logger(trainer: L.Trainer) -> loggers.TensorBoardLogger | None:
    """The run's TensorBoard logger; None with logger=csv or logger=none (callbacks then skip)."""
    return next((lg for lg in trainer.loggers if isinstance(lg, loggers.TensorBoardLogger)), None)


def config_dict(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as plain values, without Hydra's own node."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True)  # type: ignore[misc]  # str keys
        if OmegaConf.is_config(cfg[key])
        else cfg[key]
        for key in cfg
        if key != "hydra"
    }


def as_code(text: str) -> str:
    """Markdown code block: TensorBoard's text tab renders markdown, and would reflow YAML."""
    return "\n".join("    " + line for line in text.splitlines())


HPARAMS_RUN = "hparams"  # <run folder>/tensorboard/hparams: the HPARAMS tab's session of this run


def log_hparams_session(
    log_dir: str | Path, hparams: Mapping[str, object], final: Mapping[str, float], step: int
) -> Path:
    """The run as one session of TensorBoard's HPARAMS tab, in its own TensorBoard run
    (``<log_dir>/hparams``): its hyperparameters, its final metrics as scalars, and its end.

    No experiment summary is written: TensorBoard takes the first one it finds as the columns
    of every run under ``--logdir`` (tensorboard issues 3597, 2942), so a fashion run's would
    hide the polynomial's metrics. Without one, TensorBoard builds the columns from all sessions:
    every run's hyperparameters, and as metrics every scalar in a session's run -- here exactly
    the ``final/*`` ones, as the training curves stay in ``<log_dir>`` itself.
    """
    _, start, end = hparams_summaries(dict(hparams), dict(final))
    folder = Path(log_dir) / HPARAMS_RUN
    writer = SummaryWriter(log_dir=str(folder))
    try:
        writer.file_writer.add_summary(start, step)  # type: ignore[attr-defined]  # made at init
        for name, value in final.items():
            writer.add_scalar(name, value, step)
        writer.file_writer.add_summary(end, step)  # type: ignore[attr-defined]  # made at init
    finally:
        writer.close()
    return folder


def log_run_summary(
    trainer: L.Trainer, cfg: DictConfig, metrics: Mapping[str, object], run_dir: str | Path
) -> None:
    """Hparams tab: the knobs people compare (``litlab.hparams``) with the run's final metrics
    (as ``final/<name>``, so the training curves keep one point per step); text tab: the whole
    config and the run record."""
    logger = tensorboard_logger(trainer)
    if logger is None:
        return
    final = {f"final/{name}": value for name, value in to_floats(metrics).items()}
    log_hparams_session(logger.log_dir, run_hparams(cfg), final, trainer.global_step)
    logger.experiment.add_text("run/config", as_code(OmegaConf.to_yaml(config_dict(cfg))))
    record = read_run_record(run_dir)
    if record is not None:
        logger.experiment.add_text("run/record", as_code(json.dumps(record, indent=2)))
    logger.experiment.flush()


@contextmanager
def eager_calls(model: nn.Module) -> Iterator[None]:
    """Every network compiled in place (``model.compile=true``) called eagerly for a while:
    ``torch.jit.trace`` refuses to trace through torch.compile, and the graph is the same."""
    compiled = [m for m in model.modules() if getattr(m, "_compiled_call_impl", None) is not None]
    calls = [m._compiled_call_impl for m in compiled]
    for module in compiled:
        module._compiled_call_impl = None
    try:
        yield
    finally:
        for module, call in zip(compiled, calls, strict=True):
            module._compiled_call_impl = call


def graph_key(model: nn.Module, inputs: Any) -> tuple[Any, ...]:
    """What a traced graph depends on: the module's class and structure (its repr names every
    layer and size), and the example input's shapes and types."""
    tensors = inputs if isinstance(inputs, tuple) else (inputs,)
    shapes = tuple((tuple(t.shape), t.dtype) for t in tensors if hasattr(t, "shape"))
    return type(model).__module__, type(model).__qualname__, repr(model), shapes


GRAPHS: dict[tuple[Any, ...], Any] = {}  # graph_key -> TensorBoard's graph, traced once a process


@contextmanager
def graphs_traced_once(writer: SummaryWriter) -> Iterator[None]:
    """``writer.add_graph`` tracing each kind of model once per process: the jobs of a sweep
    have the same network, and a trace cost ~0.3-1 s a job (the graph shows the structure, not
    the weights)."""

    def add_graph(model: nn.Module, input_to_model: Any = None, *args: Any, **kwargs: Any) -> None:
        key = graph_key(model, input_to_model)
        if key not in GRAPHS:
            GRAPHS[key] = traced_graph(model, input_to_model, *args, **kwargs)
        writer._get_file_writer().add_graph(GRAPHS[key])

    writer.add_graph = add_graph  # type: ignore[method-assign]
    try:
        yield
    finally:
        del writer.add_graph


class TensorBoardLogger(loggers.TensorBoardLogger):
    """Lightning's TensorBoard logger, drawing the model graph once per run, and tracing it once
    per process (``graphs_traced_once``).

    Lightning asks for the graph at the start of fit and again of test; the second trace only
    repeats the first. TensorBoard can only draw a graph from ``torch.jit.trace``, which torch
    deprecates (a FutureWarning per trace): we use it knowingly, so its warning is silenced here,
    around our own call, and nowhere else.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graph_logged = False

    def log_graph(self, model: L.LightningModule, input_array: Any = None) -> None:  # type: ignore[override]
        # narrower than the base's Module: Lightning passes its LightningModule
        if self.graph_logged:
            return
        writer = self.experiment
        with warnings.catch_warnings(), eager_calls(model), graphs_traced_once(writer):
            warnings.filterwarnings(
                "ignore", r"`torch\.jit\.trace(_method)?` is deprecated", FutureWarning
            )
            super().log_graph(model, input_array)
        self.graph_logged = True
