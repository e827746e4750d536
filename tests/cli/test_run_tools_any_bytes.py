"""The run tools never hide runs: any bytes in any file of a folder make that folder unreadable,
with the reason, and every other run is still listed (litlab runs, summary, diff); what a
resumed run used is what is listed; a checkpoint or study that cannot be read is named."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from litlab.cli import main as litlab
from litlab.errors import UserError
from litlab.run_folder.checkpoints import newest_checkpoint
from litlab.run_folder.folder import Run, find_jobs
from litlab.sweeps.search.storage import open_storage
from litlab.sweeps.summary import markdown
from litlab.sweeps.summary import write_csv as summary_csv
from tests.run_folder.test_run_folder import write_run

FILES = ("status.json", "metrics.json", ".hydra/overrides.yaml", ".hydra/config.yaml",
         ".hydra/hydra.yaml", "run_record.json")  # fmt: skip
STATUS = {"status": "completed", "error": None, "started": 1.7e9, "finished": 1.7e9 + 5,
          "pid": 1, "host": "elsewhere"}  # fmt: skip
ABSURD = {  # name: (file, bytes, the reason listed)
    "not_utf8": ("status.json", b'{"status": "completed\xff\xfe"}', "status.json is not JSON"),
    "inf": ("status.json", json.dumps(STATUS).replace("1700000000.0,", "1e400,").encode(),
            "status.json has started=inf"),
    "huge_int": ("status.json", json.dumps(STATUS | {"pid": 10**30}).encode(),
                 "status.json has pid=1000000000000000000000000000000"),
    "year_99999": ("status.json", json.dumps(STATUS | {"started": 1e15}).encode(),
                   "status.json has started=1000000000000000.0"),
    "metrics_int": ("metrics.json", b'{"val/acc": 1' + b"0" * 400 + b"}",
                    "metrics.json holds a number too large"),
    "overrides": (".hydra/overrides.yaml", b"- seed=1\n- \xff\xfe\x00", ".hydra/overrides.yaml"),
    "config": (".hydra/config.yaml", b"[" * 5000, ".hydra/config.yaml cannot be read"),
}  # fmt: skip


def listed(folder: Path, capsys) -> dict[str, dict[str, str]]:
    """``litlab runs --csv``'s rows by folder name (and the table printed without a failure)."""
    assert litlab(["runs", str(folder)]) == 0
    capsys.readouterr()
    assert litlab(["runs", str(folder), "--csv"]) == 0
    rows = csv.DictReader(capsys.readouterr().out.splitlines())
    return {Path(row["folder"]).name: row for row in rows}


def spoil(folder: Path, file: str, data: bytes) -> Path:
    (folder / file).write_bytes(data)
    return folder


def test_absurd_bytes_make_their_folder_unreadable_and_the_others_are_listed(tmp_path, capsys):
    write_run(tmp_path / "0")
    for i, (file, data, _) in enumerate(ABSURD.values(), start=1):
        spoil(write_run(tmp_path / str(i), [f"seed={i}"]), file, data)
    rows = listed(tmp_path, capsys)
    assert rows["0"]["status"] == "completed"
    for i, (name, (_, _, reason)) in enumerate(ABSURD.items(), start=1):
        assert rows[str(i)]["status"] == "unreadable", name
        assert rows[str(i)]["error"].startswith(reason), (name, rows[str(i)]["error"])
    assert litlab(["summary", str(tmp_path)]) == 1  # unreadable jobs: not a good sweep
    out = capsys.readouterr().out
    assert f"{len(ABSURD) + 1} jobs: 1 completed, {len(ABSURD)} unreadable" in out
    for i in range(1, len(ABSURD) + 1):
        assert litlab(["diff", str(tmp_path / "0"), str(tmp_path / str(i))]) == 0
        assert "unreadable" in capsys.readouterr().out


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**40), 10**40) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
CONTENT = st.one_of(
    st.binary(max_size=64),
    JSON.map(lambda value: json.dumps(value).encode()),
    JSON.map(lambda value: yaml.safe_dump(value).encode()),
    st.dictionaries(st.sampled_from(sorted(STATUS)), JSON).map(
        lambda part: json.dumps(STATUS | part).encode()),
)  # fmt: skip


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(file=st.sampled_from(FILES), data=CONTENT)
def test_any_bytes_in_any_file_never_hide_the_other_runs(tmp_path_factory, capsys, file, data):
    root = tmp_path_factory.mktemp("runs")
    write_run(root / "0")
    spoil(write_run(root / "1", ["seed=2"]), file, data)
    rows = listed(root, capsys)
    assert rows["0"]["status"] == "completed" and rows["0"]["error"] == ""
    assert "1" in rows
    if rows["1"]["status"] == "unreadable":
        assert rows["1"]["error"]
    jobs = find_jobs(root)
    summary_csv(root / "summary.csv", jobs, ["val/acc"])
    assert "| 0 |" in markdown(jobs, ["val/acc"], "val/acc", "max") or len(jobs) == 2
    assert litlab(["diff", str(root / "0"), str(root / "1")]) == 0
    capsys.readouterr()


