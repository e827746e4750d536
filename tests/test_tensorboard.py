"""What a run shows in TensorBoard, read back with TensorBoard's own reader and server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from litlab.train import run
from litlab.validation import validate

EVERYTHING = {"images": 0, "scalars": 0, "tensors": 0}


def events(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance=EVERYTHING)
    accumulator.Reload()
    return accumulator


def hparams_session(accumulator: EventAccumulator) -> tuple[dict, set[str]]:
    """(hyperparameters of the run, names of the metrics the hparams tab shows)."""
    content = accumulator.summary_metadata["_hparams_/session_start_info"].plugin_data.content
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    content = accumulator.summary_metadata["_hparams_/experiment"].plugin_data.content
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
    hparams = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
               for name, value in start.hparams.items()}  # fmt: skip
    return hparams, {info.name.tag for info in experiment.metric_infos}


@pytest.fixture(scope="module")
def polynomial_run(tmp_path_factory) -> Path:
    from .conftest import compose_config

    folder = tmp_path_factory.mktemp("polynomial") / "run"
    cfg = compose_config(
        [
            "experiment=polynomial",
            "data.passes_per_epoch=1",  # epochs of 10 steps
            f"paths.output_dir={folder}",
            "trainer.max_epochs=25",
            "callbacks.fit_figure.every_n_epochs=10",
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


def test_hparams_tab_has_the_config_and_the_final_metrics(polynomial_run):
    accumulator = events(polynomial_run)
    hparams, metric_tags = hparams_session(accumulator)
    assert hparams["model/optimizer/lr"] == pytest.approx(1e-3)
    assert hparams["trainer/max_epochs"] == 25
    assert hparams["name"] == "polynomial"
    assert "hp_metric" not in metric_tags
    assert {"final/train/mse_ratio", "final/test/loss"} <= metric_tags
    metrics = json.loads((polynomial_run / "metrics.json").read_text())
    final = accumulator.Scalars("final/test/loss")
    assert len(final) == 1 and final[0].value == pytest.approx(metrics["test/loss"], rel=1e-6)


def test_graph_config_text_and_fit_figures(polynomial_run):
    accumulator = events(polynomial_run)
    assert accumulator.Tags()["graph"]
    graph = accumulator.Graph()
    assert any("Polynomial3" in node.name for node in graph.node)
    text = accumulator.Tensors("run/config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "_target_: litlab.models.regression.RegressionModule" in text
    # epochs 0, 10 and 20 (every 10) and the end of training, as PNG images
    images = accumulator.Images("fit/polynomial")
    assert [image.step for image in images] == [10, 110, 210, 250]
    assert all(image.encoded_image_string.startswith(b"\x89PNG") for image in images)
    assert images[0].encoded_image_string != images[-1].encoded_image_string


def test_fashion_figures_confusion_matrix_and_misclassified(make_cfg, tmp_path):
    cfg = make_cfg(
        "experiment=fashion",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=10",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=4",
        "callbacks.test_figures.max_images=16",
    )
    run(cfg)
    accumulator = events(tmp_path / "run")
    scalars = set(accumulator.Tags()["scalars"])
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "lr-Adam"} <= scalars
    assert {"final/test/acc", "final/val/acc"} <= scalars
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


def test_tensorboard_server_serves_the_scalar_series(polynomial_run):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(polynomial_run),
         "--host", "127.0.0.1", "--port", str(port), "--load_fast", "false",
         "--reload_interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    query = urllib.parse.urlencode({"run": "tensorboard", "tag": "train/mse_ratio"})
    try:
        deadline, series = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if "tensorboard" in get_json(f"{base}/data/runs"):
                    series = get_json(f"{base}/data/plugin/scalars/scalars?{query}")
                    if series:
                        break
            except OSError:
                pass  # not listening yet
            time.sleep(0.5)
        assert series, f"no scalars served; server said:\n{server.stderr.read1().decode()[-2000:]}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    expected = events(polynomial_run).Scalars("train/mse_ratio")
    # [wall_time, step, value] per point, as the scalars dashboard draws them
    assert [point[1] for point in series] == [e.step for e in expected]
    assert [point[2] for point in series] == pytest.approx([e.value for e in expected])
