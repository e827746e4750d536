"""Microseconds per optimizer step for each ``steps_per_call``, both experiments: what sets the
default (benchmarks/README.md, "steps_per_call: what the default is").

    python benchmarks/steps_per_call.py --rounds 3                    # CPU
    python benchmarks/steps_per_call.py --rounds 2 trainer=gpu        # GPU

Each fit is ``experiment=<name>`` as ``run()`` builds it (every callback, the progress bar,
checkpoints, no logger), timed in the process over its training epochs (validation excluded);
the values of K take turns within each round, so a busy spell slows them alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import lightning as L  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from litlab.cuda_check import drop_nvml_check_without_driver  # noqa: E402
from litlab.run import build_trainer, instantiate_group  # noqa: E402

EXPERIMENTS = {
    # one epoch of 860 steps of 64 images
    "fashion": ["experiment=fashion", "trainer.max_epochs=1", "trainer.limit_val_batches=0"],
    # one epoch of 1000 steps of 200 points
    "polynomial": ["experiment=polynomial", "trainer.max_epochs=1"],
}


class TrainingTimer(L.Callback):
    def __init__(self, device: torch.device) -> None:
        self.device, self.seconds = device, 0.0

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = self._now()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds += self._now() - self.start


def us_per_step(experiment: str, steps_per_call: int, overrides: list[str]) -> float:
    with (
        tempfile.TemporaryDirectory() as out,
        initialize_config_dir(str(REPO / "conf"), version_base="1.3"),
    ):
        cfg = compose(
            "train",
            overrides=[
                f"paths.output_dir={out}",
                f"paths.data_dir={REPO / 'data'}",
                "logger=none",
                f"steps_per_call={steps_per_call}",
                *EXPERIMENTS[experiment],
                *overrides,
            ],
        )
        L.seed_everything(cfg.seed)
        datamodule, model = instantiate(cfg.data), instantiate(cfg.model)
        trainer = build_trainer(
            cfg, model, callbacks=instantiate_group(cfg, "callbacks"), logger=False
        )
        timer = TrainingTimer(trainer.strategy.root_device)
        trainer.callbacks.append(timer)
        trainer.fit(model, datamodule=datamodule)
        return 1e6 * timer.seconds / trainer.global_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--values", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS))
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides, e.g. trainer=gpu")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    drop_nvml_check_without_driver()  # as run() does
    times = {(e, k): [] for e in args.experiments for k in args.values}
    for round_ in range(1, args.rounds + 1):
        for experiment in args.experiments:
            for k in args.values:
                times[experiment, k].append(us_per_step(experiment, k, args.overrides))
                print(f"round {round_}: {experiment} K={k}: {times[experiment, k][-1]:.0f} µs/step",
                      file=sys.stderr, flush=True)  # fmt: skip
    print("\n| experiment | steps_per_call | µs per step (median) | range | vs K=1 |")
    print("|---|---|---|---|---|")
    for experiment in args.experiments:
        base = statistics.median(times[experiment, args.values[0]])
        for k in args.values:
            values = times[experiment, k]
            median = statistics.median(values)
            print(
                f"| {experiment} | {k} | {median:.0f} | {min(values):.0f}-{max(values):.0f} "
                f"| {median / base:.2f}x |"
            )


if __name__ == "__main__":
    main()
