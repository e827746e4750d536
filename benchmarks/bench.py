"""Side-by-side speed of litlab, plain PyTorch loops and a peer, on the same machine and data.

    python benchmarks/bench.py results.json --rounds 3 --threads 1   # CPU, as the README's table
    python benchmarks/bench.py results.json --device cuda            # data resident on the GPU

Fashion-MNIST, batch 64, the default MLP (784-512-512-10); seconds per training epoch, timed in
the process from the epoch's first batch to its last (validation excluded):
  (a) notes  -- the notes' loop: torchvision ``ToTensor`` + ``Normalize`` per sample,
                ``DataLoader(shuffle=True)``, SGD lr 1e-3, no metrics;
  (u) user   -- the loop a user writes over preloaded tensors: ``torch.optim.Adam(lr=1e-3)``
                with its defaults, no metrics;
  (b) plain  -- that loop doing litlab's per-step work: litlab's optimizer from its config
                (Adam lr 1e-3, fused) and the loss and accuracy summed on the device every
                step, read once per epoch: the baseline litlab must match;
  (c) litlab -- ``experiment=fashion`` built as ``run()`` builds it (data module, model,
                TensorBoard logger, checkpoints, progress bar, every callback), with its
                default ``steps_per_call`` optimizer steps per ``training_step`` call;
  (c1) litlab, ``steps_per_call=1``: one optimizer step per call, what several steps per call save;
  (p) peer   -- a LightningModule written the way lightning-hydra-template writes its MNIST
                module: torchvision Dataset with per-sample transforms, ``DataLoader(shuffle=
                True)``, torchmetrics objects updated and logged every step with
                ``on_epoch=True``, automatic optimization, Lightning's default callbacks.
The CNN (``experiment=fashion_cnn``, at its batch size, 128), with its own optimizer, loss
(label smoothing) and dropout on both sides:
  (cb) plain -- the plain loop (b) over the same preloaded tensors doing litlab's per-step work;
  (cc) litlab -- ``experiment=fashion_cnn`` built as ``run()`` builds it.
Polynomial: the same number of SGD steps (8 epochs of 1000 steps of 200 points) as a plain loop
(the loss summed on the device, as litlab's ``train/loss``) and as ``experiment=polynomial``
(default ``steps_per_call``, and 1), from the start of training to its end.

Each variant runs in its own process (``--threads`` pins its torch threads), and ``--rounds``
repeats them all in turn, so that a busy spell of a shared machine does not fall on one
variant alone. Prints a markdown table (medians with the range over all epochs of all rounds,
ratios, targets); writes everything as JSON to the given path.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
FASHION = ("notes", "user", "plain", "litlab", "litlab_k1", "peer")
CNN = ("cnn_plain", "cnn_litlab")
POLYNOMIAL = ("poly_plain", "poly_litlab", "poly_litlab_k1")
VARIANTS = FASHION + CNN + POLYNOMIAL
NAMES = {
    "notes": "(a) notes' loop: ToTensor per sample, DataLoader, SGD",
    "user": "(u) user's loop over tensors: default Adam, no metrics",
    "plain": "(b) plain loop doing litlab's step: fused Adam, loss + acc sums",
    "litlab": "(c) litlab experiment=fashion",
    "litlab_k1": "(c1) litlab steps_per_call=1",
    "peer": "(p) peer: lightning-hydra-template's way",
    "cnn_plain": "(cb) plain loop doing litlab's step: the CNN, AdamW, loss + acc sums",
    "cnn_litlab": "(cc) litlab experiment=fashion_cnn",
    "poly_plain": "plain loop (loss summed on the device)",
    "poly_litlab": "litlab experiment=polynomial",
    "poly_litlab_k1": "litlab experiment=polynomial steps_per_call=1",
}
TRAIN_SAMPLES = 55_000  # the 60k training images less the 5k validation split
NORMALIZE = ((0.2860,), (0.3530,))


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def now(device: str) -> float:
    sync(device)
    return time.perf_counter()


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def mlp() -> nn.Module:
    from litlab.models.mlp import MLP

    return MLP()


def compose(overrides: list[str], output_dir: str):
    """The config ``python train.py <overrides>`` would run with."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = hydra_compose(
            "train",
            overrides=[f"paths.output_dir={output_dir}", *overrides],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    return cfg


