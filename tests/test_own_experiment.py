"""README "Add your own experiment", followed literally: its files are written from the README's
code blocks into a folder of their own, and its commands are run as the README gives them (in
this process; the folder and the outputs moved to a temporary one). A user's data module (a
map-style Dataset in a DataLoader) and a user's module (automatic optimization, self.log every
step) train, accumulate, resume mid-epoch exactly, sweep and show in ``litlab runs``."""

from __future__ import annotations

import json
import re
import runpy
import shlex
import sys
import warnings
from pathlib import Path

import pytest
import torch

from litlab import run as run_module
from litlab.cli import main as litlab_main

from .conftest import REPO, run_folder
from .test_fused_steps import SigtermAfterCall

README = (REPO / "README.md").read_text()
SECTION = README.split("## Add your own experiment", 1)[1].split("\n## ", 1)[0]
FILE_BLOCK = re.compile(r"^```\w+ (my_experiments/\S+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SMALL = ["data.size=400", "trainer.max_epochs=2"]  # 320 training points: 10 batches of 32


def readme_commands() -> list[list[str]]:
    """The arguments of each ``python train.py`` line of the section's bash block."""
    block = SECTION.split("```bash\n", 1)[1].split("```", 1)[0]
    return [
        shlex.split(line)[2:] for line in block.splitlines() if line.startswith("python train.py")
    ]


class Experiment:
    """The README's folder written into ``root``, and its commands run there."""

    def __init__(self, root: Path) -> None:
        self.root, self.outputs, self.count = root, root / "outputs", 0
        for name, text in FILE_BLOCK.findall(SECTION):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        self.commands = [[a.replace("my_experiments", str(root / "my_experiments")) for a in c]
                         for c in readme_commands()]  # fmt: skip

    def train(self, command: int, *overrides: str) -> tuple[int, Path]:
        """README command number ``command`` with ``overrides``: (exit code, run folder)."""
        self.count += 1
        folder = self.outputs / f"run{self.count}"
        args = [*self.commands[command], *SMALL, f"paths.log_dir={self.outputs}", *overrides]
        if "-m" not in args:
            args.append(f"hydra.run.dir={folder}")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "argv", ["train.py", *args])
            patch.chdir(REPO)
            try:
                runpy.run_path(str(REPO / "train.py"), run_name="__main__")
            except SystemExit as exit_info:  # a failure, SIGTERM, a multirun's end
                return exit_info.code or 0, folder
        return 0, folder


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def flat(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([value.flatten() for value in state.values()])


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[name], b[name]) for name in a)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Experiment:
    root = tmp_path_factory.mktemp("own")
    experiment = Experiment(root)
    sys.path.insert(0, str(root / "my_experiments"))  # the README's PYTHONPATH
    yield experiment
    sys.path.remove(str(root / "my_experiments"))
    sys.modules.pop("blobs", None)


@pytest.fixture(scope="module")
def plain(experiment) -> Path:
    """The README's first command: the user's own module."""
    code, folder = experiment.train(0)
    assert code == 0
    return folder


def test_the_readme_names_its_files_and_commands(experiment):
    names = {name for name, _ in FILE_BLOCK.findall(SECTION)}
    assert (
        "my_experiments/blobs.py" in names and "my_experiments/conf/experiment/blobs.yaml" in names
    )
    assert len(experiment.commands) == 4 and "--config-dir" in experiment.commands[0]


def test_a_users_module_trains_logs_and_writes_a_run_folder(plain):
    metrics = json.loads((plain / "metrics.json").read_text())
    assert metrics["val/acc"] > 0.6  # three classes: chance is 1/3
    assert "train/loss" in metrics
    assert list((plain / "tensorboard").rglob("events.out.tfevents.*"))
    assert (plain / "checkpoints" / "last.ckpt").is_file()


def test_the_fused_module_trains_bit_for_bit_alike_at_1_and_8_steps_per_call(experiment):
    _, one = experiment.train(1, "steps_per_call=1")
    _, eight = experiment.train(1, "steps_per_call=8")
    assert_same(weights(one), weights(eight))
    assert json.loads((one / "metrics.json").read_text()) == json.loads(
        (eight / "metrics.json").read_text()
    )


