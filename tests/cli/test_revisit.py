"""A finished run again from its folder: ``litlab rerun`` and ``litlab resume`` on a run, and the
checks that stop a checkpoint or a stored config that must not be used."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import lightning  # noqa: F401 - imported now, its log handlers keep the real stderr, not capsys's
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from litlab.cli import main as litlab_main
from litlab.errors import UserError
from litlab.run_folder.stored_config import as_data, check_targets, compose_config
from tests.conftest import DATA_DIR, REPO, run_folder, run_train, train_main

# epochs of one pass (10 steps); a learning rate other than the default, which a rerun must keep
POLYNOMIAL = ["experiment=polynomial", "data.passes_per_epoch=1", "logger=none",
              "model.optimizer.lr=3e-3"]  # fmt: skip


def litlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "litlab", *args], cwd=REPO, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A polynomial run of 2 epochs: its folder."""
    log_dir = tmp_path_factory.mktemp("outputs")
    result = run_train(*POLYNOMIAL, "trainer.max_epochs=2", f"paths.log_dir={log_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_folder(result)


def copy_run(folder: Path, tmp_path: Path, **config_changes) -> Path:
    """A copy of the run's folder, its stored config changed as given ("a.b": value)."""
    copy = tmp_path / "copied_run"
    shutil.copytree(folder, copy)
    config = OmegaConf.load(copy / ".hydra" / "config.yaml")
    for key, value in config_changes.items():
        if value is KeyError:
            parent, _, name = key.rpartition(".")
            del OmegaConf.select(config, parent)[name]
        else:
            OmegaConf.update(config, key, value, force_add=True)
    OmegaConf.save(config, copy / ".hydra" / "config.yaml")
    return copy


def dry_run(capsys, *args: str) -> list[str]:
    """The train.py arguments ``litlab ... --dry-run`` prints."""
    assert litlab_main([*args, "--dry-run"]) == 0, capsys.readouterr().err
    command = capsys.readouterr().out.strip().splitlines()[-1]
    assert command.startswith("python train.py ")
    import shlex

    return shlex.split(command)[2:]


def test_rerun_train_false_tests_the_runs_best_checkpoint(finished, tmp_path):
    result = litlab("rerun", str(finished), "train=false", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    folder = run_folder(result)
    assert folder.parent.parent == tmp_path / "polynomial"  # a new run folder, as any run
    [best] = (finished / "checkpoints").glob("best-*.ckpt")
    stored = yaml.safe_load((finished / ".hydra" / "overrides.yaml").read_text())
    overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
    # its overrides, not retyped, then the best checkpoint and the new ones
    assert overrides == [*stored, f"ckpt_path={best}", "train=false", f"paths.log_dir={tmp_path}"]
    assert f"Loaded model weights from the checkpoint at {best}" in result.stdout + result.stderr
    origin = json.loads((folder / "run_record.json").read_text())["origin"]
    assert origin == {"command": "rerun", "run": str(finished)}  # and the runs list says so
    [listed] = csv.DictReader(litlab("runs", str(tmp_path), "--csv").stdout.splitlines())
    assert listed["origin"] == f"rerun {finished}" and "train=false" in listed["overrides"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {"test/loss"}
    original = json.loads((finished / "metrics.json").read_text())
    assert metrics["test/loss"] == pytest.approx(original["train/mse"], rel=1e-5)  # its fit
    assert not (folder / "checkpoints").exists()


def test_resume_continues_the_run_in_a_new_folder_as_if_never_stopped(finished, tmp_path):
    result = litlab("resume", str(finished), "trainer.max_epochs=4", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    folder = run_folder(result)
    assert folder.parent.parent == tmp_path / "polynomial" and folder != finished
    last = finished / "checkpoints" / "last.ckpt"
    assert f"Restored all states from the checkpoint at {last}" in result.stdout + result.stderr
    # 4 epochs straight, with the run's learning rate (3e-3): the same weights, bit for bit
    straight = run_train(*POLYNOMIAL, "trainer.max_epochs=4", f"paths.log_dir={tmp_path / 's'}")
    assert straight.returncode == 0, straight.stderr[-3000:]
    resumed, reference = weights(folder), weights(run_folder(straight))
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[name], reference[name]) for name in resumed)
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 40


def test_resume_takes_the_checkpoint_that_got_furthest(finished, tmp_path, capsys):
    copy = copy_run(finished, tmp_path)
    last = torch.load(copy / "checkpoints" / "last.ckpt", weights_only=True)
    assert (
        dry_run(capsys, "resume", str(copy), "trainer.max_epochs=3")[-2]
        == f"ckpt_path={copy}/checkpoints/last.ckpt"
    )
    last["global_step"] += 5  # as if interrupted halfway through the next epoch
    torch.save(last, copy / "checkpoints" / "interrupted.ckpt")
    args = dry_run(capsys, "resume", str(copy), "trainer.max_epochs=3")
    assert args[-2] == f"ckpt_path={copy}/checkpoints/interrupted.ckpt"
    (copy / "checkpoints" / "interrupted.ckpt").write_bytes(b"truncated by a kill")
    assert dry_run(capsys, "resume", str(copy), "trainer.max_epochs=3")[-2].endswith(
        "/checkpoints/last.ckpt"
    )


def test_rerun_keeps_the_stored_config_where_conf_now_composes_otherwise(
    finished, tmp_path, capsys
):
    # As if conf/ had changed since the run: it had 1000 points, and no fit figure callback.
    copy = copy_run(
        finished, tmp_path, **{"data.num_points": 1000, "callbacks.least_squares": KeyError}
    )
    args = dry_run(capsys, "rerun", str(copy))
    assert "++data.num_points=1000" in args and "~callbacks.least_squares" in args
    assert as_data(compose_config(args, with_hydra=False)) == yaml.safe_load(
        (copy / ".hydra" / "config.yaml").read_text()
    )
    # a value given now wins over the stored one
    args = dry_run(capsys, "rerun", str(copy), "data.num_points=500")
    assert not any(arg.startswith("++data.num_points") for arg in args)
    assert compose_config(args).data.num_points == 500


def test_a_run_with_a_drawn_seed_is_rerun_with_that_seed(finished, tmp_path, capsys):
    copy = copy_run(finished, tmp_path, seed=None)  # the run was started with seed=null
    record = json.loads((copy / "run_record.json").read_text())
    record["seed"] = 1234  # ... and drew 1234
    (copy / "run_record.json").write_text(json.dumps(record))
    assert "seed=1234" in dry_run(capsys, "rerun", str(copy))
    assert "seed=1234" not in dry_run(capsys, "rerun", str(copy), "seed=7")


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"model.optimizer._target_": "os.system"}, "model.optimizer._target_='os.system'"),
        ({"callbacks.evil": {"_target_": "subprocess.Popen", "args": "true"}},
         "callbacks.evil._target_='subprocess.Popen'"),
        ({"model.optimizer._target_": "torch.load"}, "model.optimizer._target_='torch.load'"),
        ({"callbacks.x": {"_target_": "hydra.utils.get_method", "path": "builtins.eval"}},
         "callbacks.x._target_='hydra.utils.get_method'"),
        ({"model.net._target_": "${oc.env:HOME}"}, "model.net._target_="),
        ({"callbacks.x": {"_target_": "hydra.utils.get_object", "_args_": ["os.system"]}},
         "callbacks.x._target_='hydra.utils.get_object'"),
    ],
)  # fmt: skip
def test_a_stored_config_builds_only_from_litlabs_packages(
    finished, tmp_path, capsys, change, refused
):
    copy = copy_run(finished, tmp_path, **change)
    log_dir = Path(
        yaml.safe_load((copy / ".hydra" / "config.yaml").read_text())["paths"]["log_dir"]
    )
    before = sorted(log_dir.rglob("*"))
    assert litlab_main(["rerun", str(copy), "train=false"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {refused}") and " is not allowed: " in err
    assert len(err.splitlines()) == 1
    assert sorted(log_dir.rglob("*")) == before  # nothing was run or written


def test_the_stored_config_wins_over_stored_overrides_that_disagree(finished, tmp_path, capsys):
    copy = copy_run(finished, tmp_path)
    overrides = copy / ".hydra" / "overrides.yaml"
    evil = "model.optimizer._target_=os.system"  # not what the run used: its config says SGD
    overrides.write_text(yaml.safe_dump([*yaml.safe_load(overrides.read_text()), evil]))
    args = dry_run(capsys, "rerun", str(copy))
    assert args[args.index(evil) + 1] == "++model.optimizer._target_='torch.optim.SGD'"
    assert compose_config(args).model.optimizer._target_ == "torch.optim.SGD"


def test_revisit_refuses_what_it_cannot_do_in_one_line(finished, tmp_path, capsys):
    no_checkpoints = copy_run(finished, tmp_path)
    shutil.rmtree(no_checkpoints / "checkpoints")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("{}\n")
    cases = [
        (["rerun", str(tmp_path)], "is not a run folder"),
        (["rerun", str(sweep)], f"is a sweep folder: finish it with litlab resume {sweep}"),
        (
            ["resume", str(no_checkpoints), "trainer.max_epochs=3"],
            "holds no checkpoint to continue",
        ),
        (["rerun", str(no_checkpoints), "train=false"], "holds no checkpoint to test"),
        (["resume", str(finished), "train=false"], "litlab rerun"),
        (
            ["resume", str(finished)],
            "is complete (trainer.max_epochs=2): nothing to resume. "
            f"Train it further with: litlab resume {finished} trainer.max_epochs=<more>",
        ),
    ]
    for args, message in cases:
        assert litlab_main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_litlab_is_the_declared_console_command():
    pyproject = (REPO / "pyproject.toml").read_text()
    module, function = re.search(r'^litlab = "(.+)"$', pyproject, re.M).group(1).split(":")
    assert getattr(import_module(module), function) is litlab_main


# -- checkpoints that do not fit the config, and train=false without one (train.py itself) ------


def test_a_checkpoint_of_another_experiment_stops_before_any_work(finished, monkeypatch, capsys):
    ckpt = finished / "checkpoints" / "last.ckpt"
    code, err = train_main(monkeypatch, capsys, "experiment=fashion", "train=false",
                           f"ckpt_path={ckpt}", "logger=none", f"paths.data_dir={DATA_DIR}",
                           f"hydra.run.dir={finished.parent / 'fashion_test'}")  # fmt: skip
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: ckpt_path='{ckpt}' does not fit the config: ")
    assert "the checkpoint has net.a, net.b, net.c, net.d, which the model lacks" in last
    assert last.endswith("(the checkpoint is from a polynomial run, the config is fashion)")
    assert not (finished.parent / "fashion_test" / "metrics.json").exists()


def test_a_checkpoint_of_other_layer_sizes_is_named_with_the_config_key(
    tmp_path, monkeypatch, capsys
):
    narrow = run_train("experiment=fashion", "model.net.hidden_sizes=[32,16]", "test=false",
                       "trainer.max_epochs=1", "trainer.limit_train_batches=1", "logger=none",
                       "trainer.limit_val_batches=1", f"paths.data_dir={DATA_DIR}",
                       f"paths.log_dir={tmp_path}")  # fmt: skip
    assert narrow.returncode == 0, narrow.stderr[-3000:]
    ckpt = run_folder(narrow) / "checkpoints" / "last.ckpt"
    code, err = train_main(monkeypatch, capsys, "train=false", f"ckpt_path={ckpt}", "logger=none",
                           f"paths.log_dir={tmp_path}")  # fmt: skip
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"error: ckpt_path='{ckpt}' does not fit the config: net.layers.1.weight is [32, 784] in "
        "the checkpoint, [512, 784] in the model (and 4 more tensors differ) "
        "(model.net.hidden_sizes)"
    )


def test_train_false_without_a_checkpoint_says_what_to_pass(monkeypatch, capsys, tmp_path):
    code, err = train_main(monkeypatch, capsys, "train=false", f"paths.log_dir={tmp_path}")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "error: train=false tests a checkpoint, and none was given: pass "
        "ckpt_path=<run folder>/checkpoints/<file>.ckpt, or test a run's best checkpoint with: "
        "litlab rerun <run folder> train=false"
    )
    # no work done: nothing but the run's own record that it was refused
    assert [p.name for p in tmp_path.rglob("*.json")] == ["status.json"]
    assert not list(tmp_path.rglob("*.ckpt"))