def batches_per_epoch(args: argparse.Namespace) -> int:
    full = math.ceil(TRAIN_SAMPLES / args.batch_size)
    return full if args.limit_batches is None else min(full, args.limit_batches)


def samples_per_epoch(args: argparse.Namespace) -> int:
    return min(TRAIN_SAMPLES, batches_per_epoch(args) * args.batch_size)


def optimizer_used(optimizer: torch.optim.Optimizer) -> dict:
    """What the variant's optimizer is, for the JSON: like is compared with like."""
    defaults = optimizer.defaults
    return {"type": type(optimizer).__name__, "lr": defaults["lr"], "fused": defaults.get("fused")}


def timed_epochs(args: argparse.Namespace, run_epoch) -> list[float]:
    times = []
    for _ in range(args.epochs):
        start = now(args.device)
        run_epoch()
        times.append(now(args.device) - start)
    return times


# -- plain loops -----------------------------------------------------------------------------


def notes_loop(args: argparse.Namespace) -> dict:
    """(a) Per-sample transforms and a collating DataLoader, as the source notes train."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms
    from torchvision.datasets import FashionMNIST

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(*NORMALIZE)])
    dataset = FashionMNIST(str(args.data_dir), train=True, transform=transform)
    loader = DataLoader(
        Subset(dataset, range(TRAIN_SAMPLES)), batch_size=args.batch_size, shuffle=True
    )
    torch.manual_seed(0)
    model = mlp().to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    steps = []

    def epoch() -> None:
        model.train()
        for i, (x, y) in enumerate(loader):
            if i == batches_per_epoch(args):
                break
            x, y = x.to(args.device), y.to(args.device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps.append(len(y))

    return {"epoch_s": timed_epochs(args, epoch), "samples": samples_per_epoch(args),
            "steps": len(steps), "samples_trained": sum(steps),
            "optimizer": optimizer_used(optimizer)}  # fmt: skip


def preloaded_train_set(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """The 55k training images litlab trains on, normalised, on the device."""
    from litlab.data.fashion import FashionMNISTDataModule

    dm = FashionMNISTDataModule(data_dir=args.data_dir, allow_download=False)
    dm.setup("fit")
    images, labels = dm.train_set.to(args.device).tensors
    return images, labels


def litlab_parts(
    experiment: str, device: str
) -> tuple[nn.Module, torch.optim.Optimizer, nn.Module]:
    """The network, optimizer and loss ``experiment=<experiment>`` configures (fashion: the MLP,
    Adam lr 1e-3, fused; fashion_cnn: the CNN, AdamW, label smoothing)."""
    from hydra.utils import instantiate

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose([f"experiment={experiment}"], output_dir)
    torch.manual_seed(0)
    model = instantiate(cfg.model.net).to(device)
    optimizer = instantiate(cfg.model.optimizer)(params=model.parameters())
    return model, optimizer, nn.CrossEntropyLoss(label_smoothing=cfg.model.label_smoothing)


def experiment_batch_size(experiment: str) -> int:
    with tempfile.TemporaryDirectory() as output_dir:
        return compose([f"experiment={experiment}"], output_dir).data.batch_size


def at_batch_size(args: argparse.Namespace, batch_size: int) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "batch_size": batch_size})


def user_parts(device: str) -> tuple[nn.Module, torch.optim.Optimizer, nn.Module]:
    """(u): the MLP with torch's Adam at its defaults."""
    torch.manual_seed(0)
    model = mlp().to(device)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()


