"""A 4-trial Optuna search on PostgreSQL with 1 worker against 2 workers sharing the study:
wall time, trials per minute and their ratio, repeated and interleaved (1, 2, 1, 2, ...).

    OMP_NUM_THREADS=1 python benchmarks/study_workers.py \
        benchmarks/results/study-workers-cpu-2cores.json

A throwaway server comes from ``tests/engines/postgres.py`` (Debian's ``postgresql``); each
search is ``python train.py -m ...`` as a user runs it (the command of README "Many workers, one
study"), on a fresh database, with one torch thread per process. "wall" is from starting the
commands until the last exits (interpreter and Lightning start included); "trials span" is from
the first trial's start to the last trial's end, as the study records them (the search alone).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.engines.postgres import down, up  # noqa: E402

STUDY = "bench"
# The tests' search (tests/cluster/test_postgres.py) with trials of 2 epochs of 10 steps
SEARCH = ["experiment=polynomial", "hydra/sweeper=litlab_optuna", "data.passes_per_epoch=1",
          "trainer.max_epochs=2", "logger=none", "model.optimizer.lr=interval(0.0001,0.005)",
          "hydra.sweeper.direction=minimize", f"hydra.sweeper.study_name={STUDY}",
          "hydra/sweeper/litlab_optuna/storage@hydra.sweeper.storage=postgres",
          "hydra.sweeper.n_trials=4"]  # fmt: skip


def search(url: str, workers: int, root: Path) -> dict[str, object]:
    """``workers`` commands started together on one new study; their times and the study's."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    processes = [
        subprocess.Popen([sys.executable, "train.py", "-m", *SEARCH,
                          f"hydra.sweeper.storage.url={url}", f"hydra.sweep.dir={root / str(n)}"],
                         cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for n in range(workers)
    ]  # fmt: skip
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise RuntimeError(err.decode()[-3000:])
    wall = time.perf_counter() - start
    trials = optuna.load_study(study_name=STUDY, storage=url).trials
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    span = (max(t.datetime_complete for t in trials)
            - min(t.datetime_start for t in trials)).total_seconds()  # fmt: skip
    per_worker = [len([p for p in (root / str(n)).iterdir() if p.name.isdigit()])
                  for n in range(workers)]  # fmt: skip
    return {"workers": workers, "wall_s": round(wall, 2), "trials_span_s": round(span, 2),
            "trials_per_min": round(4 / wall * 60, 2), "trials_by_worker": per_worker}  # fmt: skip


def machine() -> str:
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    facts = dict(line.split(":", 1) for line in lines if ":" in line)
    return f"{facts.get('Model name', '?').strip()}, {facts.get('CPU(s)', '?').strip()} CPUs"


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="litlab-bench-") as tmp:
        folder = tempfile.mkdtemp(prefix="litlab-pg-")
        server = up(folder)
        try:
            for repeat in range(args.repeats):
                for workers in (1, 2):
                    url = server.database(f"bench_{repeat}_{workers}")
                    row = search(url, workers, Path(tmp) / f"{repeat}-{workers}")
                    rows.append({"repeat": repeat, **row})
                    print(json.dumps(rows[-1]), flush=True)
        finally:
            down(folder)
    pairs = list(zip(rows[::2], rows[1::2], strict=True))  # (1 worker, 2 workers) per repeat
    ratios = [two["trials_per_min"] / one["trials_per_min"] for one, two in pairs]
    spans = [one["trials_span_s"] / two["trials_span_s"] for one, two in pairs]
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average": os.getloadavg(),
        "command": "OMP_NUM_THREADS=1 python benchmarks/study_workers.py " + str(args.output),
        "search": ["python", "train.py", "-m", *SEARCH],
        "runs": rows,
        "throughput_ratio_2_vs_1": spread(ratios),
        "trials_span_ratio_1_vs_2": spread(spans),
        "wall_s_1_worker": spread([r["wall_s"] for r in rows if r["workers"] == 1]),
        "wall_s_2_workers": spread([r["wall_s"] for r in rows if r["workers"] == 2]),
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in list(result)[-4:]}, indent=2))


if __name__ == "__main__":
    main()
