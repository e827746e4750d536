"""What a sweep job costs besides its steps: litlab against a bare Lightning job and a plain loop.

    OMP_NUM_THREADS=1 python benchmarks/job_overhead.py benchmarks/results/job-overhead-cpu.json

One process, as an in-process sweep (Hydra's basic launcher, an Optuna search) runs its jobs.
Each round runs one job of each kind, interleaved: litlab (the config composed, then
``run_recorded(cfg, run)``, what a sweep's job runs), a bare Lightning job and a plain PyTorch loop
doing the same work -- the same optimizer steps on the same network, the same validation and
test passes at the same batch sizes, a checkpoint and a scalar log written -- for both
experiments. The first round warms up (imports, the data read once per process) and is not
counted: the jobs measured are a sweep's second and later ones.

litlab's jobs are also timed by component (exclusive time: a component's time excludes that of
the components it calls), so the rows add up to the job.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import nn
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench import compose  # noqa: E402 - the config train.py would run with

from litlab.data import fashion_cache  # noqa: E402
from litlab.data.fashion_files import ensure_fashion_mnist  # noqa: E402
from litlab.data.tensor_batches import batch_loader  # noqa: E402

EXPERIMENTS = {  # name -> the overrides of one short sweep job
    "fashion": ["experiment=fashion", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                "trainer.limit_val_batches=2"],  # fmt: skip
    "polynomial": ["experiment=polynomial", "data.passes_per_epoch=5", "trainer.max_epochs=2"],
}  # fmt: skip
LRS = (1e-3, 2e-3, 5e-4)  # what the sweep varies from job to job
MEAN, STD = 0.2860, 0.3530  # FashionMNISTDataModule's defaults


# ---- litlab's time by component -------------------------------------------------------------


class Stopwatch:
    """Exclusive time per component: entering one pauses the one it was called from."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.stack: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        if self.stack:
            outer, began = self.stack[-1]
            self.totals[outer] += now - began
        self.stack.append((name, now))
        try:
            yield
        finally:
            end = time.perf_counter()
            inner, began = self.stack.pop()
            self.totals[inner] += end - began
            if self.stack:
                self.stack[-1] = (self.stack[-1][0], end)

    def wrap(self, owner: Any, attribute: str, name: str | Callable[[Any], str]) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            label = name(args[0]) if callable(name) else name
            with self.part(label):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)


def evaluation_name(loop: Any) -> str:
    return "test pass" if loop.trainer.testing else "validation passes"


def instrument(watch: Stopwatch) -> None:
    """Wrap the functions each component runs in (for the rest of the process)."""
    import lightning.pytorch.callbacks.model_summary as summary
    import lightning.pytorch.loggers as loggers
    from lightning.pytorch.loops.evaluation_loop import _EvaluationLoop
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop
    from lightning.pytorch.trainer.connectors.checkpoint_connector import _CheckpointConnector

    import litlab.run
    from litlab.callbacks import figures, polynomial
    from litlab.data import fashion, sine

    parts = [
        (litlab.run, "build_trainer", "trainer build"),
        (litlab.run, "build", lambda cfg: "instantiate data, model, callbacks, loggers"),
        (fashion.FashionMNISTDataModule, "setup", "data set-up"),
        (fashion.FashionMNISTDataModule, "prepare_data", "data set-up"),
        (sine.SineDataModule, "setup", "data set-up"),
        (_TrainingEpochLoop, "run", "training steps"),
        (_EvaluationLoop, "run", evaluation_name),
        (figures.TestPredictionFigures, "on_test_batch_end", "figures"),
        (figures.TestPredictionFigures, "on_test_epoch_end", "figures"),
        (polynomial.LeastSquaresReference, "draw", "figures"),
        (L.Trainer, "save_checkpoint", "checkpoints"),
        (_CheckpointConnector, "resume_start", "checkpoints"),
        (_CheckpointConnector, "restore_model", "checkpoints"),
        (summary.ModelSummary, "on_fit_start", "model summary"),
        (litlab.run, "log_run_summary", "loggers"),
        (litlab.run, "write_metrics", "loggers"),
        (litlab.run, "print_config", "console"),
        (litlab.run, "print_summary", "console"),
    ]
    for cls in (loggers.TensorBoardLogger, loggers.CSVLogger):
        for method in ("log_metrics", "log_hyperparams", "log_graph", "finalize", "save"):
            parts.append((cls, method, "loggers"))
    for owner, attribute, name in parts:
        watch.wrap(owner, attribute, name)