def tensors_loop(args: argparse.Namespace, litlab_work: bool, experiment: str = "fashion") -> dict:
    """(u), (b) and (cb): the network over preloaded tensors, batches by slicing a seeded
    permutation; with ``litlab_work``, the experiment's network, optimizer and loss."""
    images, labels = preloaded_train_set(args)
    if litlab_work:
        model, optimizer, loss_fn = litlab_parts(experiment, args.device)
    else:
        model, optimizer, loss_fn = user_parts(args.device)
    generator = torch.Generator().manual_seed(0)
    steps = []

    def epoch() -> None:
        model.train()
        order = torch.randperm(len(labels), generator=generator).to(args.device)
        sums = torch.zeros(4, device=args.device)  # loss x n, n, correct x n, n
        loss_sum, seen, acc_sum, seen_acc = sums  # views
        for i, index in enumerate(order.split(args.batch_size)):
            if i == batches_per_epoch(args):
                break
            x, y = images[index], labels[index]
            logits = model(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps.append(len(y))
            if litlab_work:  # what litlab's step adds (EpochMean.update, twice)
                loss_sum.add_(loss.detach(), alpha=len(y))
                seen.add_(len(y))
                acc_sum.add_((logits.argmax(-1) == y).float().mean(), alpha=len(y))
                seen_acc.add_(len(y))
        if litlab_work:
            (sums[0] / sums[1]).item(), (sums[2] / sums[3]).item()  # the epoch's means, once

    return {"epoch_s": timed_epochs(args, epoch), "samples": samples_per_epoch(args),
            "steps": len(steps), "samples_trained": sum(steps),
            "optimizer": optimizer_used(optimizer)}  # fmt: skip


# -- Lightning: litlab and the peer ----------------------------------------------------------


def epoch_timer(device: str):
    """A callback timing each training epoch, from its start to validation's (or its end)."""
    import lightning as L

    class EpochTimer(L.Callback):
        def __init__(self) -> None:
            self.epoch_s: list[float] = []
            self.start = self.end = None
            self.fit_s = math.nan
            self.steps = 0
            self.optimizer: dict = {}

        def on_train_start(self, trainer, pl_module) -> None:
            self.fit_start = now(device)

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.start, self.end = now(device), None

        def on_validation_start(self, trainer, pl_module) -> None:
            if self.start is not None and self.end is None:  # not the sanity check
                self.end = now(device)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.epoch_s.append((self.end or now(device)) - self.start)

        def on_train_end(self, trainer, pl_module) -> None:
            self.fit_s = now(device) - self.fit_start
            self.steps = trainer.global_step
            self.optimizer = optimizer_used(trainer.optimizers[0])

    return EpochTimer()


def fit_litlab(overrides: list[str], device: str):
    """Build the objects as ``litlab.run.run`` does, add the timer, and fit."""
    import lightning as L
    from hydra.utils import instantiate

    from litlab.run import build_trainer, instantiate_group

    if device == "cuda":
        overrides = [*overrides, "trainer=gpu"]
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose(overrides, output_dir)
        L.seed_everything(cfg.seed, workers=True)
        datamodule, model = instantiate(cfg.data), instantiate(cfg.model)
        timer = epoch_timer(device)
        trainer = build_trainer(cfg, model, callbacks=[*instantiate_group(cfg, "callbacks"), timer])
        trainer.fit(model, datamodule=datamodule)
    return timer, cfg


def litlab_fashion(
    args: argparse.Namespace, steps_per_call: int | None = None, experiment: str = "fashion"
) -> dict:
    """(c), or (c1) with ``steps_per_call=1``; (cc) with ``experiment=fashion_cnn``."""
    overrides = [
        f"experiment={experiment}",
        f"trainer.max_epochs={args.epochs}",
        f"data.batch_size={args.batch_size}",
        f"paths.data_dir={args.data_dir}",
    ]
    if steps_per_call is not None:
        overrides.append(f"steps_per_call={steps_per_call}")
    if args.limit_batches is not None:  # Lightning counts calls of steps_per_call batches
        with tempfile.TemporaryDirectory() as output_dir:
            per_call = steps_per_call or compose(overrides, output_dir).steps_per_call
        overrides += [
            f"trainer.limit_train_batches={math.ceil(args.limit_batches / per_call)}",
            f"trainer.limit_val_batches={args.limit_batches}",
        ]
    timer, _ = fit_litlab(overrides, args.device)
    return {"epoch_s": timer.epoch_s, "samples": samples_per_epoch(args), "steps": timer.steps,
            "optimizer": timer.optimizer}  # fmt: skip


def peer_module():
    """What lightning-hydra-template's MNIST module does, on litlab's MLP."""
    import lightning as L
    from torchmetrics import MaxMetric, MeanMetric
    from torchmetrics.classification.accuracy import Accuracy

    class PeerModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.save_hyperparameters(logger=False)
            self.net = mlp()
            self.criterion = nn.CrossEntropyLoss()
            self.train_acc = Accuracy(task="multiclass", num_classes=10)
            self.val_acc = Accuracy(task="multiclass", num_classes=10)
            self.train_loss, self.val_loss = MeanMetric(), MeanMetric()
            self.val_acc_best = MaxMetric()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def model_step(self, batch):
            x, y = batch
            logits = self(x)
            return self.criterion(logits, y), logits.argmax(dim=1), y

        def training_step(self, batch, batch_idx):
            loss, preds, targets = self.model_step(batch)
            self.train_loss(loss)
            self.train_acc(preds, targets)
            self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
            return loss

        def validation_step(self, batch, batch_idx):
            loss, preds, targets = self.model_step(batch)
            self.val_loss(loss)
            self.val_acc(preds, targets)
            self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
            self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

        def on_validation_epoch_end(self) -> None:
            self.val_acc_best(self.val_acc.compute())
            self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    return PeerModule()


def peer(args: argparse.Namespace) -> dict:
    """(p) The template's way: Dataset with per-sample transforms, torchmetrics logged per step."""
    import lightning as L
    from torch.utils.data import DataLoader, random_split
    from torchvision import transforms
    from torchvision.datasets import FashionMNIST

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(*NORMALIZE)])
    dataset = FashionMNIST(str(args.data_dir), train=True, transform=transform)
    split = torch.Generator().manual_seed(42)
    train, val = random_split(dataset, [TRAIN_SAMPLES, len(dataset) - TRAIN_SAMPLES], split)
    L.seed_everything(42)
    timer = epoch_timer(args.device)
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(
            accelerator="gpu" if args.device == "cuda" else "cpu",
            devices=1,
            max_epochs=args.epochs,
            default_root_dir=root,
            logger=False,
            callbacks=[timer],
            limit_train_batches=args.limit_batches,
            limit_val_batches=args.limit_batches,
        )
        trainer.fit(
            peer_module(),
            DataLoader(train, batch_size=args.batch_size, shuffle=True),
            DataLoader(val, batch_size=args.batch_size),
        )
    return {"epoch_s": timer.epoch_s, "samples": samples_per_epoch(args), "steps": timer.steps,
            "optimizer": timer.optimizer}  # fmt: skip


