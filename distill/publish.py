"""``distill publish``: evaluate a dataset, then push it to a hub dataset repo with its card.

One dataset repo per dataset (``HfApi.create_repo(exist_ok=True)``), one ``create_commit`` on
``main`` holding every file, one git tag per version (``v1``, ``v2``, ...):

    <name>.safetensors                  the dataset, byte for byte the file that was evaluated
    data/train-00000-of-00001.parquet   the same pairs, one row each, for ``datasets.load_dataset``
    metrics.json                        returns per architecture, fitness curve, hashes, provenance
    figures/fitness.png                 the ES fitness per generation (run directories only)
    figures/dataset.png, figures/returns.png
    README.md                           the card (``distill.card``, template ``cards/dataset_card.md``)

Idempotent: when the tag already holds the same dataset bytes nothing is evaluated or pushed;
different bytes under an existing tag are refused (``PublishConflictError``) unless ``force``,
which commits them and moves the tag. Without a revision the next free ``vN`` is used (or
nothing happens if the latest ``vN`` already holds these bytes). The token comes from
``HF_TOKEN`` or ``hf auth login`` through ``huggingface_hub`` and is never printed or stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path

from distill import card as cards
from distill import figures
from hades_zoo import format as fmt
from hades_zoo import hub
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import (ConfigError, CorruptDatasetError, HubError, IncompatibleDatasetError,
                              PublishConflictError)

PARQUET_FILE = "data/train-00000-of-00001.parquet"
DEFAULT_ARCHS = ("own", "mlp-2x256-tanh", "mlp-4x256-relu")
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# -- what is published ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Source:
    """The dataset file to publish (verified), and the run directory it came from, if any."""

    path: Path
    data: bytes
    dataset: SyntheticDataset
    run_dir: Path | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def fitness(self) -> list[dict] | None:
        path = self.run_dir / "metrics.jsonl" if self.run_dir else None
        if path is None or not path.is_file():
            return None
        rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
        return rows or None

    def run_text(self, name: str) -> str | None:
        path = self.run_dir / name if self.run_dir else None
        return path.read_text() if path is not None and path.is_file() else None


def resolve_source(source: str | Path, which: str = "mean") -> Source:
    """A ``.safetensors`` file, a ``distill`` run directory (its ``{which}.safetensors``,
    ``metrics.jsonl``, ``command.txt``, ``config.toml``) or a bundled catalog name."""
    from hades_zoo.sources import ZOO_DIR, catalog

    p = Path(source)
    if p.is_dir():
        path = p / f"{which}.safetensors"
        if not path.is_file():
            raise ConfigError(f"{p}: no {path.name}; give a .safetensors file or a distill run directory "
                              f"(finish it with `distill resume {p}`)")
        run_dir = p
    elif p.is_file():
        path = p
        run_dir = p.parent if (p.parent / "metrics.jsonl").is_file() and (p.parent / "config.toml").is_file() else None
    elif str(source) in catalog():
        path, run_dir = ZOO_DIR / catalog()[str(source)]["file"], None
    else:
        raise ConfigError(f"{source}: no such file, run directory or bundled dataset name")
    data = path.read_bytes()
    ds = SyntheticDataset.load(path)  # format, payload sha256, shapes
    if path.read_bytes() != data:
        raise ConfigError(f"{path} changed while it was read; publish it once the run has stopped writing")
    return Source(path, data, ds, run_dir)


def evaluate_archs(ds: SyntheticDataset, archs=DEFAULT_ARCHS, seeds: int = 8) -> list[dict]:
    """Behaviour-clone every architecture on the dataset (``seeds`` seeds, one vmap each) and evaluate
    with the dataset's protocol: ``hades_zoo.generalize`` over the architectures, so every row also
    carries its score relative to the dataset's own architecture, which comes first (``"own"`` names it)."""
    import hades_zoo
    from hades_zoo.generalize import generalize

    own = ds.recipe.arch
    others = [a for a in dict.fromkeys(own if a in ("own", "dataset") else a for a in archs) if a != own]

    def row(arch, result, relative, score):
        return {"arch": arch, "own": arch == own, "protocol": result.protocol, "mean": result.mean, "std": result.std,
                "returns": [float(r) for r in result.returns], "relative": float(relative), "score": score}

    if not others:
        result = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=seeds), seed=0)
        return [row(own, result, 1.0, "ratio")]
    grid = generalize(ds, others, num_seeds=seeds, seed=0)
    return [row(own, grid.reference.result, grid.reference.relative, grid.score)] + [
        row(r.arch, r.result, r.relative, grid.score) for r in grid.rows]


