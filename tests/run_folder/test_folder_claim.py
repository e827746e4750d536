"""One folder holds one run: the claim on a run or sweep folder (litlab.run_folder.claim), raced by
processes started at the same moment, held by another process, and left by a killed one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from litlab.run_folder.claim import CLAIM_FILE, claim, release
from tests.conftest import REPO, train_main

QUICK = ["experiment=polynomial", "data.passes_per_epoch=1", "trainer.max_epochs=1", "logger=none"]
HOLD = "import sys, time; from pathlib import Path; from litlab.run_folder.claim import claim; " \
    "assert claim(Path(sys.argv[1])); print('held', flush=True); time.sleep(600)"  # fmt: skip


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "train.py", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def holder(folder: Path) -> subprocess.Popen[str]:
    """Another process holding the claim on ``folder`` until it is killed."""
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], text=True,
                               stdout=subprocess.PIPE)  # fmt: skip
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


# train.py's Hydra app and its callbacks (the guard among them), with a task that holds the folder
# as a short run does and then leaves its result: no torch or Lightning to import
RACER = f"""
import sys, time
from pathlib import Path
import hydra
from hydra.core.hydra_config import HydraConfig

@hydra.main(version_base="1.3", config_path={str(REPO / "conf")!r}, config_name="train")
def main(cfg):
    folder = Path(HydraConfig.get().runtime.output_dir)
    time.sleep(2)
    (folder / "metrics.json").write_text("{{}}")

main()
"""


def test_of_two_apps_started_at_once_into_one_folder_one_is_refused(tmp_path):
    folder = tmp_path / "run"
    args = [sys.executable, "-c", RACER, "experiment=polynomial", f"hydra.run.dir={folder}"]
    racers = [subprocess.Popen([*args, f"seed={seed}"], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for seed in (1, 2)]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in racers]
    codes = [p.returncode for p in racers]
    assert sorted(codes) == [0, 2], outputs
    loser = outputs[codes.index(2)][1]
    assert loser.count("\n") == 1 and loser.startswith(f"error: hydra.run.dir='{folder}' ")
    assert "is being written by another run" in loser or "already holds a run" in loser
    overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
    assert f"seed={codes.index(0) + 1}" in overrides  # the winner's, alone


@pytest.mark.slow  # two train.py processes: ~20 s of CPU (the quick one above races the guard)
def test_of_two_runs_started_at_once_into_one_folder_one_is_refused(tmp_path):
    folder = tmp_path / "run"
    nothing = ["train=false", "test=false"]  # the winner: cheap; the loser: refused before it
    first, second = (start(*QUICK, *nothing, f"seed={seed}", f"hydra.run.dir={folder}")
                     for seed in (1, 2))  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    results = [(p.returncode, *out) for p, out in zip((first, second), outputs, strict=True)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [err[-2000:] for _, _, err in results]
    loser = next(err for code, _, err in results if code == 2)
    assert loser.count("error:") == 1 and "Traceback" not in loser
    assert f"hydra.run.dir='{folder}'" in loser.strip().splitlines()[-1]
    winner_seed = 1 if results[0][0] == 0 else 2
    overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
    assert f"seed={winner_seed}" in overrides
    assert json.loads((folder / "status.json").read_text())["status"] == "completed"
    assert not list(folder.glob("checkpoints/*-v1.ckpt"))


def test_a_run_is_refused_while_another_process_writes_its_folder(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "run"
    process = holder(folder)
    try:
        code, stderr = train_main(monkeypatch, capsys, *QUICK, f"hydra.run.dir={folder}")
    finally:
        process.kill()
        process.wait()
    assert code == 2 and stderr.count("\n") == 1
    assert stderr.startswith(f"error: hydra.run.dir='{folder}' is being written by another run")
    assert sorted(p.name for p in folder.iterdir()) == [CLAIM_FILE]  # nothing written
    assert claim(folder)  # the holder was killed: its claim went with it
    release(folder)


def test_a_sweep_is_refused_while_another_process_writes_its_folder(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "sweep"
    process = holder(folder)
    try:
        code, stderr = train_main(monkeypatch, capsys, "-m", *QUICK, "seed=1,2",
                                  f"hydra.sweep.dir={folder}")  # fmt: skip
    finally:
        process.kill()
        process.wait()
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"error: hydra.sweep.dir='{folder}' is being written by another")
    assert sorted(p.name for p in folder.iterdir()) == [CLAIM_FILE]


def test_a_run_is_refused_in_a_sweep_folder_and_a_sweep_in_a_run_folder(
    tmp_path, monkeypatch, capsys
):
    sweep = tmp_path / "sweep"
    (sweep / "0" / ".hydra").mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    code, stderr = train_main(monkeypatch, capsys, *QUICK, f"hydra.run.dir={sweep}")
    assert code == 2
    assert stderr == f"error: hydra.run.dir='{sweep}' is a sweep's folder; a run never writes " \
        "into one. Leave hydra.run.dir at its default (a new folder per run).\n"  # fmt: skip
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("seed: 1\n")
    code, stderr = train_main(monkeypatch, capsys, "-m", *QUICK, "seed=1,2",
                              f"hydra.sweep.dir={run}")  # fmt: skip
    assert code == 2 and stderr.count("\n") == 1
    assert stderr.startswith(f"error: hydra.sweep.dir='{run}' is a run's folder (.hydra/config")
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "multirun.yaml"]
    assert sorted(p.name for p in run.iterdir()) == [".hydra"]