def test_a_resumed_runs_listing_shows_the_overrides_it_used(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # piped: one line a run, whole
    typed = ["experiment=polynomial", "trainer.max_epochs=2", "ckpt_path=/a/last.ckpt",
             "seed=3", "trainer.max_epochs=4", "ckpt_path=/b/last.ckpt"]  # fmt: skip
    write_run(tmp_path / "resumed", typed)
    run = Run(tmp_path / "resumed")
    assert run.used_overrides() == ["experiment=polynomial", "seed=3", "trainer.max_epochs=4",
                                    "ckpt_path=/b/last.ckpt"]  # fmt: skip
    assert run.overrides_without("ckpt_path") == [o for o in typed if "ckpt" not in o]
    assert listed(tmp_path, capsys)["resumed"]["overrides"] == " ".join(run.used_overrides())
    assert litlab(["runs", str(tmp_path)]) == 0
    assert "seed=3 trainer.max_epochs=4" in capsys.readouterr().out


def test_a_checkpoint_that_does_not_load_is_named_when_another_is_used(tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    torch.save({"state_dict": {}, "global_step": 5}, tmp_path / "checkpoints" / "interrupted.ckpt")
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 cut short by a kill")
    assert newest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "interrupted.ckpt"
    assert capsys.readouterr().err == (
        f"warning: checkpoints/last.ckpt in {tmp_path} cannot be loaded (cut short or not a "
        "checkpoint); continuing from checkpoints/interrupted.ckpt\n"
    )


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_study_file_that_is_not_one_is_refused_in_one_line(tmp_path, kind):
    if kind == "sqlite":
        (tmp_path / "optuna.db").write_bytes(b"garbage, not SQLite" * 100)
        config = {
            "_target_": "optuna.storages.RDBStorage",
            "url": f"sqlite:///{tmp_path}/optuna.db",
        }
        reason = "DatabaseError: file is not a database"
    else:
        (tmp_path / "optuna.journal").write_bytes(b"\xff\xfe garbage\n")
        backend = {"_target_": "optuna.storages.journal.JournalFileBackend",
                   "file_path": str(tmp_path / "optuna.journal")}  # fmt: skip
        config = {"_target_": "optuna.storages.JournalStorage", "log_storage": backend}
        reason = "UnicodeDecodeError"
    with pytest.raises(UserError) as error:
        open_storage(OmegaConf.create(config))
    message = str(error.value)
    assert message.startswith("hydra.sweeper.storage (") and "\n" not in message
    assert f"{tmp_path}/optuna." in message
    assert f"cannot be opened: {reason}" in message


@pytest.mark.slow  # imports the Optuna sweeper and SQLAlchemy: the test above is the quick one
def test_a_search_whose_study_file_is_not_one_stops_in_one_line(tmp_path, monkeypatch, capsys):
    """As ``litlab resume`` of a search opens its study: the study file, replaced by garbage."""
    from tests.conftest import train_main

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "optuna.db").write_bytes(b"not a database\n" * 200)
    code, stderr = train_main(monkeypatch, capsys, "-m", "hparams_search=fashion_optuna",
                              f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert code == 2 and "Traceback" not in stderr, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        f"error: hydra.sweeper.storage (sqlite:///{sweep}/optuna.db) cannot be opened: "
        "DatabaseError: file is not a database"
    )
    assert (sweep / "optuna.db").read_bytes() == b"not a database\n" * 200
