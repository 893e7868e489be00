"""The generalisation matrix: grid rows against the dataset's own recipe, in the real env."""

import json

import numpy as np
import pytest
from conftest import run_cli

from hades_zoo.errors import ConfigError
from hades_zoo.grid import generalize
from hades_zoo.scores import relative_score


def test_generalize_cli_cartpole(tmp_path):
    plot = tmp_path / "grid.png"
    proc = run_cli("generalize", "cartpole-hades-r-4", "--archs", "mlp-2x64-tanh,resmlp-1x64-relu", "--seeds", 2,
                   "--anchors", 64, "--json", "--plot", plot)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["score"] == "ratio" and out["seeds"] == 2 and out["protocol"] == "episodes"
    ref = out["reference"]
    assert (ref["arch"], ref["lr"], ref["epochs"]) == ("mlp-2x64-tanh", 0.01, 100)
    rows = {(r["arch"], r["transfer"]): r for r in out["rows"]}  # plain BC and teacher side by side, per cell
    assert list(rows) == [(a, t) for a in ("mlp-2x64-tanh", "resmlp-1x64-relu") for t in ("none", "teacher")]
    for r in rows.values():
        assert (r["lr"], r["epochs"]) == (0.01, 100) and len(r["returns"]) == 2
        assert r["mean"] == pytest.approx(np.mean(r["returns"]))
        assert r["relative"] == pytest.approx(r["mean"] / ref["mean"])
    # the dataset's own recipe as a plain-BC grid cell: same seeds, same init, same rollouts
    assert rows["mlp-2x64-tanh", "none"]["returns"] == ref["returns"] and rows["mlp-2x64-tanh", "none"]["relative"] == 1.0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generalize_transfer_columns_in_the_card_table():
    res = generalize("cartpole-hades-r-4", ["mlp-1x8-relu"], num_seeds=1, transfer=("teacher", "none"), anchors=16)
    assert [r.transfer for r in res.rows] == ["teacher", "none"] and res.matrix().shape == (1, 2)
    matrix = res.to_markdown("matrix")
    assert "lr 0.01, 100 steps, plain BC | lr 0.01, 100 steps, teacher |" in matrix  # plain first, then the teacher
    assert "| mlp-1x8-relu | 0.01 | 100 | teacher |" in res.to_markdown()
    teacher_row, plain_row = (r.to_json() for r in res.rows)
    assert teacher_row["student"] == {"lr": 0.01, "epochs": 300, "select": "none", "anchors": 16}  # the student's 3x steps
    assert teacher_row["epochs"] == 100 and "student" not in plain_row
    with pytest.raises(ConfigError, match="unknown transfer 'distil' for the grid"):
        generalize("cartpole-hades-r-4", ["mlp-1x8-relu"], num_seeds=1, transfer=("distil",))


def test_generalize_negative_returns_use_the_normalised_score():
    short = {"name": "short", "n_envs": 4, "n_steps": None, "sample_actions": False, "metric": "first_episode"}
    res = generalize("acrobot-hades-r-4", ["mlp-2x64-tanh"], lrs=[0.003], num_seeds=2, protocol=short, transfer="none")
    assert res.score == "normalized" and res.random is not None
    assert res.random.mean < res.reference.mean < 0
    for row in res.rows:
        want = (row.mean - res.random.mean) / (res.reference.mean - res.random.mean)
        assert row.relative == pytest.approx(want)
    assert res.reference.relative == 1.0
    table = res.to_markdown()
    assert "| mlp-2x64-tanh | 0.003 | 100 | plain BC |" in table and "normalised score" in table
    assert res.matrix().shape == (1, 1)
    assert "| mlp-2x64-tanh | " + f"{res.rows[0].relative:.2f} ({res.rows[0].mean:.0f}) |" in res.to_markdown("matrix")


def test_relative_score():
    assert relative_score(450.0, 500.0) == 0.9
    assert relative_score(-100.0, -80.0, -500.0) == pytest.approx(400 / 420)
    with pytest.raises(ConfigError, match="needs the random policy"):
        relative_score(-100.0, -80.0)


@pytest.mark.parametrize("args, needle", [
    (["--archs", "mlp-2x64-banana"], "unknown activation 'banana'"),
    (["--lrs", "fast"], "--lrs 'fast': not a comma-separated list of float"),
    (["--plot", "grid.pdf"], "written as PNG"),
])
def test_generalize_bad_input(args, needle):
    proc = run_cli("generalize", "cartpole-hades-r-4", *args)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and needle in last, last
