"""A non-editable install publishes: the card template is package data, not a file of the checkout.

A copy of the sources is installed with ``pip install --no-deps`` into a venv that borrows this
interpreter's site-packages for the dependencies (``--system-site-packages``); that venv's own
``distill`` console script then publishes a tiny run to the test hub from a directory outside the
repo, with ``PYTHONPATH`` unset, so nothing of the checkout can be found.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from hades_zoo import hub
from hub_fixtures import HUB_ORG, REPO, cli_env


def _install(src: Path, venv: Path, env: dict) -> None:
    """pip's build without network first (this interpreter's setuptools), then an isolated build."""
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", str(src)]
    tails = []
    for extra in (["--no-build-isolation"], []):
        proc = subprocess.run(cmd + extra, capture_output=True, text=True, env=env, cwd=venv.parent, timeout=600)
        if proc.returncode == 0:
            return
        tails.append(f"{' '.join(extra) or 'isolated build'}: " + " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]))
    raise AssertionError("pip install --no-deps failed: " + "; ".join(tails))


def test_non_editable_install_can_publish(on_hub, published, tmp_path):
    src, venv, elsewhere = tmp_path / "src", tmp_path / "venv", tmp_path / "elsewhere"
    src.mkdir()
    elsewhere.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("hades_zoo", "distill"):  # a copy: the build writes build/ and *.egg-info next to the sources
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    env = cli_env(on_hub, tmp_path / "hf_home")
    env.pop("PYTHONPATH", None)
    _install(src, venv, env)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import distill, hades_zoo.hub.cards as c; "
                            "print(distill.__file__); print(c.__file__); print(c.TEMPLATE)"],
                           capture_output=True, text=True, env=env, cwd=elsewhere, check=True).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # the installed copy, not the checkout
    shutil.rmtree(src)

    repo_id = f"{HUB_ORG}/installed-copy"
    proc = subprocess.run([str(venv / "bin" / "distill"), "publish", str(published.run_dir), "--repo-id", repo_id,
                           "--revision", "v1", "--seeds", "1", "--archs", "own", "--json"],
                          capture_output=True, text=True, env=env, cwd=elsewhere, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert (result["status"], result["repo_id"], result["sha256"]) == ("published", repo_id, published.result["sha256"])
    got = hub.download(f"{repo_id}@v1")
    body = (got.path.parent / "README.md").read_text()
    assert got.entry["sha256"] == published.result["sha256"]
    assert "## Returns per architecture" in body and f'hades_zoo.load("{repo_id}@v1")' in body  # the template's body
