"""Side-by-side speed of litlab against plain PyTorch loops, on the same machine and data.

    python benchmarks/bench.py results.json                 # CPU, 2 epochs of Fashion-MNIST
    python benchmarks/bench.py results.json --device cuda   # data resident on the GPU

Fashion-MNIST, batch 64, the default MLP (784-512-512-10):
  (a) notes   -- the source notes' loop: torchvision ``ToTensor`` + ``Normalize`` per sample,
                 ``DataLoader(batch_size=64, shuffle=True)``, SGD lr 1e-3, plain PyTorch;
  (b) tensors -- a plain PyTorch loop over preloaded, normalised tensors, batches by slicing a
                 seeded permutation; its optimizer is built from litlab's config (Adam lr 1e-3,
                 fused), so that (b) against (c) measures the framework and nothing else;
  (c) litlab  -- ``experiment=fashion`` built from the Hydra config as ``run()`` builds it
                 (data module, model, TensorBoard logger, checkpointing, progress bar), timed
                 by a callback from each training epoch's start to its end (validation excluded);
  (l) Lightning floor -- the same data module and model under ``Trainer(barebones=True)``:
                 Lightning's own per-step cost with every optional feature off, so the table
                 shows how much of (c)'s gap to (b) is Lightning's loop and how much is litlab's.
Polynomial: a plain loop against ``experiment=polynomial`` for the same number of SGD steps
(litlab timed from the start of training to its end: epoch-end callbacks and checkpoints count),
and the same Lightning floor.

Each variant runs in its own process, so peak memory (max RSS, or CUDA max allocated) is its
own. Prints a markdown table with the ratios; writes everything as JSON to the given path.
"""

from __future__ import annotations

import argparse
import functools
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
VARIANTS = ("notes", "tensors", "litlab", "floor", "poly_plain", "poly_litlab", "poly_floor")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def mlp() -> nn.Module:
    from litlab.models.mlp import MLP

    return MLP()


def epochs_of(args: argparse.Namespace, run_epoch) -> list[float]:
    times = []
    for _ in range(args.epochs):
        sync(args.device)
        start = time.perf_counter()
        run_epoch()
        sync(args.device)
        times.append(time.perf_counter() - start)
    return times