def parquet_bytes(ds: SyntheticDataset) -> bytes:
    """The pairs as one parquet table: ``index``, ``state`` (flattened obs) and ``action`` or ``label``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def column(arr):
        flat = np.asarray(arr, np.float32).reshape(ds.size, -1)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel(), pa.float32()), flat.shape[1])

    names = cards.columns(ds)
    table = pa.table({names[0]: pa.array(np.arange(ds.size, dtype=np.int32)), names[1]: column(ds.states),
                      names[2]: column(ds.targets)})
    meta = {"env_id": ds.env_id, "obs_shape": list(ds.spec.obs_shape), "format": fmt.FORMAT_VERSION}
    table = table.replace_schema_metadata({"hades_zoo": json.dumps(meta, sort_keys=True)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _image_grid(ds: SyntheticDataset) -> bytes:
    """An image dataset's figure: its synthetic images, one column per class."""
    from hades_zoo.supervised import image_grid_png

    buf = io.BytesIO()
    image_grid_png(ds, buf)
    return buf.getvalue()


def build_files(src: Source, evaluation: list[dict], repo_id: str, revision: str) -> dict[str, bytes]:
    """Every file of the commit, path in repo -> bytes."""
    ds = src.dataset
    name = ds.name or src.path.stem
    file = f"{name}.safetensors"
    fitness = src.fitness()
    rec = (ds.recorded_return or {}).get("value")
    out = {file: src.data, PARQUET_FILE: parquet_bytes(ds),
           "figures/dataset.png": figures.dataset_png(ds, f"{name}: {ds.size} pairs ({ds.env_id})") if ds.task == "rl"
           else _image_grid(ds),
           "figures/returns.png": figures.returns_png(evaluation, f"{name}: behaviour cloning, {len(evaluation[0]['returns'])} seeds",
                                                     recorded=rec)}
    if fitness:
        out["figures/fitness.png"] = figures.fitness_png(fitness, f"{name}: distillation fitness")
    metrics = {
        "name": name, "repo_id": repo_id, "revision": revision, "file": file, "bytes": len(src.data),
        "sha256": src.sha256, "payload_sha256": fmt.payload_sha256(ds.tensors()), "env_id": ds.env_id,
        "method": ds.method, "size": ds.size,
        "evaluation": {"seeds": len(evaluation[0]["returns"]), "protocol": evaluation[0]["protocol"], "archs": evaluation},
        "recorded_return": ds.recorded_return,
        "fitness": None if not fitness else {"generations": fitness[-1]["generation"], "final": fitness[-1],
                                             "best": max(r["fitness_max"] for r in fitness), "curve": fitness},
        "provenance": ds.provenance, "versions": ds.versions,
    }
    out["metrics.json"] = (json.dumps(metrics, indent=1, sort_keys=True) + "\n").encode()
    card = cards.build_card(ds, repo_id=repo_id, revision=revision, file=file, data=src.data, evaluation=evaluation,
                            fitness=fitness, command=(src.run_text("command.txt") or "").strip() or None,
                            config_toml=src.run_text("config.toml"))
    out[hub.CARD_FILE] = str(card).encode()
    return out


# -- the hub side -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PublishResult:
    repo_id: str
    revision: str
    status: str  # "published" | "unchanged" | "replaced"
    sha256: str
    commit: str | None
    url: str
    files: tuple[str, ...] = ()
    evaluation: tuple = ()

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "files": list(self.files), "evaluation": list(self.evaluation)}


