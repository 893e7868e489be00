"""The authors' whole release (229 ``data_final.pkl`` files), converted one file at a time.

Why a manifest: a pickle is code-shaped data, so conversion only reads files the
release really holds. ``data/release_manifest.json`` (built by
``tools/make_release_manifest.py`` from ``original_results.csv``) pins every
release path to its git blob id (``git hash-object``) and sha256, and carries the
authors' configuration and recorded fitness for that file. A file whose bytes
differ is refused before the restricted unpickler sees it.

Each converted dataset records where it came from (the release path, relative), the
pickle's sha256, the authors' configuration and ``fitness_last10_gens``, its variant
(``REVISION`` label, width, greedy or sampled actions, generations, normalisation),
the env dynamics it was distilled on, and the credit and licence of the data.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from importlib import resources
from pathlib import Path

from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import LegacyFormatError
from hades_zoo.ids import LOCAL_SUFFIX
from hades_zoo.legacy import convert, convert_image

SOURCE = "FLAIROx/behaviour-distillation@a600a5ab24674f5a5552699b835ddef34531c10f"
MANIFEST = Path(str(resources.files("hades_zoo") / "data" / "release_manifest.json"))
CREDIT = {
    "data": f"https://github.com/{SOURCE.split('@')[0]} (commit {SOURCE.split('@')[1]})",
    "licence": "Apache-2.0 (http://www.apache.org/licenses/LICENSE-2.0)",
    "copyright": "the original authors",
    "authors": "Andrei Lupu, Chris Lu, Jarek Liesen, Robert Tjarko Lange, Jakob Foerster",
    "paper": "Behaviour Distillation, ICLR 2024 (https://openreview.net/forum?id=qup9xD8mW4; arXiv:2406.15042)",
    "changes": "converted from the unmodified result pickle: the ES mean unpacked into states/actions (or labels); "
               "no values changed",
}

# Variant labels of the release's directories (the revision grammar's `authors-{variant}-s{seed}`).
_VARIANTS = (  # (path prefix, label), first match wins
    ("results/ICLR/brax/no_virtual_batch_norm/", "main"),
    ("results/ICLR/sweep_D/", "sweep"),
    ("results/ICLR/brax/distill/", "const"),
    ("results/ICLR/half_width/", "5k-half"),
    ("results/ICLR/minatar/virtual_batch_norm/5k_generations/", "5k"),
    ("results/ICLR/mnist/", "main"),
)


def git_blob_id(data: bytes) -> str:
    """``git hash-object`` of a file's bytes (the CSV's ``git_blob``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@functools.lru_cache(maxsize=1)
def manifest() -> dict[str, dict]:
    """Release path -> {git_blob, sha256, bytes, authors (the CSV row)}."""
    return json.loads(MANIFEST.read_text())["files"]


def variant_label(path: str) -> str:
    """``main``, ``sweep``, ``const``, ``5k``, ``5k-half``, ``2k`` or ``2k-greedy`` for a release path."""
    for prefix, label in _VARIANTS:
        if path.startswith(prefix):
            return label
    if path.startswith("results/ICLR/minatar/virtual_batch_norm/"):
        return "2k-greedy" if "/greedy_actTrue/" in path else "2k"
    raise LegacyFormatError(f"{path}: not a directory of the authors' release; see release/README.md")


@dataclasses.dataclass(frozen=True)
class ReleaseFile:
    """One manifest entry: a release path and what the authors recorded for it."""

    path: str
    git_blob: str
    sha256: str
    bytes: int
    authors: dict

    @property
    def image(self) -> bool:
        return self.authors["family"] == "mnist"

    @property
    def method(self) -> str:
        return "r" if self.image else self.authors["method"].lower()

    @property
    def variant(self) -> str:
        return variant_label(self.path)

    @property
    def revision(self) -> str:
        return f"authors-{self.variant}-s{self.authors['seed']}"

    def variant_info(self) -> dict:
        a = self.authors
        return {"label": self.variant, "path_part": a.get("variant") or None, "width": a["width"],
                "actions": None if a.get("greedy_act") is None else ("greedy" if a["greedy_act"] else "sampled"),
                "generations": a["generations"], "obs_norm": a.get("obs_norm") or None}


def release_files() -> list[ReleaseFile]:
    """Every file of the release, in manifest (path) order."""
    return [ReleaseFile(p, **e) for p, e in manifest().items()]


def entry(path: str) -> ReleaseFile:
    m = manifest()
    if path not in m:
        raise LegacyFormatError(f"{path}: not in the release manifest ({len(m)} files); give a path relative to the "
                                "release root, e.g. results/ICLR/brax/no_virtual_batch_norm/distill/hopper/D64/seed0/data_final.pkl")
    return ReleaseFile(path, **m[path])


def check_file(root: str | Path, path: str) -> ReleaseFile:
    """The manifest entry of ``root/path`` once its bytes match it (git blob id, sha256, size)."""
    e = entry(path)
    full = Path(root) / path
    if not full.is_file():
        raise LegacyFormatError(f"{path}: missing under {root}; copy the authors' release there")
    data = full.read_bytes()
    blob = git_blob_id(data)
    if blob != e.git_blob or len(data) != e.bytes or hashlib.sha256(data).hexdigest() != e.sha256:
        raise LegacyFormatError(f"{path}: refused, the file was altered (git hash-object {blob[:12]}…, the release "
                                f"manifest says {e.git_blob[:12]}…); copy it again from the authors' release")
    return e


def convert_release_file(root: str | Path, path: str) -> tuple[SyntheticDataset, ReleaseFile]:
    """Check ``root/path`` against the manifest, convert it, and attach its full provenance."""
    e = check_file(root, path)
    full = Path(root) / path
    if e.image:
        ds = convert_image(full)
    else:
        ds = convert(full, e.authors["env"], e.method)
    got = ds.provenance["pickle_sha256"]
    if got != e.sha256:  # the file changed between the check and the read
        raise LegacyFormatError(f"{path}: refused, the file changed while being converted; copy it again")
    a = e.authors
    provenance = {
        **ds.provenance,
        "release_path": path, "git_blob": e.git_blob, "revision": e.revision, "variant": e.variant_info(),
        "authors_config": a, "fitness_last10_gens": a["fitness_last10_gens"], "source": SOURCE, "credit": CREDIT,
        "dynamics": ("n/a: an image task" if e.image else
                     f"2023: {'brax 0.9.x' if a['family'] == 'brax' else 'gymnax 0.0.6'} behaviour (hades_zoo.envs.dynamics_2023)"),
    }
    # the zoo's own name (an import elsewhere appends ``-local`` to a catalogued one)
    return ds.replace(name=ds.name.removesuffix(LOCAL_SUFFIX), provenance=provenance), e