# -- polynomial ------------------------------------------------------------------------------


def poly_overrides(args: argparse.Namespace) -> list[str]:
    overrides = ["experiment=polynomial"]
    if args.poly_epochs is not None:
        overrides += [f"trainer.max_epochs={args.poly_epochs}", "data.passes_per_epoch=1"]
    return overrides


def poly_litlab(args: argparse.Namespace, steps_per_call: int | None = None) -> dict:
    overrides = poly_overrides(args)
    if steps_per_call is not None:
        overrides.append(f"steps_per_call={steps_per_call}")
    timer, _ = fit_litlab(overrides, args.device)
    return {"fit_s": timer.fit_s, "steps": timer.steps}


def poly_plain(args: argparse.Namespace) -> dict:
    """The same number of SGD steps on the cubic as a plain loop over tensors."""
    from omegaconf import OmegaConf

    from litlab.data.sine import SineDataset
    from litlab.models.polynomial import Polynomial3

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose(poly_overrides(args), output_dir)
        data = OmegaConf.to_container(cfg.data)
        epochs = cfg.trainer.max_epochs
    dataset = SineDataset(data["num_points"])
    x, y = dataset.x.to(args.device), dataset.y.to(args.device)
    torch.manual_seed(0)
    model = Polynomial3().to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.model.optimizer.lr)
    loss_fn = nn.MSELoss()
    generator = torch.Generator().manual_seed(0)
    steps = 0
    start = now(args.device)
    for _ in range(epochs):
        sums = torch.zeros(2, device=args.device)
        loss_sum, seen = sums
        for _ in range(data["passes_per_epoch"]):
            order = torch.randperm(len(x), generator=generator).to(args.device)
            for index in order.split(data["batch_size"]):
                loss = loss_fn(model(x[index]), y[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum.add_(loss.detach(), alpha=len(index))
                seen.add_(len(index))
                steps += 1
        (sums[0] / sums[1]).item()  # the epoch's train/loss, once
    return {"fit_s": now(args.device) - start, "steps": steps}


RUNNERS = {
    "notes": notes_loop,
    "user": lambda args: tensors_loop(args, litlab_work=False),
    "plain": lambda args: tensors_loop(args, litlab_work=True),
    "litlab": litlab_fashion,
    "litlab_k1": lambda args: litlab_fashion(args, steps_per_call=1),
    "peer": peer,
    "cnn_plain": lambda args: tensors_loop(
        at_batch_size(args, experiment_batch_size("fashion_cnn")), True, "fashion_cnn"
    ),
    "cnn_litlab": lambda args: litlab_fashion(
        at_batch_size(args, experiment_batch_size("fashion_cnn")), experiment="fashion_cnn"
    ),
    "poly_plain": poly_plain,
    "poly_litlab": poly_litlab,
    "poly_litlab_k1": lambda args: poly_litlab(args, steps_per_call=1),
}


def run_variant(args: argparse.Namespace) -> None:
    """Child process: run one variant, write its raw numbers as JSON."""
    from litlab.cuda_check import drop_nvml_check_without_driver

    # as run() does; for the plain loops it is the environment of a process without Lightning
    drop_nvml_check_without_driver()
    result = RUNNERS[args.variant](args)
    result["peak_memory_mb"] = peak_memory_mb(args.device)
    Path(args.output).write_text(json.dumps(result))


# -- the report ------------------------------------------------------------------------------


def combine(rounds: list[dict]) -> dict:
    """One variant's rounds in one entry: the median and range over all epochs of all rounds
    (the polynomial: over the rounds' µs per step), and the largest peak memory."""
    result = {"rounds": rounds, "peak_memory_mb": max(r["peak_memory_mb"] for r in rounds)}
    if "epoch_s" in rounds[0]:
        values = [t for r in rounds for t in r["epoch_s"]]
        result.update(epoch_s=values, samples=rounds[0]["samples"])
        result["samples_per_s"] = result["samples"] / statistics.median(values)
    else:
        values = [1e6 * r["fit_s"] / r["steps"] for r in rounds]
        result.update(us_per_step=values, steps=rounds[0]["steps"])
    result.update(median=statistics.median(values), low=min(values), high=max(values))
    return result


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def epoch_row(key: str, x: dict, *baselines: float) -> str:
    """A table row of an epoch variant: its times, throughput, memory, and x each baseline."""
    ratios = " | ".join(f"{ratio(x['median'], base):.2f}x" for base in baselines)
    return (
        f"| {NAMES[key]} | {x['median']:.3f} | {x['low']:.3f}-{x['high']:.3f} "
        f"| {x['samples_per_s']:.0f} | {x['peak_memory_mb']:.0f} | {ratios} |"
    )


def targets(results: dict, device: str) -> list[dict]:
    """Each target: what is compared, the measured ratio of medians, the limit, met or not."""
    r = {name: results["variants"].get(name, {}).get("median", math.nan) for name in VARIANTS}
    rows = [
        ("litlab epoch / (b) plain loop's", ratio(r["litlab"], r["plain"]), "<=", 1.0),
        ("litlab epoch / (u) user's loop's", ratio(r["litlab"], r["user"]), "<", 1.0),
        ("(p) peer epoch / litlab's", ratio(r["peer"], r["litlab"]), ">=", 5.0),
        ("CNN: (cc) litlab epoch / (cb) plain loop's",
         ratio(r["cnn_litlab"], r["cnn_plain"]), "<=", 1.05),
        ("polynomial: litlab µs per step / plain's",
         ratio(r["poly_litlab"], r["poly_plain"]), "<=", 1.3),
    ]  # fmt: skip
    if device == "cpu":
        rows[0] = (rows[0][0], rows[0][1], "<=", 1.05)
    checks = {"<=": float.__le__, "<": float.__lt__, ">=": float.__ge__}
    return [
        {"target": name, "measured": value, "limit": f"{op} {limit:g}",
         "met": bool(checks[op](float(value), float(limit)))}
        for name, value, op, limit in rows
        if not math.isnan(value)  # a variant it needs was not run
    ]  # fmt: skip


def table(results: dict) -> str:
    v = results["variants"]
    rows = [
        "| Fashion-MNIST, batch 64 | s/epoch (median) | range | samples/s | peak MiB "
        "| vs (b) | vs (u) |",
        "|---|---|---|---|---|---|---|",
    ]
    plain_s, user_s = (v.get(key, {}).get("median", math.nan) for key in ("plain", "user"))
    rows += [epoch_row(key, v[key], plain_s, user_s) for key in FASHION if key in v]
    cnn_plain_s = v.get("cnn_plain", {}).get("median", math.nan)
    if any(key in v for key in CNN):
        rows += [
            "",
            "| Fashion-MNIST CNN, batch 128 | s/epoch (median) | range | samples/s | peak MiB "
            "| vs (cb) |",
            "|---|---|---|---|---|---|",
        ]
    rows += [epoch_row(key, v[key], cnn_plain_s) for key in CNN if key in v]
    rows += [
        "",
        "| polynomial | steps | µs/step (median) | range | vs plain |",
        "|---|---|---|---|---|",
    ]
    plain_us = v.get("poly_plain", {}).get("median", math.nan)
    for key in (name for name in POLYNOMIAL if name in v):
        x = v[key]
        rows.append(
            f"| {NAMES[key]} | {x['steps']} | {x['median']:.0f} | {x['low']:.0f}-{x['high']:.0f} "
            f"| {ratio(x['median'], plain_us):.2f}x |"
        )
    rows += ["", "| target | measured | limit | met |", "|---|---|---|---|"]
    for t in results["targets"]:
        rows.append(f"| {t['target']} | {t['measured']:.2f} | {t['limit']} | {t['met']} |")
    return "\n".join(rows)


def machine(device: str) -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def child_args(args: argparse.Namespace, variant: str, output: Path) -> list[str]:
    argv = [sys.executable, __file__, str(output), "--variant", variant]
    argv += ["--device", args.device, "--epochs", str(args.epochs)]
    argv += ["--batch-size", str(args.batch_size), "--data-dir", str(args.data_dir)]
    for flag, value in (
        ("--limit-batches", args.limit_batches),
        ("--poly-epochs", args.poly_epochs),
        ("--threads", args.threads),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="where to write the results as JSON")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--epochs", type=int, default=2, help="Fashion-MNIST epochs per variant")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", type=Path, default=REPO / "data")
    parser.add_argument(
        "--limit-batches", type=int, default=None, help="batches per epoch (quick checks)"
    )
    parser.add_argument(
        "--poly-epochs",
        type=int,
        default=None,
        help="polynomial epochs of one pass each (default: the experiment's own length)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads per variant (default: torch's)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat every variant, in turn")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(VARIANTS),
        help="run only these (the table and targets then cover only what was run)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the variants in this process (quick checks; peak memory is then cumulative)",
    )
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA GPU, and none is available here")
    return args


