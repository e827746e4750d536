"""The benchmark runs end to end on a tiny setting and reports every number the README cites."""

from __future__ import annotations

import importlib.util
import json
import statistics

from .conftest import DATA_DIR, REPO


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_writes_its_table_and_json(tmp_path, capsys):
    bench = load_bench()
    out = tmp_path / "results" / "bench.json"
    argv = [str(out), "--epochs", "2", "--limit-batches", "3", "--poly-epochs", "1"]
    argv += ["--rounds", "2"]
    assert bench.main([*argv, "--data-dir", str(DATA_DIR), "--in-process"]) == 0
    results = json.loads(out.read_text())
    fashion = ("notes", "tensors", "litlab", "floor")
    assert set(results["variants"]) == {*fashion, "poly_plain", "poly_litlab", "poly_floor"}
    for name in fashion:
        v = results["variants"][name]
        # 2 rounds of 2 epochs, pooled: the median is over all 4
        assert [len(r["epoch_s"]) for r in v["rounds"]] == [2, 2]
        assert v["epoch_s"] == v["rounds"][0]["epoch_s"] + v["rounds"][1]["epoch_s"]
        assert all(t > 0 for t in v["epoch_s"])
        assert v["median_epoch_s"] == statistics.median(v["epoch_s"])
        assert v["best_epoch_s"] == min(v["epoch_s"])
        assert v["samples"] == 3 * 64
        assert v["samples_per_s"] == v["samples"] / v["median_epoch_s"]
        assert v["peak_memory_mb"] > 0
    # the same number of steps on both sides: one pass of 2000 points in batches of 200
    assert results["variants"]["poly_plain"]["steps"] == 10
    assert results["variants"]["poly_litlab"]["steps"] == 10
    assert results["variants"]["poly_floor"]["steps"] == 10
    targets = results["targets"]
    v = results["variants"]
    assert (
        targets["litlab_vs_tensors"]
        == v["litlab"]["median_epoch_s"] / (v["tensors"]["median_epoch_s"])
    )
    assert targets["litlab_vs_tensors_met"] == (targets["litlab_vs_tensors"] <= 1.10)
    assert (
        targets["floor_vs_tensors"]
        == v["floor"]["median_epoch_s"] / (v["tensors"]["median_epoch_s"])
    )
    printed = capsys.readouterr().out
    assert "(c) litlab experiment=fashion" in printed and "polynomial <= 2x plain loop" in printed
    assert "(l) Lightning floor: Trainer(barebones=True)" in printed
    assert printed.strip().endswith(results["table"])  # the table comes last
