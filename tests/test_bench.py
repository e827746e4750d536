"""The benchmark runs end to end on a tiny setting and reports every number the README cites."""

from __future__ import annotations

import importlib.util
import json

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
    assert bench.main([*argv, "--data-dir", str(DATA_DIR), "--in-process"]) == 0
    results = json.loads(out.read_text())
    fashion = ("notes", "tensors", "litlab")
    assert set(results["variants"]) == {*fashion, "poly_plain", "poly_litlab"}
    for name in fashion:
        v = results["variants"][name]
        assert len(v["epoch_s"]) == 2 and all(t > 0 for t in v["epoch_s"])
        assert v["samples"] == 3 * 64
        assert v["samples_per_s"] == v["samples"] / v["median_epoch_s"]
        assert v["peak_memory_mb"] > 0
    # the same number of steps on both sides: one pass of 2000 points in batches of 200
    assert results["variants"]["poly_plain"]["steps"] == 10
    assert results["variants"]["poly_litlab"]["steps"] == 10
    targets = results["targets"]
    v = results["variants"]
    assert (
        targets["litlab_vs_tensors"]
        == v["litlab"]["median_epoch_s"] / (v["tensors"]["median_epoch_s"])
    )
    assert targets["litlab_vs_tensors_met"] == (targets["litlab_vs_tensors"] <= 1.10)
    printed = capsys.readouterr().out
    assert "(c) litlab experiment=fashion" in printed and "polynomial <= 2x plain loop" in printed
    assert printed.strip().endswith(results["table"])  # the table comes last
