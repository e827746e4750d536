"""The benchmark compares like with like, and reports what the README cites."""

from __future__ import annotations

import importlib.util
import json

import pytest

from .conftest import DATA_DIR, REPO


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[dict, str]:
    """Two rounds of every variant, 2 epochs of 8 batches, in this process (quick)."""
    bench = load_bench()
    out = tmp_path_factory.mktemp("bench") / "results" / "bench.json"
    argv = [str(out), "--epochs", "2", "--limit-batches", "8", "--poly-epochs", "1"]
    argv += ["--rounds", "2", "--data-dir", str(DATA_DIR), "--in-process"]
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert bench.main(argv) == 0
    return json.loads(out.read_text()), printed.getvalue()


def test_every_fashion_variant_trains_on_the_same_samples_per_epoch(results):
    variants = results[0]["variants"]
    bench = load_bench()
    for name in bench.FASHION:
        v = variants[name]
        assert [len(r["epoch_s"]) for r in v["rounds"]] == [2, 2], name  # 2 rounds x 2 epochs
        assert v["samples"] == 8 * 64, name
        assert v["low"] <= v["median"] <= v["high"], name
    # litlab trained 8 optimizer steps an epoch, in one call of 8 or in 8 calls of 1
    assert [r["steps"] for r in variants["litlab"]["rounds"]] == [16, 16]
    assert [r["steps"] for r in variants["litlab_k1"]["rounds"]] == [16, 16]


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
    for row in ("(b) plain loop doing litlab's step", "(p) peer", "(c1) litlab steps_per_call=1"):
        assert row in data["table"]


def test_loop_b_uses_litlabs_optimizer_and_loop_u_torchs_default():
    """(b) must do litlab's work with litlab's optimizer; (u) is the loop a user writes."""
    import torch

    bench = load_bench()
    optimizer = bench.litlab_optimizer(torch.nn.Linear(2, 2))
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.defaults["fused"] is True and optimizer.defaults["lr"] == 1e-3
