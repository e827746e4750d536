"""What makes a sweep job cheap changes no job's result: the data kept between a process's jobs,
the evaluation batch size, the graph traced once (benchmarks/job_overhead.py measures the cost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from hydra.utils import instantiate

from litlab.data import fashion_cache
from litlab.run import run
from tests.conftest import DATA_DIR, REPO, compose_config
from tests.data.test_data import tiny_module


def test_each_job_gets_its_own_data_and_a_replaced_file_is_read_again(tmp_path):
    fashion_cache.clear()
    first = tiny_module(tmp_path)
    kept = first.train_set.tensors[0].clone()
    first.train_set.tensors[0].add_(1000.0)  # a job writing into its data...
    first.test_set.tensors[1].zero_()
    second = tiny_module(tmp_path)  # ...leaves the next job's as it was
    assert torch.equal(second.train_set.tensors[0], kept)
    assert second.test_set.tensors[1].any()
    assert fashion_cache._train_val.cache_info().hits == 1  # read once, not twice
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    images = raw / "t10k-images-idx3-ubyte"
    changed = bytearray(images.read_bytes())
    changed[16 : 16 + 28 * 28] = bytes(28 * 28)  # the first test image all black
    images.write_bytes(bytes(changed))
    os.utime(images, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = tiny_module(tmp_path)
    black = third.test_set.tensors[0][0]
    torch.testing.assert_close(black, torch.full_like(black, (0 - 0.2860) / 0.3530))
    assert torch.equal(third.test_set.tensors[0][1:], second.test_set.tensors[0][1:])


def test_the_evaluation_batch_size_changes_no_metric(tmp_path):
    """test/acc exactly and test/loss to float rounding, at 64 and at 1024 a batch."""
    cfg = compose_config(["experiment=fashion", f"paths.data_dir={DATA_DIR}",
                          f"paths.output_dir={tmp_path}"])  # fmt: skip
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    metrics = {}
    for size in (64, 1024):
        dm = instantiate(cfg.data, eval_batch_size=size)
        dm.prepare_data()
        dm.setup("test")
        with torch.no_grad():
            batches = list(dm.test_dataloader())
            for batch in batches:
                model._evaluate(batch, "test")
        assert len(batches) == -(-10_000 // size)
        metrics[size] = {k: float(model.metrics[f"test/{k}"].compute()) for k in ("loss", "acc")}
    assert metrics[64]["acc"] == metrics[1024]["acc"]
    assert metrics[64]["loss"] == pytest.approx(metrics[1024]["loss"], abs=1e-6)


JOB = ["experiment=fashion", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
       "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "seed=7"]  # fmt: skip


def job_result(folder) -> tuple[dict, dict[str, torch.Tensor]]:
    metrics = json.loads((folder / "metrics.json").read_text())
    state = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return metrics, state


def test_a_sweeps_second_job_is_bitwise_the_job_alone(tmp_path):
    """Job 2 of an in-process sweep (after a job with another learning rate, sharing the data and
    the graph) against the same job in a fresh process of its own."""
    alone = tmp_path / "alone"
    # the same thread count as this process: a reduction's order follows it (the eval batch of 1024)
    env = os.environ | {"OMP_NUM_THREADS": str(torch.get_num_threads())}
    process = subprocess.Popen(
        [sys.executable, "train.py", *JOB, "model.optimizer.lr=0.002", f"paths.output_dir={alone}",
         f"paths.data_dir={DATA_DIR}"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for i, lr in enumerate((0.001, 0.002)):
        run(compose_config([*JOB, f"model.optimizer.lr={lr}", f"paths.data_dir={DATA_DIR}",
                            f"paths.output_dir={tmp_path / f'job{i}'}"]))  # fmt: skip
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-2000:]
    metrics, state = job_result(tmp_path / "job1")
    metrics_alone, state_alone = job_result(alone)
    assert metrics == metrics_alone
    assert state.keys() == state_alone.keys()
    assert all(torch.equal(state[k], state_alone[k]) for k in state)
    assert metrics != job_result(tmp_path / "job0")[0]  # the first job was another job
