"""The own-experiment example (``examples/my_experiments``, README "Add your own experiment"), as
it stands, copied to a folder of its own: trained, listed, rerun, resumed, swept and searched by
``train.py`` and ``litlab`` as a user runs them -- subprocesses in a fresh environment (PATH,
HOME, PYTHONPATH), from another working directory; the run tools with litlab alone on
PYTHONPATH, as in a new shell. A fake ``srun`` is on PATH throughout: no run warns of it.

The module-level comparisons (fused steps, accumulation, exact resume) run in this process."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from litlab import run as run_module
from litlab.cli import main as litlab_main
from tests.conftest import REPO, run_folder
from tests.multistep.test_fused_steps import SigtermAfterCall

EXAMPLE = REPO / "examples" / "my_experiments"
SMALL = ["data.size=400", "trainer.max_epochs=2"]  # 280 training points: 9 batches of 32
BIN = Path(sys.executable).parent  # python, litlab
LITLAB_PATHS = [  # what stands for the installed package (conftest: keep it, add in front)
    entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if entry and (Path(entry) / "litlab").is_dir()
]  # fmt: skip


class Example:
    """The example copied into ``root``; its runs write into ``root/outputs``."""

    def __init__(self, root: Path) -> None:
        self.root, self.code, self.outputs = root, root / "my_experiments", root / "outputs"
        shutil.copytree(EXAMPLE, self.code, ignore=shutil.ignore_patterns("__pycache__"))
        self.conf, self.elsewhere, self.bin = self.code / "conf", root / "elsewhere", root / "bin"
        self.elsewhere.mkdir()
        self.bin.mkdir()
        (self.bin / "srun").write_text("#!/bin/sh\nexit 0\n")  # as on a cluster's login node
        (self.bin / "srun").chmod(0o755)
        self.count = 0

    def env(self, users_path: bool) -> dict[str, str]:
        paths = [str(self.code)] if users_path else []  # the README's PYTHONPATH, or none
        return {"PATH": os.pathsep.join([str(self.bin), str(BIN), os.defpath]),
                "HOME": str(self.root), "OMP_NUM_THREADS": "1",
                "PYTHONPATH": os.pathsep.join([*paths, *LITLAB_PATHS])}  # fmt: skip

    def command(self, args: list[str], users_path: bool) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(args, cwd=self.elsewhere, env=self.env(users_path),
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert "srun" not in done.stdout + done.stderr
        return done

    def train(self, *overrides: str) -> subprocess.CompletedProcess[str]:
        """``python <litlab>/train.py --config-dir <conf> experiment=blobs``, the user's folder
        on PYTHONPATH."""
        flags = [arg for arg in overrides if arg == "-m"]  # before the overrides
        args = [str(BIN / "python"), str(REPO / "train.py"), *flags, "--config-dir",
                str(self.conf), "experiment=blobs", *SMALL, f"paths.log_dir={self.outputs}",
                *[arg for arg in overrides if arg != "-m"]]  # fmt: skip
        return self.command(args, users_path=True)

    def litlab(self, *args: str, users_path: bool = False) -> subprocess.CompletedProcess[str]:
        return self.command([str(BIN / "litlab"), *args], users_path)

    def train_here(self, *overrides: str) -> tuple[int, Path]:
        """The same run in this process (cheaper): (exit code, run folder)."""
        self.count += 1
        folder = self.outputs / "here" / f"run{self.count}"
        args = ["--config-dir", str(self.conf), "experiment=blobs", *SMALL,
                f"paths.log_dir={self.outputs}", f"hydra.run.dir={folder}", *overrides]  # fmt: skip
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "argv", ["train.py", *args])
            patch.chdir(self.elsewhere)
            try:
                runpy.run_path(str(REPO / "train.py"), run_name="__main__")
            except SystemExit as exit_info:  # a failure, SIGTERM
                return exit_info.code or 0, folder
        return 0, folder


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    return done


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def flat(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([value.flatten() for value in state.values()])


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[name], b[name]) for name in a)


def status(folder: Path) -> str:
    return json.loads((folder / "status.json").read_text())["status"]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Example:
    example = Example(tmp_path_factory.mktemp("own"))
    sys.path.insert(0, str(example.code))  # the in-process runs' PYTHONPATH
    yield example
    sys.path.remove(str(example.code))
    sys.modules.pop("blobs", None)


@pytest.fixture(scope="module")
def trained(example) -> Path:
    """The README's first command, from another folder."""
    return run_folder(ok(example.train()))


@pytest.fixture(scope="module")
def sweep(example) -> Path:
    """A grid of two learning rates."""
    ok(example.train("-m", "model.lr=0.03,0.1"))
    (sweep,) = example.outputs.glob("multirun/blobs/*/*")
    return sweep


