"""issue 21's ablation configs are valid and the table script summarises a run dir, even a partial one."""

import json
from pathlib import Path

import pytest

from benchmarks import search_ablation
from distill.config import build_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "distill" / "zoo_configs" / "issue21").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds(path):
    cfg = build_config(config_file=str(path))
    assert cfg.size >= 1 and cfg.popsize % 2 == 0


def test_table_from_partial_run(tmp_path):
    run = tmp_path / "runs" / "demo"
    run.mkdir(parents=True)
    cfg = build_config(config_file=str(CONFIGS[0]))
    (run / "config.toml").write_text(cfg.to_toml())
    rows = [{"generation": g, "fitness_mean": 10.0 * g, "fitness_max": 20.0 * g, "fitness_min": 0.0,
             "wall_s": 100.0 if g <= 2 else 130.0, "env_steps": 1000 * g} for g in range(1, 5)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "final_eval.json").write_text(json.dumps({"mean": 123.4, "std": 5.0, "arch": "mlp-2x512-tanh",
                                                     "protocol": {"name": "paper-brax"}}))
    out = tmp_path / "out"
    search_ablation.main([str(run), "--out", str(out)])
    (row,) = json.loads((out / "ablation.json").read_text())
    assert row["generations_done"] == 4 and row["fitness_max_ever"] == 80.0
    assert row["s_per_gen_last"] == 15.0  # last chunk: 30 s over 2 generations, compile excluded
    assert row["final_eval"] == 123.4 and row["final_eval_protocol"] == "paper-brax"
    assert (out / "demo.png").read_bytes()[:4] == b"\x89PNG" and (out / "ablation.csv").exists()
    # --keep: rows of runs not given again (their run dirs are gone) stay in the table
    (out / "ablation.json").write_text(json.dumps([{**row, "run": "gone"}, row]))
    search_ablation.main([str(run), "--out", str(out), "--keep"])
    assert [r["run"] for r in json.loads((out / "ablation.json").read_text())] == ["gone", "demo"]
