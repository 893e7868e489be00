"""The benchmark runner's bookkeeping (the benchmarks themselves run in CI via --quick)."""

import json

import pytest

from benchmarks import __main__ as runner
from benchmarks.common import Result, hardware, python_in_fresh_process, write_outputs


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