def notes_loop(args: argparse.Namespace) -> dict:
    """(a) Per-sample transforms and a collating DataLoader, as the source notes train."""
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import FashionMNIST

    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))]
    )
    dataset = FashionMNIST(str(args.data_dir), train=True, transform=transform)
    dataset = torch.utils.data.Subset(dataset, range(55_000))  # as many samples as (b), (c)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    torch.manual_seed(0)
    model = mlp().to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> None:
        model.train()
        for i, (x, y) in enumerate(loader):
            if i == args.limit_batches:
                break
            x, y = x.to(args.device), y.to(args.device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return {"epoch_s": epochs_of(args, epoch), "samples": samples_per_epoch(args, 55_000)}


def preloaded_train_set(args: argparse.Namespace):
    from litlab.data.fashion import FashionMNISTDataModule

    dm = FashionMNISTDataModule(data_dir=args.data_dir, allow_download=False)
    dm.setup("fit")
    return dm.train_set.to(args.device)


def litlab_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer ``experiment=fashion`` configures (Adam lr 1e-3, fused), for a fair (b)."""
    from hydra.utils import instantiate

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose(["experiment=fashion"], output_dir)
    return instantiate(cfg.model.optimizer)(params=model.parameters())


def tensors_loop(args: argparse.Namespace) -> dict:
    """(b) The same MLP over preloaded tensors: the plain-PyTorch floor for this data path."""
    data = preloaded_train_set(args)
    images, labels = data.tensors
    torch.manual_seed(0)
    model = mlp().to(args.device)
    optimizer = litlab_optimizer(model)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)

    def epoch() -> None:
        model.train()
        order = torch.randperm(len(labels), generator=generator).to(args.device)
        total = torch.zeros((), device=args.device)
        for i, index in enumerate(order.split(args.batch_size)):
            if i == args.limit_batches:
                break
            loss = loss_fn(model(images[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach()
        total.item()  # one sync per epoch, as a loop that reports its mean loss has

    return {"epoch_s": epochs_of(args, epoch), "samples": samples_per_epoch(args, len(labels))}


def samples_per_epoch(args: argparse.Namespace, size: int) -> int:
    if args.limit_batches is None:
        return size
    return min(size, args.limit_batches * args.batch_size)


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


def fit_litlab(overrides: list[str], device: str, barebones: bool = False):
    """Build the objects as ``litlab.train.run`` does, add a timer, and fit.

    ``barebones``: the same data module and model, but a bare ``Trainer(barebones=True)``
    (Lightning's own floor: no logger, checkpoints, progress bar, summary or litlab callbacks).
    """
    import lightning as L
    from hydra.utils import instantiate

    from litlab.train import instantiate_group

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.epoch_start = self.epoch_end = None
            self.epoch_s: list[float] = []
            self.fit_s = float("nan")
            self.steps = 0

        def _now(self) -> float:
            sync(device)
            return time.perf_counter()

        def on_train_start(self, trainer, pl_module) -> None:
            self.fit_start = self._now()

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.epoch_start, self.epoch_end = self._now(), None

        def on_validation_start(self, trainer, pl_module) -> None:  # training part ends here
            # (trainer.training is already False here; the sanity check's value is reset at
            # the next on_train_epoch_start)
            if self.epoch_end is None:
                self.epoch_end = self._now()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            end = self.epoch_end if self.epoch_end is not None else self._now()
            self.epoch_s.append(end - self.epoch_start)

        def on_train_end(self, trainer, pl_module) -> None:
            self.fit_s = self._now() - self.fit_start
            self.steps = trainer.global_step

    if device == "cuda":
        overrides = [*overrides, "trainer=gpu"]
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose(overrides, output_dir)
        L.seed_everything(cfg.seed, workers=True)
        datamodule = instantiate(cfg.data)
        model = instantiate(cfg.model)
        timer = Timer()
        if barebones:
            trainer = L.Trainer(
                barebones=True,
                callbacks=[timer],
                accelerator=cfg.trainer.accelerator,
                devices=1,
                max_epochs=cfg.trainer.max_epochs,
                limit_train_batches=cfg.trainer.get("limit_train_batches"),
                limit_val_batches=cfg.trainer.get("limit_val_batches"),
                num_sanity_val_steps=0,
            )
        else:
            trainer = instantiate(
                cfg.trainer,
                callbacks=[*instantiate_group(cfg.get("callbacks")), timer],
                logger=instantiate_group(cfg.get("logger")) or False,
            )
        trainer.fit(model, datamodule=datamodule)
    return timer, cfg


def litlab_fashion(args: argparse.Namespace, barebones: bool = False) -> dict:
    """(c) ``python train.py experiment=fashion`` up to the end of training; (l) with
    ``barebones``."""
    overrides = [
        "experiment=fashion",
        f"trainer.max_epochs={args.epochs}",
        f"data.batch_size={args.batch_size}",
        f"paths.data_dir={args.data_dir}",
    ]
    if args.limit_batches is not None:
        overrides += [
            f"trainer.limit_train_batches={args.limit_batches}",
            f"trainer.limit_val_batches={args.limit_batches}",
        ]
    timer, _ = fit_litlab(overrides, args.device, barebones)
    return {"epoch_s": timer.epoch_s, "samples": samples_per_epoch(args, 55_000)}


def poly_overrides(args: argparse.Namespace) -> list[str]:
    overrides = ["experiment=polynomial"]
    if args.poly_epochs is not None:
        overrides += [f"trainer.max_epochs={args.poly_epochs}", "data.passes_per_epoch=1"]
    return overrides


def poly_litlab(args: argparse.Namespace, barebones: bool = False) -> dict:
    timer, _ = fit_litlab(poly_overrides(args), args.device, barebones)
    return {"fit_s": timer.fit_s, "steps": timer.steps}


def poly_plain(args: argparse.Namespace) -> dict:
    """The same number of SGD steps on the cubic, as a plain loop over tensors."""
    from omegaconf import OmegaConf

    from litlab.data.sine import SineDataset
    from litlab.models.polynomial import Polynomial3

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose(poly_overrides(args), output_dir)
        data = OmegaConf.to_container(cfg.data)
        epochs = cfg.trainer.max_epochs
    dataset = SineDataset(data["num_points"])
    x, y = dataset.x.to(args.device), dataset.y.to(args.device)
    passes = epochs * data["passes_per_epoch"]
    torch.manual_seed(0)
    model = Polynomial3().to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.model.optimizer.lr)
    loss_fn = nn.MSELoss()
    generator = torch.Generator().manual_seed(0)
    steps = 0
    sync(args.device)
    start = time.perf_counter()
    for _ in range(passes):
        order = torch.randperm(len(x), generator=generator).to(args.device)
        for index in order.split(data["batch_size"]):
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
    sync(args.device)
    return {"fit_s": time.perf_counter() - start, "steps": steps}


RUNNERS = {
    "notes": notes_loop,
    "tensors": tensors_loop,
    "litlab": litlab_fashion,
    "floor": functools.partial(litlab_fashion, barebones=True),
    "poly_plain": poly_plain,
    "poly_litlab": poly_litlab,
    "poly_floor": functools.partial(poly_litlab, barebones=True),
}


def run_variant(args: argparse.Namespace) -> None:
    """Child process: run one variant, write its raw numbers as JSON."""
    from litlab.cuda_check import drop_nvml_check_without_driver

    # as run() does; for the plain loops it is the environment of a process without Lightning
    drop_nvml_check_without_driver()
    result = RUNNERS[args.variant](args)
    result["peak_memory_mb"] = peak_memory_mb(args.device)
    Path(args.output).write_text(json.dumps(result))


def combine(rounds: list[dict]) -> dict:
    """One variant's rounds in one entry: the median over every epoch (or every round's
    µs/step) of all rounds, and the largest peak memory."""
    result = {"rounds": rounds, "peak_memory_mb": max(r["peak_memory_mb"] for r in rounds)}
    if "epoch_s" in rounds[0]:
        result["epoch_s"] = [t for r in rounds for t in r["epoch_s"]]
        result["samples"] = rounds[0]["samples"]
        result["median_epoch_s"] = statistics.median(result["epoch_s"])
        result["best_epoch_s"] = min(result["epoch_s"])  # the least disturbed by other load
        result["samples_per_s"] = result["samples"] / result["median_epoch_s"]
    else:
        result["steps"] = rounds[0]["steps"]
        result["us_per_step"] = statistics.median(1e6 * r["fit_s"] / r["steps"] for r in rounds)
        result["fit_s"] = result["us_per_step"] * result["steps"] / 1e6
    return result


def child_args(args: argparse.Namespace, variant: str, output: Path) -> list[str]:
    argv = [sys.executable, __file__, str(output), "--variant", variant]
    argv += ["--device", args.device, "--epochs", str(args.epochs)]
    argv += ["--batch-size", str(args.batch_size), "--data-dir", str(args.data_dir)]
    if args.limit_batches is not None:
        argv += ["--limit-batches", str(args.limit_batches)]
    if args.poly_epochs is not None:
        argv += ["--poly-epochs", str(args.poly_epochs)]
    if args.threads is not None:
        argv += ["--threads", str(args.threads)]
    return argv


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def table(results: dict) -> str:
    r = results["variants"]
    rows = [
        "| variant | median s/epoch | best s/epoch | samples/s | peak memory (MiB) "
        "| vs (b) tensors loop |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "notes": "(a) notes loop: ToTensor per sample, DataLoader",
        "tensors": "(b) plain loop over preloaded tensors",
        "litlab": "(c) litlab experiment=fashion",
        "floor": "(l) Lightning floor: Trainer(barebones=True)",
    }
    for key, name in names.items():
        v = r[key]
        vs_tensors = ratio(v["median_epoch_s"], r["tensors"]["median_epoch_s"])
        rows.append(
            f"| {name} | {v['median_epoch_s']:.3f} | {v['best_epoch_s']:.3f} | "
            f"{v['samples_per_s']:.0f} | "
            f"{v['peak_memory_mb']:.0f} | {vs_tensors:.2f}x |"
        )
    rows += [
        "",
        "| polynomial | steps | total s | µs/step | peak memory (MiB) | vs plain loop |",
        "|---|---|---|---|---|---|",
    ]
    poly_names = (
        ("poly_plain", "plain loop"),
        ("poly_litlab", "litlab experiment=polynomial"),
        ("poly_floor", "Lightning floor: Trainer(barebones=True)"),
    )
    plain_us = r["poly_plain"]["us_per_step"]
    for key, name in poly_names:
        v = r[key]
        rows.append(
            f"| {name} | {v['steps']} | {v['fit_s']:.3f} | {v['us_per_step']:.0f} | "
            f"{v['peak_memory_mb']:.0f} | {ratio(v['us_per_step'], plain_us):.2f}x |"
        )
    t = results["targets"]
    rows += [
        "",
        "| target | litlab | met | Lightning floor (l) |",
        "|---|---|---|---|",
        f"| litlab epoch <= {t['litlab_vs_tensors_max']:.2f}x loop (b) | "
        f"{t['litlab_vs_tensors']:.2f}x | {t['litlab_vs_tensors_met']} | "
        f"{t['floor_vs_tensors']:.2f}x |",
        f"| litlab >= 2.5x faster than loop (a) | {t['notes_vs_litlab']:.2f}x | "
        f"{t['notes_vs_litlab_met']} | {t['notes_vs_floor']:.2f}x |",
        f"| polynomial <= 2x plain loop | {t['poly_litlab_vs_plain']:.2f}x | "
        f"{t['poly_litlab_vs_plain_met']} | {t['poly_floor_vs_plain']:.2f}x |",
    ]
    return "\n".join(rows)


def targets(results: dict, device: str) -> dict:
    r = results["variants"]
    limit = 1.25 if device == "cuda" else 1.10
    litlab_vs_tensors = ratio(r["litlab"]["median_epoch_s"], r["tensors"]["median_epoch_s"])
    notes_vs_litlab = ratio(r["notes"]["median_epoch_s"], r["litlab"]["median_epoch_s"])
    poly = ratio(r["poly_litlab"]["us_per_step"], r["poly_plain"]["us_per_step"])
    floor_s = r["floor"]["median_epoch_s"]
    return {
        "floor_vs_tensors": ratio(floor_s, r["tensors"]["median_epoch_s"]),
        "notes_vs_floor": ratio(r["notes"]["median_epoch_s"], floor_s),
        "poly_floor_vs_plain": ratio(
            r["poly_floor"]["us_per_step"], r["poly_plain"]["us_per_step"]
        ),
        "litlab_vs_tensors": litlab_vs_tensors,
        "litlab_vs_tensors_max": limit,
        "litlab_vs_tensors_met": litlab_vs_tensors <= limit,
        "notes_vs_litlab": notes_vs_litlab,
        "notes_vs_litlab_met": notes_vs_litlab >= 2.5,
        "poly_litlab_vs_plain": poly,
        "poly_litlab_vs_plain_met": poly <= 2.0,
    }


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


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every variant this many times, interleaved, so that a busy spell of the "
        "machine does not fall on one variant alone (medians over all rounds)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the variants in this process (quick checks; peak memory is then cumulative)",
    )
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA GPU, and none is available here")
    if args.variant:
        run_variant(args)
        return 0

    from litlab.data.fashion_files import ensure_fashion_mnist

    ensure_fashion_mnist(args.data_dir)
    results: dict = {"device": args.device, "machine": machine(args.device)}
    results["settings"] = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "limit_batches": args.limit_batches,
        "poly_epochs": args.poly_epochs,
        "threads": torch.get_num_threads(),
        "in_process": args.in_process,
        "rounds": args.rounds,
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path])}
    rounds: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(1, args.rounds + 1):
            for variant in VARIANTS:
                print(f"round {round_number}/{args.rounds}: {variant} ...", file=sys.stderr)
                out = Path(tmp) / f"{variant}.json"
                if args.in_process:
                    namespace = {**vars(args), "variant": variant, "output": out}
                    run_variant(argparse.Namespace(**namespace))
                else:
                    command = child_args(args, variant, out)
                    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
                rounds[variant].append(json.loads(out.read_text()))
    results["variants"] = {variant: combine(rounds[variant]) for variant in VARIANTS}
    results["targets"] = targets(results, args.device)
    results["table"] = table(results)
    print(results["table"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
