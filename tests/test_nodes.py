"""Several nodes, one run: two node ranks on loopback (gloo, CPU), started as README "Several
nodes" says, make one run folder, listed completed, with the weights of one process that sees
the same global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import read_write

from litlab.run_folder.folder import find_run_folders
from litlab.run_folder.ranks import rank_name
from litlab.run_folder.status import STATUS_FILE, recording_status
from tests.conftest import REPO, compose_config, run_folder

# The polynomial, 10 steps of 200 points in all: per node 100, in one process 200.
TINY = ["experiment=polynomial", "steps_per_call=1", "data.passes_per_epoch=1",
        "trainer.max_epochs=1", "logger=csv", "callbacks.least_squares.figure_every_n_epochs=null",
        "trainer.enable_model_summary=false"]  # fmt: skip
NODES = ["trainer=ddp", "trainer.strategy=ddp", "trainer.accelerator=cpu", "trainer.devices=1",
         "trainer.num_nodes=2", "data.batch_size=100"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "NODE_RANK")}
    return subprocess.Popen(
        command, cwd=REPO, env={**base, "OMP_NUM_THREADS": "1", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    return output


def weights(folder: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 10
    return checkpoint["state_dict"]


def assert_one_run_like(nodes_dir: Path, single: Path, rank1: str) -> Path:
    """One run folder under ``nodes_dir``, listed completed by ``litlab runs``, with the
    single process's weights; beside it rank 1's folder (``<its time>-<rank1>``), which holds
    its train.log alone."""
    (run,) = find_run_folders(nodes_dir)
    (other,) = [p for p in run.parent.iterdir() if p != run]
    assert other.name.endswith(f"-{rank1}")
    assert [p.name for p in other.iterdir()] == ["train.log"]
    assert "Initializing distributed: GLOBAL_RANK: 1" in (other / "train.log").read_text()
    listed = subprocess.run(
        [sys.executable, "-m", "litlab", "runs", str(nodes_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip().splitlines()[-1] == "1 run: 1 completed"
    ours, reference = weights(run), weights(single)
    assert ours.keys() == reference.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], reference[name], atol=1e-5, rtol=0)
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two node ranks (Lightning's variables) and one process with the same global batch,
    all at once."""
    root = tmp_path_factory.mktemp("nodes")
    port = str(free_port())
    ranks = [
        start(
            [sys.executable, "train.py", *TINY, *NODES, f"paths.log_dir={root / 'nodes'}"],
            {
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port,
                "NODE_RANK": str(rank),
                "WORLD_SIZE": "2",
            },
        )  # fmt: skip
        for rank in (0, 1)
    ]
    single = start([sys.executable, "train.py", *TINY, "data.batch_size=200",
                    f"paths.log_dir={root / 'single'}"])  # fmt: skip
    outputs = [finish(p) for p in (*ranks, single)]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]
    return {"nodes": root / "nodes", "single": run_folder(outputs[2]), "rank0": outputs[0]}


def test_two_nodes_make_one_run_folder_with_one_process_weights(runs):
    run = assert_one_run_like(runs["nodes"], runs["single"], "node1")
    assert run == run_folder(runs["rank0"])  # the folder rank 0 names at its end
    assert '"num_nodes": 2' in (run / "run_record.json").read_text()


@pytest.mark.slow
def test_two_nodes_by_torchrun_make_one_run_folder(runs, tmp_path):
    port = str(free_port())
    ranks = [
        start(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                f"--node-rank={rank}",
                "--nproc-per-node=1",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
                "train.py",
                *TINY,
                *NODES,
                f"paths.log_dir={tmp_path}",
            ]
        )  # fmt: skip
        for rank in (0, 1)
    ]
    for process in ranks:
        finish(process)
    assert_one_run_like(tmp_path, runs["single"], "rank1")


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, ""),
        ({"RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0"}, ""),  # torchrun
        ({"RANK": "3", "LOCAL_RANK": "1", "GROUP_RANK": "1"}, "rank3"),
        ({"NODE_RANK": "1", "WORLD_SIZE": "2"}, "node1"),  # Lightning's variables
        ({"NODE_RANK": "0"}, ""),
        ({"NODE_RANK": "0", "LOCAL_RANK": "1"}, "node0-local1"),  # a process Lightning started
        ({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"}, ""),  # a SLURM job's tasks
        ({"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}, "rank1"),
        ({"SLURM_PROCID": "0", "LOCAL_RANK": "1"}, "node0-local1"),  # Lightning's, in SLURM
    ],
)
def test_rank_name_from_the_launchers_variables(env, name):
    assert rank_name(env) == name


@pytest.fixture
def second_slurm_task(monkeypatch) -> None:
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "1")


def test_a_second_slurm_task_has_its_own_job_folder_and_no_hydra_dir(second_slurm_task):
    cfg = compose_config(["experiment=polynomial"])
    hydra = cfg.hydra
    with read_write(hydra):
        hydra.job.num = 0
    assert hydra.sweep.subdir == "0-rank1"
    assert str(hydra.run.dir).endswith("-rank1")
    assert hydra.output_subdir is None


def test_only_rank_zero_writes_status(second_slurm_task, tmp_path, monkeypatch):
    with recording_status(tmp_path):
        pass
    assert not (tmp_path / STATUS_FILE).exists()
    monkeypatch.setenv("SLURM_PROCID", "0")
    with recording_status(tmp_path):
        pass
    assert (tmp_path / STATUS_FILE).is_file()


def test_rank_zero_keeps_hydras_folders():
    cfg = compose_config(["experiment=polynomial"])
    with read_write(cfg.hydra):
        cfg.hydra.job.num = 3
    assert cfg.hydra.sweep.subdir == "3" and cfg.hydra.output_subdir == ".hydra"