def test_the_example_trains_from_another_folder_and_records_where_it_came_from(example, trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["val/acc"] > 0.5 and "test/acc" in metrics  # three classes: chance is 1/3
    assert list((trained / "tensorboard").rglob("events.out.tfevents.*"))
    assert (trained / "checkpoints" / "last.ckpt").is_file()
    sources = json.loads((trained / "run_record.json").read_text())["sources"]
    assert sources == {"config_dirs": [str(example.conf)], "import_roots": [str(example.code)]}


def test_litlab_runs_lists_the_run_and_the_sweep(example, trained, sweep):
    listing = ok(example.litlab("runs", str(example.outputs))).stdout
    assert listing.count("blobs") >= 3  # the single run and both jobs
    assert "model.lr=0.03" in listing
    assert "model.lr" in (sweep / "summary.md").read_text()


def test_rerun_train_false_tests_the_best_checkpoint_in_a_new_shell(example, trained):
    """Neither the user's PYTHONPATH nor --config-dir: the folder's sources are found again."""
    done = ok(example.litlab("rerun", str(trained), "train=false"))
    tested = run_folder(done)
    metrics = json.loads((tested / "metrics.json").read_text())
    assert set(metrics) == {"test/acc", "test/loss"}
    stored = json.loads((trained / "metrics.json").read_text())
    assert metrics["test/acc"] == pytest.approx(stored["test/acc"])


def test_train_false_with_nothing_to_evaluate_is_refused_in_one_line(example, trained):
    done = example.litlab("rerun", str(trained), "train=false", "test=false")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: train=false with test: false")
    assert f"--config-dir {example.conf}" in lines[0]


def test_resume_of_a_completed_run_trains_further_in_a_new_shell(example, trained):
    resumed = run_folder(ok(example.litlab("resume", str(trained), "trainer.max_epochs=3")))
    assert status(resumed) == "completed"
    assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2


def test_a_sweep_of_the_example_resumes_in_a_new_shell(example, sweep):
    sources = json.loads((sweep / "sources.json").read_text())
    assert sources["config_dirs"] == [str(example.conf)]
    shutil.rmtree(sweep / "1")  # as if job 1 never ran
    done = ok(example.litlab("resume", str(sweep)))
    assert "1 of 2 jobs completed; running 1" in done.stdout + done.stderr
    assert [status(sweep / job) for job in "01"] == ["completed", "completed"]


def copy_with_code(
    trained: Path, tmp_path: Path, roots: list[Path]
) -> tuple[Path, Path, dict[str, Any]]:
    """A copy of ``trained`` whose config builds ``planted.Data``, and ``roots`` (and the copy)
    each holding ``planted.py`` (which, imported, leaves a file): (the copy, that file, its
    record naming them as import roots)."""
    copy, marker = tmp_path / "copy", tmp_path / "imported"
    shutil.copytree(trained, copy)
    for root in [*roots, copy]:
        root.mkdir(exist_ok=True)
        (root / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Data: ...\n")
    config = yaml.safe_load((copy / ".hydra" / "config.yaml").read_text())
    config["data"]["_target_"] = "planted.Data"
    (copy / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    record = json.loads((copy / "run_record.json").read_text())
    record["sources"]["import_roots"] = [str(root) for root in [*roots, copy]]
    return copy, marker, record


def test_a_name_only_the_stored_config_holds_is_never_imported(
    example, trained, tmp_path, monkeypatch, capsys
):
    """The import root is trusted (yours, outside the folder) but no trusted config names
    ``planted.Data``: it is refused in one line, and planted.py never runs."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    copy, marker, record = copy_with_code(trained, tmp_path, [tmp_path / "mine"])
    (copy / "run_record.json").write_text(json.dumps(record))
    assert litlab_main(["rerun", str(copy), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "error: data._target_='planted.Data' is not allowed" in err
    assert f"recorded import root {copy} is not used: it lies inside" in err
    assert not marker.exists() and "planted" not in sys.modules


def test_config_folders_others_may_write_are_not_used(
    example, trained, tmp_path, monkeypatch, capsys
):
    """A recorded config folder and import root that others may write into (someone else's
    code): neither is used, though the configs there name ``planted.Data``."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    shared = tmp_path / "shared"
    copy, marker, record = copy_with_code(trained, tmp_path, [shared])
    (shared / "conf" / "data").mkdir(parents=True)
    (shared / "conf" / "data" / "blobs.yaml").write_text("_target_: planted.Data\n")
    for folder in (shared, shared / "conf"):
        folder.chmod(0o777)
    record["sources"]["config_dirs"] = [str(shared / "conf"), str(example.conf)]
    (copy / "run_record.json").write_text(json.dumps(record))
    assert litlab_main(["rerun", str(copy), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"config folder {shared / 'conf'} is not used: others may write into it" in err
    assert f"import root {shared} is not used: others may write into it" in err
    assert "error: data._target_='planted.Data' is not allowed" in err
    assert not marker.exists() and "planted" not in sys.modules


def test_an_optuna_search_of_the_example(example):
    """conf/hparams_search/blobs_optuna.yaml, cut to two trials."""
    ok(example.train("-m", "hparams_search=blobs_optuna", "hydra.sweeper.n_trials=2",
                     "hydra.sweep.dir=" + str(example.outputs / "search")))  # fmt: skip
    search = example.outputs / "search"
    best = yaml.safe_load((search / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"model.lr", "model.hidden"}
    assert 0.3 < best["best_value"] <= 1
    for job in "01":
        assert status(search / job) in ("completed", "pruned")
        config = yaml.safe_load((search / job / ".hydra" / "config.yaml").read_text())
        assert config["callbacks"]["optuna_pruning"]["monitor"] == "${optimized_metric}"
        assert config["optimized_metric"] == "val/acc"
    assert (search / "optuna.db").is_file()


def test_the_fused_module_trains_bit_for_bit_alike_at_1_and_8_steps_per_call(example):
    _, one = example.train_here("model=blobs_fused", "steps_per_call=1")
    _, eight = example.train_here("model=blobs_fused", "steps_per_call=8")
    assert_same(weights(one), weights(eight))
    assert json.loads((one / "metrics.json").read_text()) == json.loads(
        (eight / "metrics.json").read_text()
    )


@pytest.mark.parametrize("model", ["blobs", "blobs_fused"], ids=["own module", "fused module"])
def test_accumulating_k_batches_of_b_equals_batches_of_b_times_k(example, model):
    """640 points: 448 training points, 28 batches of 16 in windows of 4 = 7 batches of 64 (the
    order is one permutation, cut into batches). No window is short: a plain module's last,
    shorter window would still be divided by 4 (Lightning issue 19987)."""
    small = ["model=" + model, "data.size=640", "trainer.max_epochs=1", "test=false"]
    _, before = example.train_here(*small, "data.batch_size=64")
    _, accumulated = example.train_here(
        *small, "data.batch_size=16", "trainer.accumulate_grad_batches=4"
    )
    big, small_ = flat(weights(before)), flat(weights(accumulated))
    assert float((small_ - big).norm() / big.norm()) < 1e-5
    record = json.loads((accumulated / "run_record.json").read_text())
    assert record["batch"]["effective_batch_size"] == 64


@pytest.mark.parametrize("model", ["blobs", "blobs_fused"], ids=["own module", "fused module"])
def test_a_sigterm_mid_epoch_resumes_exactly_by_the_printed_command(
    example, model, monkeypatch, capsys
):
    """Stopped after the 4th training_step call of the first epoch, resumed from
    interrupted.ckpt: the weights of a run straight through, and no warning that the loader is
    not resumable. The printed ``resume with:`` command names the config folder; for the own
    module it is pasted into a new shell."""
    overrides = ["model=" + model, "data.batch_size=16", "steps_per_call=4", "test=false"]
    straight = example.train_here(*overrides)[1]
    build = run_module.instantiate_group
    monkeypatch.setattr(run_module, "instantiate_group", lambda cfg, group: build(cfg, group) + (
        [SigtermAfterCall(4)] if group == "callbacks" else []))  # fmt: skip
    capsys.readouterr()
    code, stopped = example.train_here(*overrides)
    monkeypatch.setattr(run_module, "instantiate_group", build)
    assert code == 143
    hint = re.search(r"^resume with: (litlab resume .*?) \(or", capsys.readouterr().err, re.M)
    assert hint and hint.group(1) == f"litlab resume {stopped} --config-dir {example.conf}"
    if model == "blobs":
        resumed = run_folder(ok(example.litlab(*hint.group(1).split()[1:])))
    else:
        interrupted = stopped / "checkpoints" / "interrupted.ckpt"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, resumed = example.train_here(*overrides, f"ckpt_path={interrupted}")
        assert not [w for w in caught if "not resumable" in str(w.message)]
    assert_same(weights(resumed), weights(straight))


def test_debug_overfit_on_a_data_module_without_shuffle_is_refused_in_one_line(
    example, tmp_path, capsys
):
    (tmp_path / "plain_blobs.py").write_text(
        "import blobs\n\n\nclass PlainBlobs(blobs.BlobsDataModule):\n"
        "    def __init__(self, size: int, batch_size: int, seed: int, num_workers: int = 0):\n"
        "        super().__init__(size, batch_size, seed, True, num_workers)\n"
    )
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "plain.yaml").write_text(
        "_target_: plain_blobs.PlainBlobs\nsize: 400\nbatch_size: 32\nseed: ${seed}\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        code, _ = example.train_here(
            "data=plain", "debug=overfit", f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
        )
    finally:
        sys.path.remove(str(tmp_path))
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: data.shuffle=False is invalid: plain_blobs.PlainBlobs "
                              "takes no argument 'shuffle' (debug=overfit sets it")  # fmt: skip


def test_debug_overfit_drives_the_examples_loss_down(example):
    """100 epochs of the same batch of 32: the loss falls far below chance's ln 3 = 1.10."""
    code, folder = example.train_here(
        "debug=overfit", "trainer.max_epochs=100", "test=false", "logger=none"
    )
    assert code == 0
    assert json.loads((folder / "metrics.json").read_text())["train/loss"] < 0.5
