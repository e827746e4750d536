"""What a run shows in TensorBoard, read back with TensorBoard's own reader and server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import plugin_data_pb2

from litlab.run import run
from litlab.validation import validate
from tests.conftest import stop_server

EVERYTHING = {"images": 0, "scalars": 0, "tensors": 0}


def events(run_dir: Path, run: str = "tensorboard") -> EventAccumulator:
    """The events of one TensorBoard run of a run folder (``tensorboard/hparams``: its session)."""
    accumulator = EventAccumulator(str(run_dir / run), size_guidance=EVERYTHING)
    accumulator.Reload()
    return accumulator


def hparams_session(run_dir: Path) -> dict:
    """The hyperparameters of the run's session in the HPARAMS tab (its tensorboard/hparams run)."""
    metadata = events(run_dir, "tensorboard/hparams").summary_metadata
    content = metadata["_hparams_/session_start_info"].plugin_data.content
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """What `tensorboard --logdir` is given: a polynomial and a fashion run side by side."""
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="module")
def polynomial_run(logdir) -> Path:
    from tests.conftest import compose_config

    folder = logdir / "polynomial"
    cfg = compose_config(
        [
            "experiment=polynomial",
            "data.passes_per_epoch=1",  # epochs of 10 steps
            f"paths.output_dir={folder}",
            "trainer.max_epochs=25",
            "callbacks.least_squares.figure_every_n_epochs=10",
        ]
    )
    run(cfg)
    return folder


def test_polynomial_scalars_are_the_logged_series(polynomial_run):
    accumulator = events(polynomial_run)
    scalars = set(accumulator.Tags()["scalars"])
    assert {"train/loss", "train/mse", "train/mse_ratio", "test/loss", "lr-SGD"} <= scalars
    assert len(accumulator.Scalars("train/mse_ratio")) == 25  # one point per epoch
    assert [s.value for s in accumulator.Scalars("lr-SGD")] == pytest.approx([1e-3] * 25)
    metrics = json.loads((polynomial_run / "metrics.json").read_text())
    last = accumulator.Scalars("train/mse_ratio")[-1].value
    assert last == pytest.approx(metrics["train/mse_ratio"], rel=1e-6)


@pytest.fixture(scope="module")
def fashion_run(logdir) -> Path:
    from tests.conftest import DATA_DIR, compose_config

    folder = logdir / "fashion"
    cfg = compose_config(
        [
            "experiment=fashion",
            f"paths.output_dir={folder}",
            f"paths.data_dir={DATA_DIR}",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=10",
            "trainer.limit_val_batches=2",
            "trainer.limit_test_batches=4",
            "callbacks.test_figures.max_images=16",
        ]
    )
    run(cfg)
    return folder


def test_hparams_are_the_knobs_and_the_overrides_not_the_plumbing(polynomial_run):
    hparams = hparams_session(polynomial_run)
    assert hparams == {
        "experiment": "polynomial",
        "model": "polynomial",
        "trainer": "cpu",
        "seed": 42,
        "model.optimizer": "SGD",
        "model.optimizer.lr": pytest.approx(1e-3),
        "model.net": "Polynomial3",
        "model.compile": False,
        "data.batch_size": 200,
        "trainer.accumulate_grad_batches": 1,
        "trainer.max_epochs": 25,
        # the run's own overrides (paths.output_dir is one, and is left out)
        "data.passes_per_epoch": 1,
        "callbacks.least_squares.figure_every_n_epochs": 10,
    }


def test_final_metrics_are_the_hparams_sessions_scalars(polynomial_run):
    """One point per metric, in the session's own run; the training curves stay in the main one."""
    session = events(polynomial_run, "tensorboard/hparams")
    metrics = json.loads((polynomial_run / "metrics.json").read_text())
    assert set(session.Tags()["scalars"]) == {f"final/{name}" for name in metrics}
    for name, value in metrics.items():
        (point,) = session.Scalars(f"final/{name}")
        assert point.value == pytest.approx(value, rel=1e-6)
    assert not any(tag.startswith("final/") for tag in events(polynomial_run).Tags()["scalars"])
    # no experiment summary anywhere: it would fix TensorBoard's columns to this run's metrics
    assert "_hparams_/experiment" not in session.summary_metadata
    assert "_hparams_/experiment" not in events(polynomial_run).summary_metadata


def graphs_written(run_dir: Path) -> int:
    """How many model graphs the run's event files hold."""
    files = (run_dir / "tensorboard").glob("events.out.tfevents.*")
    loaded = (event for f in files for event in EventFileLoader(str(f)).Load())
    return sum(event.HasField("graph_def") for event in loaded)


