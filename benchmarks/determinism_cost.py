"""Seconds per epoch of the fashion default with trainer.deterministic=true and =false.

Alternates the two settings round by round, so that a shared, busy machine slows both alike:

    python benchmarks/determinism_cost.py --rounds 3 [trainer=gpu ...more overrides]
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
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from litlab.run import build_trainer, instantiate_group  # noqa: E402
from litlab.seeding import seed_run  # noqa: E402


class EpochTimer(L.Callback):
    """Wall seconds of each training epoch, its validation included."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def epoch_seconds(deterministic: bool, epochs: int, overrides: list[str]) -> list[float]:
    with (
        tempfile.TemporaryDirectory() as out,
        initialize_config_dir(str(REPO / "conf"), version_base="1.3"),
    ):
        cfg = compose(
            "train",
            overrides=[
                f"paths.output_dir={out}",
                f"paths.data_dir={REPO / 'data'}",
                "name=fashion",
                f"trainer.deterministic={str(deterministic).lower()}",
                f"trainer.max_epochs={epochs}",
                "~callbacks.progress_bar",
                "+trainer.enable_progress_bar=false",
                "~callbacks.model_checkpoint",
                "~callbacks.last_checkpoint",
                "+trainer.enable_checkpointing=false",
                *overrides,
            ],
        )
        seed_run(cfg)
        timer = EpochTimer()
        model = instantiate(cfg.model)
        trainer = build_trainer(
            cfg, model, callbacks=[*instantiate_group(cfg, "callbacks"), timer], logger=False
        )
        trainer.fit(model, datamodule=instantiate(cfg.data))
        return timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides, e.g. trainer=gpu")
    args = parser.parse_args()
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(args.rounds):
        for deterministic in (True, False):
            seconds[deterministic] += epoch_seconds(deterministic, args.epochs, args.overrides)
            last = seconds[deterministic][-1]
            print(f"round {round_ + 1}: deterministic={deterministic} {last:.2f} s", flush=True)
    print("\n| trainer.deterministic | epochs | median s/epoch | min | max |")
    print("|---|---|---|---|---|")
    for deterministic in (True, False):
        values = seconds[deterministic]
        print(
            f"| {str(deterministic).lower()} | {len(values)} | {statistics.median(values):.2f} "
            f"| {min(values):.2f} | {max(values):.2f} |"
        )


if __name__ == "__main__":
    main()
