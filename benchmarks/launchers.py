"""The per-job cost of ``hydra/launcher=slurm`` against ``hydra/launcher=joblib``: the same
tiny sweep (4 polynomial jobs of a few steps) through each, interleaved and repeated.

    OMP_NUM_THREADS=1 python benchmarks/launchers.py benchmarks/results/launchers-cpu-2cores.json

The SLURM is the tests' one-node cluster (tests/engines/slurm.py, brought up here and stopped
at the end; needs root and ``apt-get install slurm-wlm munge``). Both launchers run two jobs at
a time on this machine's 2 CPUs (joblib: one worker per core; SLURM: one CPU per job). Each
sweep is ``python train.py -m`` as a user runs it; "in job" is what the jobs' status.json say
they took (started to finished), so "overhead" is the rest: start-up, submission, polling.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.engines.slurm import Cluster  # noqa: E402

JOBS = ["experiment=polynomial", "logger=csv", "data.passes_per_epoch=1", "trainer.max_epochs=2",
        "seed=1,2,3,4"]  # fmt: skip
LAUNCHERS = {"joblib": ["hydra/launcher=joblib"], "slurm": ["hydra/launcher=slurm"]}


def sweep(name: str, log_dir: Path, env: dict[str, str]) -> dict[str, float]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "train.py", "-m", *LAUNCHERS[name], *JOBS,
                             f"paths.log_dir={log_dir}"], cwd=REPO, env=env,
                            capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{name} sweep failed:\n{result.stderr[-3000:]}")
    statuses = [json.loads(p.read_text()) for p in log_dir.glob("multirun/*/*/*/*/status.json")]
    assert len(statuses) == 4 and all(s["status"] == "completed" for s in statuses), statuses
    in_job = statistics.mean(s["finished"] - s["started"] for s in statuses)
    return {"wall_s": round(wall, 2), "s_per_job": round(wall / 4, 2),
            "in_job_s": round(in_job, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in LAUNCHERS}
    with tempfile.TemporaryDirectory(prefix="litlab-launchers-") as tmp:
        cluster = Cluster(Path(tmp) / "slurm").up()
        try:
            env |= cluster.env
            for repeat in range(args.repeats):
                order = list(LAUNCHERS) if repeat % 2 == 0 else list(reversed(LAUNCHERS))
                for name in order:  # interleaved, alternating which goes first
                    runs[name].append(sweep(name, Path(tmp) / f"{name}-{repeat}", env))
                    print(name, runs[name][-1], flush=True)
        finally:
            cluster.down()
    summary = {}
    for name, rows in runs.items():
        per_job = [row["s_per_job"] for row in rows]
        summary[name] = {
            "s_per_job_median": statistics.median(per_job),
            "s_per_job_min": min(per_job),
            "s_per_job_max": max(per_job),
            "in_job_s_median": statistics.median(r["in_job_s"] for r in rows),
        }
    ratios = [s["s_per_job"] / j["s_per_job"] for s, j in zip(runs["slurm"], runs["joblib"],
                                                               strict=True)]  # fmt: skip
    load = os.getloadavg()
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at the end",
        "command": "OMP_NUM_THREADS=1 python benchmarks/launchers.py " + str(args.out),
        "jobs": JOBS,
        "runs": runs,
        "summary": summary,
        "slurm_over_joblib_per_repeat": [round(r, 2) for r in ratios],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2), report["slurm_over_joblib_per_repeat"])


if __name__ == "__main__":
    main()