def test_graph_config_text_and_fit_figures(polynomial_run):
    accumulator = events(polynomial_run)
    assert accumulator.Tags()["graph"]
    assert graphs_written(polynomial_run) == 1  # Lightning asks at fit and again at test
    graph = accumulator.Graph()
    assert any("Polynomial3" in node.name for node in graph.node)
    text = accumulator.Tensors("run/config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "_target_: litlab.models.regression.RegressionModule" in text
    # epochs 0, 10 and 20 (every 10) and the end of training, as PNG images
    images = accumulator.Images("fit/polynomial")
    assert [image.step for image in images] == [10, 110, 210, 250]
    assert all(image.encoded_image_string.startswith(b"\x89PNG") for image in images)
    assert images[0].encoded_image_string != images[-1].encoded_image_string


def test_fashion_figures_confusion_matrix_and_misclassified(fashion_run):
    accumulator = events(fashion_run)
    scalars = set(accumulator.Tags()["scalars"])
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "lr-Adam"} <= scalars
    final = set(events(fashion_run, "tensorboard/hparams").Tags()["scalars"])
    assert {"final/test/acc", "final/val/acc"} <= final
    (confusion,) = accumulator.Images("test/confusion_matrix")
    (wrong,) = accumulator.Images("test/misclassified")
    assert confusion.width >= 600 and wrong.width >= 600
    assert confusion.encoded_image_string.startswith(b"\x89PNG")
    assert any("MLP" in node.name for node in accumulator.Graph().node)


def test_figures_callbacks_keep_quiet_without_tensorboard(make_cfg, tmp_path):
    cfg = make_cfg(
        "experiment=fashion",
        "logger=csv",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=5",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
    )
    validate(cfg)
    run(cfg)
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()
    assert not (tmp_path / "run" / "tensorboard").exists()
    header = (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "lr-Adam" in header


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def post_json(url: str, body: dict) -> dict:
    """A POST as TensorBoard's own pages send it (the header is its CSRF check)."""
    headers = {"Content-Type": "application/json", "X-XSRF-Protected": "1"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def poll(fetch, done, seconds: float = 60):
    """fetch() until done(result) or time is up (the server loads runs in the background)."""
    deadline, result = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        try:
            result = fetch()
            if done(result):
                break
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    return result


@pytest.fixture(scope="module")
def server(logdir, polynomial_run, fashion_run) -> Iterator[str]:
    """The real `tensorboard --logdir` on both runs; yields its address."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
         "--host", "127.0.0.1", "--port", str(port), "--load_fast", "false",
         "--reload_interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    runs = {
        f"{name}/tensorboard{sub}" for name in ("polynomial", "fashion") for sub in ("", "/hparams")
    }
    try:
        listed = poll(lambda: get_json(f"{base}/data/runs"), lambda served: runs <= set(served))
        assert listed and runs <= set(listed), (
            f"runs not served: {listed}; server said:\n{process.stderr.read1().decode()[-2000:]}"
        )
        yield base
    finally:
        stop_server(process)


def test_tensorboard_server_serves_the_scalar_series(server, polynomial_run):
    query = urllib.parse.urlencode({"run": "polynomial/tensorboard", "tag": "train/mse_ratio"})
    series = poll(lambda: get_json(f"{server}/data/plugin/scalars/scalars?{query}"), bool)
    expected = events(polynomial_run).Scalars("train/mse_ratio")
    # [wall_time, step, value] per point, as the scalars dashboard draws them
    assert [point[1] for point in series] == [e.step for e in expected]
    assert [point[2] for point in series] == pytest.approx([e.value for e in expected])


SESSION_GROUPS = {
    "experimentName": "",
    "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
    "colParams": [],
    "startIndex": 0,
    "sliceSize": 100,
}


def test_hparams_tab_shows_every_runs_final_metrics_and_readable_knobs(
    server, polynomial_run, fashion_run
):
    """What the HPARAMS tab asks the server for: its columns (experiment) and rows (session
    groups). A fashion and a polynomial run have different metrics; both sets are columns."""
    finals = {
        folder.name: {f"final/{name}": value for name, value in
                      json.loads((folder / "metrics.json").read_text()).items()}
        for folder in (polynomial_run, fashion_run)
    }  # fmt: skip
    every_metric = set(finals["polynomial"]) | set(finals["fashion"])
    hparams_url = f"{server}/data/plugin/hparams"
    experiment = poll(
        lambda: post_json(f"{hparams_url}/experiment", {"experimentName": ""}),
        lambda served: len(served.get("metricInfos", [])) >= len(every_metric),
    )
    columns = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert columns == every_metric  # final/train/mse_ratio (polynomial) and final/val/acc (fashion)
    assert "final/train/mse_ratio" in columns and "final/val/acc" in columns

    names = {info["name"] for info in experiment["hparamInfos"]}
    assert not [name for name in names if "_target_" in name or name.startswith("paths")]
    assert {"experiment", "seed", "model.optimizer", "model.optimizer.lr", "data.batch_size",
            "model.net.hidden_sizes", "model.net.dropout", "trainer.accumulate_grad_batches",
            "trainer.max_epochs"} <= names  # fmt: skip
    assert "data.passes_per_epoch" in names  # an override of the polynomial run
    assert len(names) <= 22  # the whole flattened config was 78 columns

    groups = post_json(f"{hparams_url}/session_groups", SESSION_GROUPS)["sessionGroups"]
    rows = {group["name"].split("/")[0]: group for group in groups}
    assert set(rows) == {"polynomial", "fashion"}
    for name, row in rows.items():
        values = {metric["name"]["tag"]: metric["value"] for metric in row["metricValues"]}
        assert values == pytest.approx(finals[name], rel=1e-6)
        assert "None" not in row["hparams"].values() and None not in row["hparams"].values()
    assert rows["polynomial"]["hparams"]["model.optimizer"] == "SGD"
    assert rows["fashion"]["hparams"]["model.optimizer"] == "Adam"
    assert rows["fashion"]["hparams"]["model.net.hidden_sizes"] == "[512, 512]"