@pytest.mark.parametrize("command", [0, 1], ids=["own module", "fused module"])
def test_accumulating_k_batches_of_b_equals_batches_of_b_times_k(experiment, command):
    """320 points: 20 batches of 16 in windows of 4 = 5 batches of 64 (the order is one
    permutation, cut into batches)."""
    before = experiment.train(command, "trainer.max_epochs=1", "data.batch_size=64")[1]
    accumulated = experiment.train(
        command, "trainer.max_epochs=1", "data.batch_size=16", "trainer.accumulate_grad_batches=4"
    )[1]
    big, small = flat(weights(before)), flat(weights(accumulated))
    assert float((small - big).norm() / big.norm()) < 1e-5
    record = json.loads((accumulated / "run_record.json").read_text())
    assert record["batch"]["effective_batch_size"] == 64


@pytest.mark.parametrize("command", [0, 1], ids=["own module", "fused module"])
def test_a_sigterm_mid_epoch_resumes_exactly(experiment, command, monkeypatch):
    """Stopped after the 4th training_step call of the first epoch (batches of 16: 20 calls an
    epoch, 5 with 4 steps a call), resumed from interrupted.ckpt: the weights of a run straight
    through, and no warning that the loader is not resumable."""
    overrides = ["data.batch_size=16", "steps_per_call=4"]
    straight = experiment.train(command, *overrides)[1]
    build = run_module.instantiate_group
    monkeypatch.setattr(run_module, "instantiate_group", lambda cfg, group: build(cfg, group) + (
        [SigtermAfterCall(4)] if group == "callbacks" else []))  # fmt: skip
    code, stopped = experiment.train(command, *overrides)
    monkeypatch.setattr(run_module, "instantiate_group", build)
    assert code == 143
    interrupted = stopped / "checkpoints" / "interrupted.ckpt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, resumed = experiment.train(command, *overrides, f"ckpt_path={interrupted}")
    assert not [w for w in caught if "not resumable" in str(w.message)]
    assert_same(weights(resumed), weights(straight))


def test_a_sweep_ends_with_its_summary_and_litlab_runs_lists_it(experiment, plain, capsys):
    code, _ = experiment.train(3)
    assert code == 0
    (sweep,) = experiment.outputs.glob("multirun/blobs/*/*")
    summary = (sweep / "summary.md").read_text()
    assert "model.lr" in summary and "val/acc" in summary
    statuses = [json.loads((sweep / job / "status.json").read_text())["status"] for job in "01"]
    assert statuses == ["completed", "completed"]
    capsys.readouterr()
    assert litlab_main(["runs", str(experiment.outputs)]) == 0
    listing = capsys.readouterr().out
    assert listing.count("blobs") >= 3  # the single run and both jobs
    assert "model.lr=0.03" in listing


def test_rerun_and_resume_need_the_users_config_folder_named_again(experiment, plain, capsys):
    """The run tools trust the config folders named on their own command line only: without
    ``--config-dir`` the user's targets are refused in one line; with it the run trains again,
    and a completed run resumes further."""
    conf = str(experiment.root / "my_experiments" / "conf")
    capsys.readouterr()
    assert litlab_main(["rerun", str(plain), "trainer.max_epochs=1"]) == 2
    refused = capsys.readouterr().err.strip().splitlines()
    assert len(refused) == 1 and refused[0].startswith("error:") and "--config-dir" in refused[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        code = litlab_main(["rerun", str(plain), "--config-dir", conf, "trainer.max_epochs=1"])
        assert code == 0
        again = run_folder(capsys.readouterr().out)
        assert "val/acc" in json.loads((again / "metrics.json").read_text())
        code = litlab_main(["resume", str(plain), "--config-dir", conf, "trainer.max_epochs=3"])
        assert code == 0
        resumed = run_folder(capsys.readouterr().out)
    assert json.loads((resumed / "status.json").read_text())["status"] == "completed"
    assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2
