"""The 20-trial Fashion-MNIST search with and without pruning, same sampler seed: wall time and
best val/acc side by side, in one run.

    OMP_NUM_THREADS=1 python benchmarks/pruning.py benchmarks/results/pruning-cpu-2cores.json

Each search is ``python train.py -m hparams_search=fashion_optuna`` as a user runs it, in its own
process with one torch thread; the two run at the same time, so that a shared, busy machine slows
both alike. ``--overrides`` go to both (default: ``SHORT`` below).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import optuna

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {  # name -> the overrides that make it
    "median pruner": [],  # the search's default: conf/hydra/sweeper/litlab_optuna/pruner/median
    "no pruning": ["hydra/sweeper/litlab_optuna/pruner@hydra.sweeper.pruner=none"],
}


# Trials cut to fit a shared 2-core machine: 5 epochs of a fifth of the training set each, and a
# fifth of the validation and test sets (the search's default: 10 whole epochs).
SHORT = ["trainer.max_epochs=5", "trainer.limit_train_batches=0.2", "trainer.limit_val_batches=0.2",
         "trainer.limit_test_batches=0.2", "logger=none"]  # fmt: skip


def start(log_dir: Path, overrides: list[str]) -> subprocess.Popen[bytes]:
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "train.py", "-m", "hparams_search=fashion_optuna",
               *overrides, f"paths.log_dir={log_dir}"]  # fmt: skip
    log = open(log_dir / "search.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def study_row(log_dir: Path, seconds: float) -> dict[str, object]:
    (sweep,) = log_dir.glob("multirun/*/*/*")
    study = optuna.load_study(study_name="fashion_mlp", storage=f"sqlite:///{sweep}/optuna.db")
    states = [t.state.name for t in study.trials]
    epochs = [len(t.intermediate_values) for t in study.trials]
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in study.trials]
    return {"seconds": round(seconds, 1), "best_val_acc": study.best_value,
            "best_trial": study.best_trial.number, "trials": len(states),
            "completed": states.count("COMPLETE"), "pruned": states.count("PRUNED"),
            "failed": states.count("FAIL"), "epochs_trained": sum(epochs),
            "trial_seconds": [round(d, 2) for d in durations], "trial_epochs": epochs,
            "trial_params": [t.params for t in study.trials],
            "seconds_per_trial_and_epoch": fixed_and_per_epoch(durations, epochs)}  # fmt: skip


def fixed_and_per_epoch(seconds: list[float], epochs: list[int]) -> dict[str, float]:
    """Least squares seconds = fixed + per_epoch x epochs over the trials: what a trial costs
    besides its epochs (which pruning cannot save), and what an epoch costs."""
    n, mean_e, mean_s = len(epochs), sum(epochs) / len(epochs), sum(seconds) / len(seconds)
    var = sum((e - mean_e) ** 2 for e in epochs)
    if n < 2 or var == 0:  # every trial the same length: no line to fit
        return {"fixed_s": float("nan"), "per_epoch_s": round(mean_s / max(mean_e, 1), 3)}
    slope = sum((e - mean_e) * (s - mean_s) for e, s in zip(epochs, seconds, strict=True)) / var
    return {"fixed_s": round(mean_s - slope * mean_e, 2), "per_epoch_s": round(slope, 3)}


def machine() -> str:
    """The CPU's model name and count, as lscpu says them."""
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    facts = dict(line.split(":", 1) for line in lines if ":" in line)
    return f"{facts.get('Model name', '?').strip()}, {facts.get('CPU(s)', '?').strip()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where the JSON goes")
    parser.add_argument("--overrides", nargs="*", default=SHORT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {name: Path(tmp) / str(i) for i, name in enumerate(VARIANTS)}
        began = time.perf_counter()
        procs = {}
        for name, extra in VARIANTS.items():
            dirs[name].mkdir()
            procs[name] = start(dirs[name], [*args.overrides, *extra])
        ended: dict[str, float] = {}
        while len(ended) < len(procs):  # each search's wall time, from the common start
            for name, proc in procs.items():
                if name not in ended and proc.poll() is not None:
                    ended[name] = time.perf_counter() - began
                    if proc.returncode != 0:
                        sys.exit(f"{name}: exit code {proc.returncode}: {dirs[name]}/search.log")
            time.sleep(0.5)
        rows = {name: study_row(dirs[name], ended[name]) for name in VARIANTS}
    base, pruned = rows["no pruning"], rows["median pruner"]
    print(f"the Fashion-MNIST search, {' '.join(args.overrides)}; {machine()}")
    print(f"| {'':<14} | seconds | best val/acc | trials completed / pruned | epochs trained |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        best = f"{row['best_val_acc']:.4f} (trial {row['best_trial']})"
        done = f"{row['completed']} / {row['pruned']}"
        print(f"| {name:<14} | {row['seconds']:>7} | {best} | {done} | {row['epochs_trained']} |")
    for name, row in rows.items():
        fit = row["seconds_per_trial_and_epoch"]
        print(f"{name}: a trial {fit['fixed_s']} s + {fit['per_epoch_s']} s an epoch "
              f"(least squares over its {row['trials']} trials)")  # fmt: skip
    ratio = pruned["seconds"] / base["seconds"]
    print(f"pruning: {ratio:.2f}x the time, best val/acc "
          f"{pruned['best_val_acc'] - base['best_val_acc']:+.4f}")  # fmt: skip
    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "command": " ".join(sys.argv),
              "overrides": args.overrides, "variants": VARIANTS, "results": rows,
              "time_ratio": round(ratio, 3)}  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
