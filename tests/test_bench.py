"""The benchmark compares like with like, and reports what the README cites."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import DATA_DIR, REPO


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[dict, str]:
    """One round of every variant, 2 epochs of 8 batches, in this process (quick)."""
    bench = load_bench()
    out = tmp_path_factory.mktemp("bench") / "results" / "bench.json"
    argv = [str(out), "--epochs", "2", "--limit-batches", "8", "--poly-epochs", "1"]
    argv += ["--rounds", "1", "--data-dir", str(DATA_DIR), "--in-process"]
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert bench.main(argv) == 0
    return json.loads(out.read_text()), printed.getvalue()


def test_every_fashion_variant_takes_the_same_optimizer_steps(results):
    """Each variant counts what it trained: 2 epochs of 8 optimizer steps (litlab's in one call of
    8 or in 8 calls of 1), in its round, and times each epoch."""
    variants = results[0]["variants"]
    bench = load_bench()
    for name in bench.FASHION + bench.CNN:
        rounds = variants[name]["rounds"]
        assert [len(r["epoch_s"]) for r in rounds] == [2], name
        assert [r["steps"] for r in rounds] == [16], name
    for name in ("notes", "user", "plain"):  # the plain loops also count the samples
        assert [r["samples_trained"] for r in variants[name]["rounds"]] == [2 * 8 * 64]
    # the CNN at fashion_cnn's batch size, on both sides
    assert [r["samples_trained"] for r in variants["cnn_plain"]["rounds"]] == [2 * 8 * 128]
    assert {variants[name]["samples"] for name in bench.CNN} == {8 * 128}


def test_the_polynomial_variants_take_the_same_steps(results):
    variants = results[0]["variants"]
    assert {variants[name]["steps"] for name in load_bench().POLYNOMIAL} == {10}


def test_the_table_comes_last_with_the_targets_the_readme_cites(results):
    data, printed = results
    assert data["complete"] is True  # every variant ran every round
    assert printed.strip().endswith(data["table"])
    targets = {t["target"]: t for t in data["targets"]}
    assert targets["litlab epoch / (b) plain loop's"]["limit"] == "<= 1.05"  # on CPU
    assert targets["(p) peer epoch / litlab's"]["limit"] == ">= 5"
    assert targets["polynomial: litlab µs per step / plain's"]["limit"] == "<= 1.3"
    assert targets["CNN: (cc) litlab epoch / (cb) plain loop's"]["limit"] == "<= 1.05"
    for row in ("(b) plain loop doing litlab's step", "(p) peer", "(c1) litlab steps_per_call=1",
                "(cc) litlab experiment=fashion_cnn"):  # fmt: skip
        assert row in data["table"]


def test_loop_b_uses_litlabs_optimizer_and_loop_u_torchs_default(results):
    """(b) must do litlab's work with the optimizer litlab trained with; (u) is the loop a user
    writes, torch's Adam with its defaults."""
    used = {name: v["rounds"][0]["optimizer"] for name, v in results[0]["variants"].items()
            if name in load_bench().FASHION}  # fmt: skip
    assert used["plain"] == used["litlab"] == used["litlab_k1"]
    assert used["litlab"] == {"type": "Adam", "lr": 1e-3, "fused": True}
    assert used["user"] == {"type": "Adam", "lr": 1e-3, "fused": None}
    assert used["notes"]["type"] == "SGD"
    cnn = {
        name: results[0]["variants"][name]["rounds"][0]["optimizer"]
        for name in ("cnn_plain", "cnn_litlab")
    }
    assert cnn["cnn_plain"] == cnn["cnn_litlab"] == {"type": "AdamW", "lr": 3e-3, "fused": True}