def litlab_job(experiment: str, lr: float, folder: Path, watch: Stopwatch) -> float:
    from litlab.run import run
    from litlab.run_folder.sweep_job import run_recorded

    began = time.perf_counter()
    with watch.part("other (Lightning's fit/test set-up, callbacks)"):
        with watch.part("compose config"):
            cfg = compose([*EXPERIMENTS[experiment], f"model.optimizer.lr={lr}"], str(folder))
        run_recorded(cfg, run)
    seconds = time.perf_counter() - began
    if not (folder / "metrics.json").is_file():
        sys.exit(f"litlab job failed: {folder}")
    return seconds


# ---- the same work, bare ------------------------------------------------------------------------


class BareClassifier(L.LightningModule):
    """The MLP as a LightningModule from Lightning's docs: automatic optimization, epoch logs."""

    def __init__(self, net: nn.Module, lr: float) -> None:
        super().__init__()
        self.net, self.lr = net, lr

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        if stage != "train":
            acc = (logits.argmax(-1) == y).float().mean()
            self.log(f"{stage}/acc", acc, on_epoch=True, batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        self._step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr, fused=True)


class BareRegression(L.LightningModule):
    def __init__(self, net: nn.Module, lr: float) -> None:
        super().__init__()
        self.net, self.lr = net, lr

    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def test_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        x, y = batch
        self.log("test/loss", F.mse_loss(self.net(x), y), batch_size=len(y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class Work:
    """One experiment's job as numbers: steps, batches, and the data (loaded once)."""

    def __init__(self, experiment: str, steps: int, cfg: Any) -> None:
        self.experiment, self.steps, self.cfg = experiment, steps, cfg
        self.seed = int(cfg.seed)
        if experiment == "fashion":
            d = cfg.data
            raw = ensure_fashion_mnist(d.data_dir, d.system_dir, allow_download=False)
            mean, std = d.get("mean", MEAN), d.get("std", STD)
            train, val = fashion_cache._train_val(
                *fashion_cache.split_files(raw, True), mean, std, self.seed, d.val_size
            )  # the tensors litlab's jobs map: loaded once per process
            self.train, self.val = train.copy(), val.copy()
            test = fashion_cache._test(*fashion_cache.split_files(raw, False), mean, std)
            self.test = test.copy()
            self.batch, self.eval_batch = d.batch_size, d.eval_batch_size or d.batch_size
            self.val_batches, self.passes = cfg.trainer.limit_val_batches, 1
        else:
            from litlab.data.sine import SineDataset

            self.train = self.test = SineDataset(cfg.data.num_points)
            self.val = None
            self.batch, self.eval_batch = cfg.data.batch_size, len(self.train)
            self.val_batches, self.passes = 0, cfg.data.passes_per_epoch

    def loaders(self) -> tuple[Any, Any, Any]:
        generator = torch.Generator().manual_seed(self.seed)
        train = batch_loader(self.train, self.batch, True, generator, self.passes)
        val = batch_loader(self.val, self.eval_batch) if self.val is not None else None
        return train, val, batch_loader(self.test, self.eval_batch)

    def net(self) -> nn.Module:
        torch.manual_seed(self.seed)
        return instantiate(self.cfg.model.net)


def lightning_job(work: Work, lr: float, folder: Path) -> float:
    from lightning.pytorch.loggers import TensorBoardLogger

    began = time.perf_counter()
    train, val, test = work.loaders()
    bare = BareClassifier if work.experiment == "fashion" else BareRegression
    module = bare(work.net(), lr)
    trainer = L.Trainer(
        default_root_dir=folder, max_steps=work.steps, limit_val_batches=work.val_batches,
        accelerator="cpu", devices=1, enable_progress_bar=False,
        logger=TensorBoardLogger(folder), max_epochs=-1,
    )  # fmt: skip
    trainer.fit(module, train, val)
    trainer.test(module, test, verbose=False)
    return time.perf_counter() - began


def plain_job(work: Work, lr: float, folder: Path) -> float:
    began = time.perf_counter()
    train, val, test = work.loaders()
    net = work.net()
    fashion = work.experiment == "fashion"
    loss_fn = F.cross_entropy if fashion else F.mse_loss
    optimizer = (torch.optim.Adam(net.parameters(), lr=lr, fused=True) if fashion
                 else torch.optim.SGD(net.parameters(), lr=lr))  # fmt: skip
    steps = 0
    while steps < work.steps:
        for x, y in train:
            loss = loss_fn(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if steps == work.steps:
                break
    scalars = {"train/loss": float(loss)}
    with torch.no_grad():
        for stage, loader, limit in (("val", val, work.val_batches), ("test", test, None)):
            if loader is None:
                continue
            total = correct = seen = 0.0
            for i, (x, y) in enumerate(loader):
                if limit is not None and i >= limit:
                    break
                out = net(x)
                total += float(loss_fn(out, y)) * len(y)
                correct += float((out.argmax(-1) == y).sum()) if fashion else 0.0
                seen += len(y)
            scalars[f"{stage}/loss"] = total / seen
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict()}, folder / "c.pt")
    (folder / "scalars.json").write_text(json.dumps(scalars))
    return time.perf_counter() - began


# ---- a single run, end to end -------------------------------------------------------------------

TIMER = "+callbacks.training_time._target_=litlab.callbacks.TrainingTime"  # logs time/train_s
SINGLE = ["experiment=polynomial", TIMER]


def single_runs(rounds: int, root: Path) -> dict[str, Any]:
    """``python train.py experiment=polynomial`` end to end against its floor: the imports
    (``python -c "import lightning, hydra"``) plus its training time, measured in the run
    (``time/train_s``, TrainingTime: fit's epochs, validation and epoch-end callbacks included)."""
    env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    imports, whole, trained = [], [], []
    for r in range(rounds):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import lightning, hydra"], check=True, env=env)
        imports.append(time.perf_counter() - began)
        folder = root / f"single-{r}"
        began = time.perf_counter()
        subprocess.run([sys.executable, "train.py", *SINGLE, f"paths.output_dir={folder}"],
                       cwd=REPO, env=env, check=True, capture_output=True)  # fmt: skip
        whole.append(time.perf_counter() - began)
        trained.append(json.loads((folder / "metrics.json").read_text())["time/train_s"])
        shutil.rmtree(folder)
        print(f"single run {r}: {whole[-1]:.2f} s; import {imports[-1]:.2f} s + train "
              f"{trained[-1]:.2f} s", file=sys.stderr)  # fmt: skip
    paired = [w / (i + t) for w, i, t in zip(whole, imports, trained, strict=True)]
    return {"command": " ".join(["python train.py", *SINGLE]),
            "end_to_end_s": spread(whole), "import_lightning_hydra_s": spread(imports),
            "train_s": spread(trained), "ratio": spread(paired)}  # fmt: skip


# ---- the run ------------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}  # fmt: skip


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "lightning": L.__version__, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()}  # fmt: skip


