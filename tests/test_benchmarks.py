"""The benchmark runner's bookkeeping (the benchmarks themselves run in CI via --quick)."""

import json

import pytest

from benchmarks import __main__ as runner
from benchmarks.common import Contention, Result, hardware, python_in_fresh_process, write_outputs


def test_outputs_state_hardware_goals_and_figures(tmp_path, capsys):
    res = Result("demo", seeds=[0])
    res.figure("ratio", 120.0, "x", ">= 100", True)
    res.figure("missing", None, "s")
    info = {"date": "today", **hardware()}
    write_outputs(tmp_path, [res], info, "python -m benchmarks demo")
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["cores"] >= 1 and doc["versions"]["jax"] and "accelerator" in doc
    assert doc["benchmarks"][0]["figures"][0] == {"name": "ratio", "value": 120.0, "unit": "x", "goal": ">= 100", "met": True}
    md = (tmp_path / "results.md").read_text()
    assert "| demo | ratio | 120 | x | >= 100 | yes |" in md and "| demo | missing | n/a |" in md
    assert "[goal met]" in capsys.readouterr().out


def test_fresh_process_reports_failures():
    wall, doc = python_in_fresh_process("import json; print(json.dumps({'ok': 1}))")
    assert doc == {"ok": 1} and wall > 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        python_in_fresh_process("1/0")


def test_contention_counts_other_processes_not_the_benchmarks_own(monkeypatch):
    """The benchmark's own children fill both cores of an idle machine: that is not contention."""
    readings = iter([(0.0, 100.0, 5.0),  # start: (monotonic s, machine busy CPU s, own CPU s)
                     (10.0, 119.5, 24.0),  # its own child used 19 of the 19.5 busy CPU s
                     (20.0, 144.0, 34.0),  # others used 14.5 CPU s in 10 s
                     (20.5, 145.0, 34.0),  # too short an interval to count
                     (30.0, None, 40.0)])  # /proc/stat unreadable
    monkeypatch.setattr(Contention, "_now", staticmethod(lambda: next(readings)))
    load = Contention()
    load.cores = 2
    load.sample()
    assert load.others == [pytest.approx(0.05)] and load.contended is False
    load.sample()
    load.sample()
    load.sample()
    assert load.others == [pytest.approx(0.05), pytest.approx(1.45)] and load.contended is True
    summary = load.summary()
    assert summary["others_cores_peak"] == pytest.approx(1.45) and len(summary["load_samples"]) == 5
    assert "CONTENDED" in load.note()


def test_contention_is_unknown_without_proc_stat(monkeypatch):
    monkeypatch.setattr(Contention, "_now", staticmethod(lambda: (0.0, None, 0.0)))
    load = Contention()
    load.sample()
    assert load.contended is None and "unknown" in load.note()


def test_unknown_benchmark_is_refused(capsys):
    with pytest.raises(SystemExit):
        runner.main(["no-such-benchmark"])
    assert "unknown benchmark(s) no-such-benchmark" in capsys.readouterr().err


def test_throughput_levers_are_named_with_a_step_count():
    from benchmarks.distill_throughput import _parse_levers

    assert _parse_levers(["search-bc=25", "unroll=2", "early-exit", "skip-reset"]) == {
        "search-bc": 25, "unroll": 2, "early-exit": 1, "skip-reset": 1}
    for bad in (["search-bc"], ["unroll=0"], ["bf16=1"], ["search-bc=x"]):
        with pytest.raises(SystemExit, match="NAME=K"):
            _parse_levers(bad)