def report(results: dict, rounds: dict[str, list[dict]], args: argparse.Namespace) -> None:
    """The table and JSON of the variants measured so far (``complete`` once all rounds ran)."""
    done = {variant: runs for variant, runs in rounds.items() if runs}
    results["machine"]["load_average_after"] = os.getloadavg()
    results["complete"] = all(len(runs) == args.rounds for runs in rounds.values())
    results["variants"] = {variant: combine(runs) for variant, runs in done.items()}
    results["targets"] = targets(results, args.device)
    results["table"] = table(results)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.variant:
        run_variant(args)
        return 0

    from litlab.data.fashion_files import ensure_fashion_mnist

    ensure_fashion_mnist(args.data_dir)
    results: dict = {"device": args.device, "machine": machine(args.device)}
    results["settings"] = {
        key: getattr(args, key)
        for key in ("epochs", "batch_size", "limit_batches", "poly_epochs", "rounds", "in_process")
    } | {"threads": torch.get_num_threads()}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path])}
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    rounds: dict[str, list[dict]] = {variant: [] for variant in args.variants}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(1, args.rounds + 1):
            for variant in args.variants:
                print(f"round {round_number}/{args.rounds}: {variant} ...", file=sys.stderr)
                out = Path(tmp) / f"{variant}.json"
                if args.in_process:
                    run_variant(
                        argparse.Namespace(**{**vars(args), "variant": variant, "output": out})
                    )
                else:
                    command = child_args(args, variant, out)
                    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
                rounds[variant].append(json.loads(out.read_text()))
                report(results, rounds, args)  # so far: a time limit never loses what ran
    print(results["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