def measure(rounds: int, root: Path) -> dict[str, Any]:
    watch = Stopwatch()
    instrument(watch)
    times: dict[str, dict[str, list[float]]] = {e: defaultdict(list) for e in EXPERIMENTS}
    parts: dict[str, list[dict[str, float]]] = {e: [] for e in EXPERIMENTS}
    works: dict[str, Work] = {}
    for r in range(rounds + 1):  # round 0 warms up
        lr = LRS[r % len(LRS)]
        for experiment in EXPERIMENTS:
            folder = root / f"{experiment}-{r}"
            watch.totals.clear()
            with contextlib.redirect_stdout(io.StringIO()):
                seconds = litlab_job(experiment, lr, folder / "litlab", watch)
                if experiment not in works:
                    steps = torch.load(folder / "litlab/checkpoints/last.ckpt",
                                       weights_only=False)["global_step"]  # fmt: skip
                    works[experiment] = Work(experiment, steps, compose(
                        EXPERIMENTS[experiment], str(root / "cfg")))  # fmt: skip
                lightning = lightning_job(works[experiment], lr, folder / "lightning")
                plain = plain_job(works[experiment], lr, folder / "plain")
            if r == 0:
                continue
            for name, value in (("litlab", seconds), ("lightning", lightning), ("plain", plain)):
                times[experiment][name].append(value)
            parts[experiment].append(dict(watch.totals))
            shutil.rmtree(folder)
            print(f"round {r} {experiment}: litlab {seconds:.3f} s, Lightning {lightning:.3f} s, "
                  f"plain {plain:.3f} s", file=sys.stderr)  # fmt: skip
    results = {}
    for experiment, by_kind in times.items():
        names = sorted({name for row in parts[experiment] for name in row})
        breakdown = {n: statistics.median(row.get(n, 0.0) for row in parts[experiment])
                     for n in names}  # fmt: skip
        paired = [a / b for a, b in zip(by_kind["litlab"], by_kind["lightning"], strict=True)]
        to_plain = [a / b for a, b in zip(by_kind["litlab"], by_kind["plain"], strict=True)]
        results[experiment] = {
            "overrides": EXPERIMENTS[experiment], "optimizer_steps": works[experiment].steps,
            "eval_batch_size": works[experiment].eval_batch,
            "seconds": {k: spread(v) for k, v in by_kind.items()},
            "litlab_over_lightning": spread(paired), "litlab_over_plain": spread(to_plain),
            "litlab_breakdown_median_s": breakdown,
        }  # fmt: skip
    return results


