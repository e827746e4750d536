"""The sweep figure (summary.png): written beside summary.md by a real multirun and by
`litlab summary`, its axes what the sweep swept, and a sensible figure for the odd sweeps."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from matplotlib.image import imread

from litlab.run_folder.folder import find_jobs as read_jobs
from litlab.run_folder.history import read_history
from litlab.sweeps.figure import build_figure
from litlab.sweeps.sweep import Job, group_jobs
from tests.conftest import REPO, run_train
from tests.sweeps.test_sweeps import sweep_folder

METRIC = "train/mse_ratio"  # the polynomial's optimized metric


def litlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "litlab", *args], cwd=REPO, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Two learning rates two decades apart, two seeds each, logged to TensorBoard (the default
    logger): 4 jobs of 2 one-pass epochs."""
    log_dir = tmp_path_factory.mktemp("sweep")
    result = run_train(
        "-m", "experiment=polynomial", "data.passes_per_epoch=1", "trainer.max_epochs=2",
        "model.optimizer.lr=1e-4,1e-2", "seed=1,2", f"paths.log_dir={log_dir}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_folder(log_dir)


def visible_axes(figure):
    return [ax for ax in figure.axes if ax.get_visible()]


def test_the_sweep_writes_a_figure_that_summary_md_links(sweep):
    image = imread(sweep / "summary.png")
    assert image.shape[0] > 300 and image.shape[1] > 600  # two panels side by side
    markdown = (sweep / "summary.md").read_text()
    assert f"![{METRIC} by swept value, and as logged during training](summary.png)" in markdown


def test_the_figure_plots_the_metric_against_the_swept_values_and_every_jobs_history(sweep):
    jobs = read_jobs(sweep)
    figure = build_figure(jobs, group_jobs(jobs)[0], METRIC).figure
    by_value, curves = visible_axes(figure)
    # the swept key on a log axis (1e-4 and 1e-2: two decades), mean over the seeds of each
    assert by_value.get_xlabel() == "model.optimizer.lr"
    assert by_value.get_xscale() == "log"
    assert by_value.get_ylabel() == f"{METRIC} (mean ± std over seeds)"
    line = by_value.lines[0]
    assert list(line.get_xdata()) == [1e-4, 1e-2]
    for lr, mean in zip(line.get_xdata(), line.get_ydata(), strict=True):
        values = [j.metrics[METRIC] for j in jobs if float(j.settings["model.optimizer.lr"]) == lr]
        assert len(values) == 2 and mean == pytest.approx(statistics.fmean(values))
    # every job's logged history (TensorBoard), ending at the final value in metrics.json
    assert curves.get_xlabel() == "optimizer step" and curves.get_ylabel() == METRIC
    assert len(curves.lines) == len(jobs) == 4
    finals = sorted(float(curve.get_ydata()[-1]) for curve in curves.lines)
    assert finals == pytest.approx(sorted(job.metrics[METRIC] for job in jobs), rel=1e-6)
    # one point per epoch, at the optimizer step it ended on (10 steps of 8 + 2 per call), as
    # Lightning counts from 0: the console's steps, not training_step calls (2 an epoch)
    for job in jobs:
        assert [step for step, _ in read_history(job.folder, METRIC)] == [9, 19]
    # the polynomial's optimized_metric_mode is min
    assert by_value.get_title().endswith("(lower is better)")
    assert curves.get_title().endswith("(lower is better)")


def test_litlab_summary_rebuilds_the_figure_with_the_tables(sweep, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    for name in ("summary.png", "summary.md", "summary.csv"):
        (copy / name).unlink()
    result = litlab("summary", str(copy))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"Sweep summary: {copy.resolve() / 'summary.md'} (4 jobs: 4 completed)"
    )
    assert imread(copy / "summary.png").shape == imread(sweep / "summary.png").shape
    assert "](summary.png)" in (copy / "summary.md").read_text()


def test_jobs_without_logged_history_are_left_out_of_the_curves_and_said_so(sweep, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    for job in ("2", "3"):  # as if these jobs ran with logger=none
        shutil.rmtree(copy / job / "tensorboard")
    assert litlab("summary", str(copy)).returncode == 0
    markdown = (copy / "summary.md").read_text()
    assert f"- Curves of {METRIC} not shown: job 2, 3 logged no {METRIC}." in markdown
    jobs = read_jobs(copy)
    _, curves = visible_axes(build_figure(jobs, group_jobs(jobs)[0], METRIC).figure)
    assert len(curves.lines) == 2


def test_a_sweep_of_one_job_gets_a_figure_of_that_job(sweep, tmp_path):
    copy = tmp_path / "sweep"
    copy.mkdir()
    shutil.copytree(sweep / "0", copy / "0")
    result = litlab("summary", str(copy))
    assert result.returncode == 0, result.stderr
    assert imread(copy / "summary.png").size
    jobs = read_jobs(copy)
    values, curves = visible_axes(build_figure(jobs, group_jobs(jobs)[0], METRIC).figure)
    assert values.get_xlabel() == "job" and len(values.lines[0].get_xdata()) == 1
    assert values.get_title().startswith(f"{METRIC}: {jobs[0].metrics[METRIC]:.4g} ± 0 (n=1)")
    assert len(curves.lines) == 1


def test_litlab_summary_of_a_folder_without_jobs_writes_nothing(tmp_path):
    for command in ([sys.executable, "-m", "litlab", "summary"], [
            sys.executable, "-c", "import sys; from litlab.cli import summary_alias as main; "
            "sys.exit(main())"]):  # fmt: skip
        result = subprocess.run([*command, str(tmp_path)], capture_output=True, text=True)
        assert result.returncode == 2
        assert result.stderr == f"error: no job folders (*/.hydra) in {tmp_path}\n"
        assert list(tmp_path.iterdir()) == []


def fake_job(tmp_path: Path, name: str, overrides: dict[str, str], value: float | None) -> Job:
    folder = tmp_path / name  # no event files: no history
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text("{}\n")
    (folder / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([f"{key}={value}" for key, value in overrides.items()])
    )
    status = "completed" if value is not None else "failed"
    (folder / "status.json").write_text(json.dumps({"status": status, "error": None}))
    (folder / "metrics.json").write_text(json.dumps({METRIC: value} if value is not None else {}))
    return Job(folder)


def test_names_are_categories_and_a_setting_with_no_completed_job_is_noted(tmp_path):
    optimizers = ["torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW"]
    jobs = [
        fake_job(
            tmp_path,
            f"{i}{seed}",
            {"model.optimizer._target_": name, "seed": str(seed)},
            None if name.endswith("AdamW") else 1.0 + i + seed / 10,
        )  # fmt: skip
        for i, name in enumerate(optimizers)
        for seed in (1, 2)
    ]
    drawn = build_figure(jobs, group_jobs(jobs)[0], METRIC)
    (ax,) = visible_axes(drawn.figure)  # no history: no curves panel
    assert ax.get_xscale() == "linear"
    # every optimizer has its place, named without what they all share
    assert [t.get_text() for t in ax.get_xticklabels()] == ["SGD", "Adam", "AdamW"]
    assert ax.get_xlabel() == "model.optimizer._target_ = torch.optim.<name>"
    assert failed_marks(ax) == [(2, 0.04)]  # AdamW's two failed jobs: one ×, at its place
    assert drawn.notes == [
        "By model.optimizer._target_: no completed job for optimizer._target_=torch.optim.AdamW.",
        f"Curves of {METRIC} not shown: job 01, 02, 11, 12 ran with logger=none; job 21, 22 "
        "failed before logging it.",
    ]


def failed_marks(ax) -> list[tuple[float, float]]:
    """Where the axis draws its black × marks (the jobs that did not complete)."""
    return [
        (float(x), float(y))
        for line in ax.lines
        if line.get_marker() == "x" and line.get_color() == "black"
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
    ]


def overlaps(ax) -> list[tuple[str, str]]:
    """Pairs of neighbouring x tick labels whose drawn boxes overlap."""
    ax.figure.draw_without_rendering()
    shown = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    boxes = sorted(((t.get_window_extent(), t.get_text()) for t in shown), key=lambda b: b[0].x0)
    return [(a, b) for (box_a, a), (box_b, b) in pairwise(boxes) if box_a.x1 > box_b.x0]


def test_tick_labels_never_overlap(tmp_path):
    optimizers = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax"]
    by_optimizer = [
        fake_job(
            tmp_path / "opt", str(i), {"model.optimizer._target_": f"my.own.optim.{name}"}, 1.0 + i
        )
        for i, name in enumerate(optimizers)
    ]
    lrs = ["1e-4", "2e-4", "3e-4", "5e-4", "7e-4", "1e-3", "2e-3", "3e-3", "5e-3", "7e-3"]
    by_lr = [fake_job(tmp_path / "lr", str(i), {"model.optimizer.lr": lr}, 2.0 / (i + 1))
             for i, lr in enumerate(lrs)]  # fmt: skip
    by_seed = [
        fake_job(tmp_path / "seed", str(i), {"seed": str(1000 + i)}, 1.0 + i) for i in range(16)
    ]
    for jobs in (by_optimizer, by_lr, by_seed):
        (ax,) = visible_axes(build_figure(jobs, group_jobs(jobs)[0], METRIC).figure)
        assert not overlaps(ax), [t.get_text() for t in ax.get_xticklabels()]
        assert sum(t.get_visible() for t in ax.get_xticklabels()) >= len(jobs) // 2


def logged_job(
    tmp_path: Path, name: str, seed: str, lr: str, values: list[float], status: str = "completed"
) -> Job:
    """A job whose metric history is a metrics.csv (10 optimizer steps a point)."""
    overrides = {"model.optimizer.lr": lr, "seed": seed}
    job = fake_job(tmp_path, name, overrides, values[-1] if status == "completed" else None)
    (job.folder / ".hydra" / "config.yaml").write_text("optimized_metric_mode: min\n")
    (job.folder / "csv").mkdir()
    rows = [f"{10 * i + 9},{value}" for i, value in enumerate(values)]
    (job.folder / "csv" / "metrics.csv").write_text(f"step,{METRIC}\n" + "\n".join(rows) + "\n")
    return Job(job.folder)


@pytest.fixture
def logged_sweep(tmp_path) -> list[Job]:
    """2 learning rates x 2 seeds; one job diverged after three points."""
    return [
        logged_job(tmp_path, "0", "1", "1e-3", [900.0, 30.0, 12.0, 8.0, 6.0]),
        logged_job(tmp_path, "1", "2", "1e-3", [700.0, 25.0, 11.0, 7.5, 5.0]),
        logged_job(tmp_path, "2", "1", "1e-2", [400.0, 5e8, float("inf")], status="failed"),
        logged_job(tmp_path, "3", "2", "1e-2", [500.0, 20.0, 9.0, 4.0, 3.0]),
    ]


def test_curves_show_the_later_epochs_not_the_first_nor_a_diverged_job(logged_sweep):
    _, curves = visible_axes(build_figure(logged_sweep, group_jobs(logged_sweep)[0], METRIC).figure)
    low, high = curves.get_ylim()
    assert curves.get_yscale() == "log"  # a loss falling by decades
    assert 2.0 < low <= 3.0 and 30.0 <= high < 60.0  # the completed jobs after their first point


def test_seeds_are_told_apart_and_failed_jobs_marked_in_both_panels(logged_sweep):
    drawn = build_figure(logged_sweep, group_jobs(logged_sweep)[0], METRIC, mode="max")
    by_value, curves = visible_axes(drawn.figure)
    seed_lines = [line for line in curves.lines if line.get_marker() != "x"]
    assert len(seed_lines) == 4
    style = {line.get_color(): [] for line in seed_lines}
    for line in seed_lines:
        style[line.get_color()].append((line.get_linestyle(), line.get_marker()))
    assert all(len(set(pairs)) == 2 for pairs in style.values())  # each lr: its two seeds differ
    legend = [text.get_text() for text in curves.get_legend().get_texts()]
    assert {"lr=0.001", "lr=0.01", "seed=1", "seed=2", "did not complete"} <= set(legend)
    # the diverged job: a × at its last finite point (kept inside the axis), and at lr=1e-2
    (end,) = failed_marks(curves)
    assert end == (19.0, pytest.approx(curves.get_ylim()[1]))
    assert failed_marks(by_value) == [(0.01, 0.04)]
    assert "did not complete" in [t.get_text() for t in by_value.get_legend().get_texts()]
    assert by_value.get_title().endswith("(higher is better)")  # mode given: it wins


def test_values_within_a_decade_stay_on_a_linear_axis(tmp_path):
    jobs = [fake_job(tmp_path, str(i), {"data.batch_size": b}, 0.5 + i) for i, b in
            enumerate(["32", "64", "256"])]  # fmt: skip
    (ax,) = visible_axes(build_figure(jobs, group_jobs(jobs)[0], METRIC).figure)
    assert ax.get_xscale() == "linear" and list(ax.lines[0].get_xdata()) == [32, 64, 256]


def test_no_figure_without_jobs_or_metric_and_no_error(tmp_path):
    assert build_figure([], [], METRIC).figure is None
    job = fake_job(tmp_path, "0", {}, 1.0)
    assert build_figure([job], group_jobs([job])[0], None).figure is None


def test_history_of_a_run_that_logged_to_csv(tmp_path):
    # metrics.csv as Lightning's CSVLogger writes it for `experiment=polynomial logger=csv`
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,lr-SGD,step,test/loss,train/loss,train/mse_ratio\n"
        ",0.001,0,,,\n"
        "0,,9,,2.92,242.7\n"
        ",0.001,10,,,\n"
        "1,,19,,0.85,147.8\n"
        "2,,20,0.65,,\n"
    )
    assert read_history(tmp_path, METRIC) == [(9, 242.7), (19, 147.8)]
    assert read_history(tmp_path, "val/acc") == []  # logged, but not this metric
    assert read_history(tmp_path / "csv", METRIC) is None  # no history at all
