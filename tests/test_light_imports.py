"""`import hades_zoo`, `hades-zoo list`, `info` and `--help` import no jax, flax, optax or simulator
(issue 20: they start in a fraction of `import jax`). Checked in a fresh interpreter: deterministic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("jax", "jaxlib", "flax", "optax", "brax", "gymnax", "mujoco", "datasets", "evosax", "matplotlib")

CODE = """
import json, sys
argv = json.loads(sys.argv[1])
if argv == ["import"]:
    import hades_zoo
    hades_zoo.__version__, hades_zoo.HadesZooError
else:
    from hades_zoo.cli import cli
    try:
        cli.main(args=argv, prog_name="hades-zoo", standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("argv", [["import"], ["list"], ["list", "--env", "hopper"], ["info", "hopper-hades-r-64"],
                                  ["info", "mnist-hades-r-1ipc", "--json"], ["--help"], ["--version"]])
def test_light_commands_import_no_jax_nor_simulator(argv, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", CODE, json.dumps(argv)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert not loaded & set(HEAVY), f"{argv} imported {sorted(loaded & set(HEAVY))}"


def test_lazy_names_resolve():
    import hades_zoo

    for name in hades_zoo.__all__:
        assert getattr(hades_zoo, name) is not None
    assert hades_zoo.bc.make_bc is not None  # a module, without `import hades_zoo.bc`
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hades_zoo.nope  # noqa: B018