def table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    jobs = Table(title="a sweep job (2nd and later), seconds: median [min-max]")
    for column in ("experiment", "litlab", "bare Lightning", "plain loop", "litlab / Lightning",
                   "litlab / plain"):  # fmt: skip
        jobs.add_column(column, justify="right")
    for experiment, row in results.items():
        s = row["seconds"]

        def cell(x: dict[str, float], unit: str = "") -> str:
            return f"{x['median']:.3f}{unit} [{x['min']:.3f}-{x['max']:.3f}]"

        jobs.add_row(
            experiment,
            cell(s["litlab"]),
            cell(s["lightning"]),
            cell(s["plain"]),
            cell(row["litlab_over_lightning"], "x"),
            cell(row["litlab_over_plain"], "x"),
        )
    console = Console()
    console.print(jobs)
    parts = Table(title="litlab's job by component, median seconds (exclusive time)")
    parts.add_column("component")
    for experiment in results:
        parts.add_column(experiment, justify="right")
    names = sorted({n for row in results.values() for n in row["litlab_breakdown_median_s"]})
    for name in names:
        parts.add_row(name, *(f"{row['litlab_breakdown_median_s'].get(name, 0.0):.3f}"
                              for row in results.values()))  # fmt: skip
    console.print(parts)


def single_table(single: dict[str, Any]) -> None:
    from rich.console import Console

    def cell(x: dict[str, float]) -> str:
        return f"{x['median']:.2f} [{x['min']:.2f}-{x['max']:.2f}]"

    Console().print(
        f"{single['command']}: end to end {cell(single['end_to_end_s'])} s; import "
        f"{cell(single['import_lightning_hydra_s'])} s + training {cell(single['train_s'])} s; "
        f"ratio {cell(single['ratio'])}x (median [min-max])"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where the JSON goes")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (after 1 warm-up)")
    parser.add_argument("--single-runs", type=int, default=3,
                        help="runs of python train.py experiment=polynomial")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    began = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args.rounds, Path(tmp))
        single = single_runs(args.single_runs, Path(tmp)) if args.single_runs else None
    table(results)
    if single:
        single_table(single)
    record = {"date": began.isoformat(timespec="seconds"), "machine": machine(),
              "command": " ".join(["python", *sys.argv]), "rounds": args.rounds,
              "results": results, "single_run": single}  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
