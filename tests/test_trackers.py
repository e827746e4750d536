"""MLflow and Weights & Biases beside TensorBoard (``logger=[tensorboard,mlflow,wandb]``): a
two-job sweep run as a user runs it (train.py in a folder of its own, the default paths), then
what each tracker holds read back as its own tools read it: MLflow through its Python client and
through the REST API of ``mlflow server`` over the local store, W&B from the offline run's file.
Each has the run's readable parameters (those of TensorBoard's HPARAMS tab), its final metrics
(those of metrics.json) and its run record."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, stop_server
from tests.run_folder.test_tensorboard import free_port, get_json, hparams_session, poll


def needs(package: str):
    """The package, or a skip where it is not installed (never in CI: it is in .[trackers])."""
    if os.environ.get("CI"):
        return __import__(package)
    return pytest.importorskip(package)


LRS = ("0.001", "0.002")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, list[Path]]:
    """The sweep's working folder (outputs/ holds the MLflow store) and its two job folders."""
    needs("mlflow"), needs("wandb")
    cwd = tmp_path_factory.mktemp("user")
    args = ["-m", "experiment=polynomial", "trainer.max_epochs=2", "data.passes_per_epoch=1",
            "logger=[tensorboard,mlflow,wandb]", f"model.optimizer.lr={','.join(LRS)}"]  # fmt: skip
    env = {**os.environ, "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted((cwd / "outputs" / "multirun" / "polynomial").glob("*/*/[01]"))
    assert len(jobs) == 2, list((cwd / "outputs").rglob("*"))
    return cwd, jobs


def same(text: str, value: object) -> bool:
    """An MLflow parameter (text) against TensorBoard's value of it (a number, for booleans too)."""
    if isinstance(value, float):
        return float(text == "True" if text in ("True", "False") else text) == value
    return text == str(value)


def final_metrics(job: Path) -> dict[str, float]:
    return {f"final/{k}": v for k, v in json.loads((job / "metrics.json").read_text()).items()}


def mlflow_runs(cwd: Path) -> dict[str, object]:
    """The store's runs by their run folder, read with MLflow's client."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd / 'outputs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("polynomial")
    return {r.data.tags["run_folder"]: r for r in client.search_runs([experiment.experiment_id])}


def test_mlflow_holds_each_jobs_parameters_final_metrics_and_record(sweep):
    cwd, jobs = sweep
    runs = mlflow_runs(cwd)
    assert set(runs) == {str(job.resolve()) for job in jobs}
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd / 'outputs' / 'mlflow.db'}")
    for job, lr in zip(jobs, LRS, strict=True):
        run = runs[str(job.resolve())]
        params = run.data.params
        assert params["model.optimizer.lr"] == lr and params["model.optimizer"] == "SGD"
        assert not [key for key in params if "_target_" in key]
        hparams = hparams_session(job)  # TensorBoard's HPARAMS: the same names and values
        assert set(params) == set(hparams)
        assert all(same(params[k], v) for k, v in hparams.items()), (params, hparams)
        for name, value in final_metrics(job).items():
            assert run.data.metrics[name] == pytest.approx(value, rel=1e-6), name
        assert run.info.run_name == str(job.relative_to(cwd / "outputs"))
        record = client.download_artifacts(run.info.run_id, "run_record.json", str(job / ".."))
        assert json.loads(Path(record).read_text()) == json.loads(
            (job / "run_record.json").read_text()
        )
    # the store and the artifacts where conf/logger/mlflow.yaml says, nothing in the cwd
    assert (cwd / "outputs" / "mlartifacts").is_dir()
    assert sorted(p.name for p in cwd.iterdir()) == ["outputs"]


@pytest.fixture(scope="module")
def mlflow_server(sweep) -> Iterator[str]:
    """`mlflow server` (what `mlflow ui` runs) on loopback over the sweep's local store."""
    cwd, _ = sweep
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{cwd / 'outputs' / 'mlflow.db'}", "--workers", "1"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        query = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=polynomial"
        found = poll(lambda: get_json(query), bool, seconds=120)
        assert found, f"no answer; the server said:\n{process.stderr.read1().decode()[-2000:]}"
        yield base
    finally:
        stop_server(process)


def post_json(url: str, body: dict) -> dict:
    import urllib.request

    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow  # the server's start: ~10 s of CPU (uvicorn, MLflow's app)
def test_the_mlflow_ui_serves_the_runs_over_its_rest_api(mlflow_server, sweep):
    _, jobs = sweep
    api = f"{mlflow_server}/api/2.0/mlflow"
    experiment = get_json(f"{api}/experiments/get-by-name?experiment_name=polynomial")
    found = post_json(f"{api}/runs/search", {
        "experiment_ids": [experiment["experiment"]["experiment_id"]],
        "order_by": ["params.`model.optimizer.lr` ASC"]})["runs"]  # fmt: skip
    assert len(found) == 2
    for run, job, lr in zip(found, jobs, LRS, strict=True):
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert params["model.optimizer.lr"] == lr and "seed" in params
        assert metrics["final/train/mse"] == pytest.approx(final_metrics(job)["final/train/mse"])
        assert run["info"]["status"] == "FINISHED"
        run_id = run["info"]["run_id"]
        listed = get_json(f"{api}/artifacts/list?run_id={run_id}")
        assert [f["path"] for f in listed["files"]] == ["run_record.json"]
        record = get_json(f"{mlflow_server}/get-artifact?path=run_record.json&run_uuid={run_id}")
        assert record == json.loads((job / "run_record.json").read_text())


def wandb_records(path: Path) -> Iterator[object]:
    """The records of an offline run's ``run-<id>.wandb`` (LevelDB's log format: 32 KiB
    blocks of chunks, each with a 7-byte header; W&B's own header first)."""
    from wandb.proto import wandb_internal_pb2

    data, block, header = path.read_bytes(), 32768, 7
    assert data[:4] == b":W&B"
    position, parts = 7, b""
    while position + header <= len(data):
        left = block - position % block
        _, length, kind = struct.unpack("<IHB", data[position : position + header])
        if left < header or (length == 0 and kind == 0):  # a block's padding
            position += left
            continue
        parts += data[position + header : position + header + length]
        position += header + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            yield record
            parts = b""


def offline_run(job: Path) -> tuple[dict, dict, str]:
    """(config, summary, display name) of the job's offline W&B run."""
    (path,) = (job / "wandb").glob("offline-run-*/run-*.wandb")
    config, summary, name = {}, {}, ""
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind in ("config", "summary"):
            target = config if kind == "config" else summary
            for item in getattr(record, kind).update:
                target[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "run" and record.run.display_name:
            name = record.run.display_name
    return config, summary, name


def test_wandb_writes_each_job_offline_into_its_run_folder(sweep):
    cwd, jobs = sweep
    for job, lr in zip(jobs, LRS, strict=True):
        config, summary, name = offline_run(job)
        hparams = hparams_session(job)
        assert {k: v for k, v in config.items() if not k.startswith("_")} == hparams
        assert config["model.optimizer.lr"] == float(lr)
        for metric, value in final_metrics(job).items():
            assert summary[metric] == pytest.approx(value, rel=1e-6), metric
        assert name == str(job.relative_to(cwd / "outputs"))
        (saved,) = (job / "wandb").glob("offline-run-*/files/run_record.json")
        assert json.loads(saved.read_text()) == json.loads((job / "run_record.json").read_text())