def _hub_call(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (HubError, IncompatibleDatasetError, CorruptDatasetError):
        raise
    except Exception as e:  # noqa: BLE001 - one typed error with the fix
        raise hub.translate(e, what) from e


def _refs(api, repo_id: str):
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return api.list_repo_refs(repo_id, repo_type=hub.REPO_TYPE)
    except RepositoryNotFoundError:
        return None


def _published_sha(api, repo_id: str, commit: str) -> str | None:
    """sha256 of the dataset the card at ``commit`` pins (None: no hades-zoo card there)."""
    from huggingface_hub.errors import RemoteEntryNotFoundError

    try:
        path = api.hf_hub_download(repo_id, hub.CARD_FILE, repo_type=hub.REPO_TYPE, revision=commit,
                                   cache_dir=str(hub.cache_dir()))
        return hub.read_card(path, f"{repo_id}@{commit[:12]}")["hades_zoo"]["sha256"]
    except (RemoteEntryNotFoundError, IncompatibleDatasetError, CorruptDatasetError):
        return None


def publish(source: str | Path, repo_id: str | None = None, revision: str | None = None, *, private: bool = False,
            force: bool = False, seeds: int = 8, archs=DEFAULT_ARCHS, which: str = "mean", token: str | None = None,
            license: str = "apache-2.0") -> PublishResult:
    """Evaluate ``source`` and publish it as ``repo_id`` at tag ``revision``.

    Args:
        source: a ``.safetensors`` file, a ``distill`` run directory or a bundled name.
        repo_id (*optional*): ``org/name``; defaults to ``$HADES_ZOO_HUB_ORG/<dataset name>``.
        revision (*optional*): the tag, e.g. ``v1``; defaults to the next free ``vN``.
        private: create the repo private (an existing repo keeps its visibility).
        force: move an existing tag that holds different bytes.
        seeds, archs: the evaluation (``"own"`` is the dataset's architecture, always included).
        token (*optional*): defaults to ``HF_TOKEN`` / the saved login.

    Raises:
        PublishConflictError: the tag holds different bytes and ``force`` is not set.
        HubAuthError, HubNotFoundError, HubConnectionError, HubError: the hub refused or failed.
        ConfigError: bad source, repo id or revision.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    if hub.offline():
        raise HubError("publishing needs the hub and HF_HUB_OFFLINE is set; unset HF_HUB_OFFLINE")
    src = resolve_source(source, which)
    ds = src.dataset
    if repo_id is None:
        if not ds.name:
            raise ConfigError(f"{src.path}: the dataset has no name; pass --repo-id ORG/NAME")
        repo_id = f"{hub.hub_org()}/{ds.name}"
    if not hub.is_repo_id(repo_id) or "@" in repo_id or repo_id.startswith("hf://"):
        raise ConfigError(f"--repo-id {repo_id!r} is not ORG/NAME (letters, digits, '.', '_', '-')")
    if revision is not None and (not _TAG_RE.match(revision) or revision == "main" or re.fullmatch(r"[0-9a-f]{40}", revision)):
        raise ConfigError(f"--revision {revision!r} is not a tag name like v1 (not 'main', not a commit hash)")
    if seeds < 1:
        raise ConfigError("seeds must be >= 1")
    api = HfApi(endpoint=hub.endpoint(), token=token)
    url = f"{hub.endpoint()}/datasets/{repo_id}"
    if token is None and not hub.has_token():  # fail before the evaluation, not after it
        raise hub.auth_error(401)
    _hub_call(repo_id, api.whoami)

    refs = _hub_call(repo_id, _refs, api, repo_id)
    tags = {t.name: t.target_commit for t in refs.tags} if refs else {}
    if revision is None:  # next free vN, unless the latest vN already holds these bytes
        numbers = sorted(int(t[1:]) for t in tags if re.fullmatch(r"v\d+", t))
        latest = f"v{numbers[-1]}" if numbers else None
        if latest and _hub_call(repo_id, _published_sha, api, repo_id, tags[latest]) == src.sha256:
            return PublishResult(repo_id, latest, "unchanged", src.sha256, tags[latest], f"{url}/tree/{latest}")
        revision = f"v{(numbers[-1] if numbers else 0) + 1}"
    replacing = revision in tags
    if replacing:
        remote_sha = _hub_call(repo_id, _published_sha, api, repo_id, tags[revision])
        if remote_sha == src.sha256:
            return PublishResult(repo_id, revision, "unchanged", src.sha256, tags[revision], f"{url}/tree/{revision}")
        if not force:
            raise PublishConflictError(
                f"{repo_id}@{revision} already holds different bytes (sha256 {str(remote_sha)[:12]}…, yours "
                f"{src.sha256[:12]}…); publish a new version with --revision v{_next(tags)}, or pass --force to move the tag")

    evaluation = evaluate_archs(ds, archs, seeds)
    files = build_files(src, evaluation, repo_id, revision)
    _hub_call(repo_id, api.create_repo, repo_id, repo_type=hub.REPO_TYPE, private=private, exist_ok=True)
    refs = _hub_call(repo_id, _refs, api, repo_id)
    head = next((b.target_commit for b in refs.branches if b.name == "main"), None) if refs else None
    ops = [CommitOperationAdd(path, data) for path, data in sorted(files.items())]
    if head is not None:  # files of an earlier publish that this one does not rewrite
        old = _hub_call(repo_id, api.list_repo_files, repo_id, repo_type=hub.REPO_TYPE, revision=head)
        ops += [CommitOperationDelete(p) for p in old if p not in files
                and (p.endswith(".safetensors") or p.startswith(("data/", "figures/")))]
    own = evaluation[0]
    info = _hub_call(repo_id, api.create_commit, repo_id, ops, repo_type=hub.REPO_TYPE, revision="main", parent_commit=head,
                     commit_message=f"Publish {ds.name or src.path.stem} {revision} (sha256 {src.sha256[:12]})",
                     commit_description=f"{own['arch']}: {own['mean']:.2f} ± {own['std']:.2f} over {len(own['returns'])} seeds "
                                        f"({own['protocol']}); published by distill publish")
    if replacing:
        _hub_call(repo_id, api.delete_tag, repo_id, tag=revision, repo_type=hub.REPO_TYPE)
    _hub_call(repo_id, api.create_tag, repo_id, tag=revision, revision=info.oid, repo_type=hub.REPO_TYPE,
              tag_message=f"{ds.name or src.path.stem} {revision}, sha256 {src.sha256}")
    return PublishResult(repo_id, revision, "replaced" if replacing else "published", src.sha256, info.oid,
                         f"{url}/tree/{revision}", tuple(sorted(files)), tuple(evaluation))


def _next(tags: dict) -> int:
    return max([int(t[1:]) for t in tags if re.fullmatch(r"v\d+", t)] or [0]) + 1


__all__ = ["publish", "resolve_source", "evaluate_archs", "build_files", "parquet_bytes", "PublishResult", "Source",
           "DEFAULT_ARCHS", "PARQUET_FILE"]