# -- tampered folders: one per way around the target check; a marker a successful attack makes --


class Payload:
    """Unpickled, it creates ``marker``: what a checkpoint from someone else could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def refused(capsys, args: list[str], marker: Path, message: str) -> str:
    assert litlab_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err
    assert not marker.exists()
    return err


def test_a_target_reached_through_an_allowed_module_is_refused(finished, tmp_path, capsys):
    marker, pickle_file = tmp_path / "marker", tmp_path / "evil.pkl"
    torch.save(Payload(marker), pickle_file)
    copy = copy_run(finished, tmp_path, **{"model.optimizer": {
        "_target_": "litlab.validation.torch.load", "f": str(pickle_file),
        "weights_only": False}})  # fmt: skip
    refused(capsys, ["rerun", str(copy)], marker,
            "model.optimizer._target_='litlab.validation.torch.load' is not allowed: it is "
            "torch.serialization.load, which no _target_ of")  # fmt: skip


def test_a_target_made_by_an_interpolation_is_refused(finished, tmp_path, capsys):
    marker = tmp_path / "marker"
    node = f"${{oc.create:{{_target_: litlab.validation.os.system, command: 'touch {marker}'}}}}"
    copy = copy_run(finished, tmp_path, **{"callbacks.evil": node})
    refused(capsys, ["rerun", str(copy)], marker, "does not compose")  # Hydra's grammar stops it
    with pytest.raises(
        UserError,
        match=r"callbacks.evil._target_='litlab.validation.os.system' "
        "is not allowed: it is posix.system",
    ):  # and once resolved, the check
        check_targets(OmegaConf.create({"callbacks": {"evil": node}}))
    assert not marker.exists()


def test_a_stored_hydra_override_is_refused(finished, tmp_path, capsys):
    marker = tmp_path / "marker"
    copy = copy_run(finished, tmp_path)
    overrides = copy / ".hydra" / "overrides.yaml"
    evil = f"+hydra.job_logging.handlers.evil={{class:logging.FileHandler,filename:{marker}}}"
    overrides.write_text(yaml.safe_dump([*yaml.safe_load(overrides.read_text()), evil]))
    refused(capsys, ["rerun", str(copy)], marker, "a stored run does not set Hydra's own settings")


def test_a_pickle_checkpoint_is_never_unpickled(finished, tmp_path, capsys, monkeypatch):
    marker = tmp_path / "marker"
    copy = copy_run(finished, tmp_path)
    for ckpt in (copy / "checkpoints").glob("*.ckpt"):
        torch.save({"state_dict": Payload(marker), "global_step": 99}, ckpt)
    refused(capsys, ["resume", str(copy), "trainer.max_epochs=3"], marker,
            "holds no checkpoint to continue from")  # fmt: skip
    monkeypatch.chdir(REPO)
    args = ["rerun", str(copy), "train=false", f"ckpt_path={copy}/checkpoints/last.ckpt",
            f"paths.log_dir={tmp_path}"]  # fmt: skip
    refused(capsys, args, marker, "not a checkpoint torch.load can read")


def test_a_run_of_your_own_configs_reruns_with_their_folder_named(finished, tmp_path, capsys):
    copy = copy_run(finished, tmp_path, **{"model.optimizer._target_": "torch.optim.RMSprop"})
    refused(capsys, ["rerun", str(copy), "--dry-run"], tmp_path / "none",
            "it is torch.optim.rmsprop.RMSprop, which no _target_ of")  # fmt: skip
    mine = tmp_path / "my_configs"
    (mine / "optimizer").mkdir(parents=True)
    (mine / "optimizer" / "rms.yaml").write_text("_target_: torch.optim.RMSprop\n")
    args = dry_run(capsys, "rerun", str(copy), "--config-dir", str(mine))
    assert args[-1] == f"hydra.searchpath=['file://{mine}']"


def test_rerunning_a_resumed_run_passes_one_checkpoint(finished, tmp_path, capsys):
    last = finished / "checkpoints" / "last.ckpt"
    copy = copy_run(finished, tmp_path, ckpt_path=str(last))  # as litlab resume made it
    overrides = copy / ".hydra" / "overrides.yaml"
    overrides.write_text(yaml.safe_dump([*yaml.safe_load(overrides.read_text()),
                                         f"ckpt_path={last}"]))  # fmt: skip
    args = dry_run(capsys, "rerun", str(copy), "train=false")
    assert [arg for arg in args if arg.startswith("ckpt_path=")] == [
        f"ckpt_path={copy}/checkpoints/{next((copy / 'checkpoints').glob('best-*')).name}"
    ]


def test_a_run_of_an_experiment_in_your_own_configs_needs_their_folder(finished, tmp_path, capsys):
    mine = tmp_path / "my_configs"
    (mine / "experiment").mkdir(parents=True)
    shutil.copy(REPO / "conf" / "experiment" / "polynomial.yaml", mine / "experiment" / "mine.yaml")
    copy = copy_run(finished, tmp_path)
    overrides = copy / ".hydra" / "overrides.yaml"
    stored = yaml.safe_load(overrides.read_text())
    overrides.write_text(yaml.safe_dump(["experiment=mine", *stored[1:]]))
    err = refused(capsys, ["rerun", str(copy), "--dry-run"], tmp_path / "none",
                  "Could not find 'experiment/mine'")  # fmt: skip
    assert err.endswith("a run of your own configs: name their folder with --config-dir DIR")
    args = dry_run(capsys, "rerun", str(copy), "--config-dir", str(mine))
    assert args[0] == "experiment=mine" and args[-1] == f"hydra.searchpath=['file://{mine}']"
