"""The accelerator check (benchmarks/gpu_check.py): its comparison with the authors' curves,
the committed reference curves, and one toy run of its engine section on CPU."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import gpu_check

RELEASE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "release"


def test_moving_mean_is_trailing_and_short_at_the_start():
    x = np.arange(1.0, 13.0)
    ma = gpu_check.moving_mean(x, window=3)
    assert ma[:3].tolist() == [1.0, 1.5, 2.0]
    assert ma[3:].tolist() == pytest.approx([(k - 1 + k + k + 1) / 3 for k in range(3, 12)])


def test_band_and_verdict():
    ref = np.stack([np.full(40, 100.0), np.full(40, 110.0), np.full(40, 120.0)])
    lo, hi = gpu_check.authors_band(ref, 30)
    spread = np.std([100.0, 110.0, 120.0])
    assert lo.shape == (30,) and lo[0] == pytest.approx(100 - spread) and hi[-1] == pytest.approx(120 + spread)
    inside = gpu_check.compare([105.0] * 30, ref)
    assert inside["verdict"] == "inside" and inside["inside_share"] == 1.0 and inside["generations_compared"] == 30
    low = gpu_check.compare([105.0] * 20 + [0.0] * 10, ref)  # the moving mean falls below the band
    assert low["verdict"] == "outside" and 0 < low["inside_share"] < 1 and low["outside_generations"][-1] == 30
    assert gpu_check.compare([105.0] * 60, ref)["generations_compared"] == 40  # only where the authors' curve exists


def test_committed_reference_is_the_authors_three_seeds():
    ref = gpu_check.reference_curves()
    assert ref.shape == (3, 1000) and np.isfinite(ref).all()
    doc = json.loads(gpu_check.REFERENCE.read_text())
    assert doc["es_config"]["popsize"] == 2048 and doc["es_config"]["dataset_size"] == 64


@pytest.mark.skipif(not RELEASE.is_dir(), reason="../shared/reference/release not present")
def test_committed_reference_matches_the_pickles():
    assert gpu_check.make_reference(RELEASE) == json.loads(gpu_check.REFERENCE.read_text())


def test_toy_engine_section_writes_one_small_folder(tmp_path):
    out = tmp_path / "gpu"
    # a generous global budget (its watchdog would end the test process), a 1 s engine box: 2 generations
    assert gpu_check.main(["--toy", "--sections", "engine", "--budget", "900", "--engine-s", "1", "--out", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["fitness.csv", "fitness.png", "log.txt", "results.json", "summary.md"]
    doc = json.loads((out / "results.json").read_text())
    assert doc["toy"] and doc["sections"]["device"]["status"] == "done"
    eng = doc["sections"]["engine"]
    assert eng["status"] == "done" and eng["generations"] == 2 and eng["generations_per_s"] > 0
    assert eng["comparison"]["generations_compared"] == eng["generations"]
    rows = (out / "fitness.csv").read_text().splitlines()
    assert rows[0].startswith("generation,") and len(rows) == eng["generations"] + 1
    assert "moving mean vs authors' band" in (out / "summary.md").read_text()
