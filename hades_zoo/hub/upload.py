"""``publish``: evaluate a dataset, then push it to a hub dataset repo with its card.

One dataset repo per dataset (``HfApi.create_repo(exist_ok=True)``), one ``create_commit`` on
``main`` holding every file, one git tag per version (``v1``, ``v2``, ...):

    <name>.safetensors                  the dataset, byte for byte the file that was evaluated
    data/train-00000-of-00001.parquet   the same pairs, one row each, for ``datasets.load_dataset``
    metrics.json                        returns per architecture, fitness curve, hashes, provenance
    figures/fitness.png                 the ES fitness per generation (when the source has one)
    figures/dataset.png, figures/returns.png
    README.md                           the card (``hub.cards``, template ``hub/dataset_card.md``)

Idempotent: when the tag already holds the same dataset bytes nothing is evaluated or pushed;
different bytes under an existing tag are refused (``PublishConflictError``) unless ``force``,
which commits them and moves the tag. Without a revision the next free ``vN`` is used (or
nothing happens if the latest ``vN`` already holds these bytes). The token comes from
``HF_TOKEN`` or ``hf auth login`` through ``huggingface_hub`` and is never printed or stored.
What to publish is a ``Source``: a dataset file, plus what its run recorded (``distill publish``
reads a run directory into one).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError

import hades_zoo
from hades_zoo import bounds
from hades_zoo import format as fmt
from hades_zoo import progress, reference, render
from hades_zoo.catalogue import catalogue
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import (ConfigError, CorruptDatasetError, HubError, IncompatibleDatasetError,
                              PublishConflictError)
from hades_zoo.grid import generalize
from hades_zoo.redact import scrub
from hades_zoo.hub import cards, figures
from hades_zoo.hub.fetch import auth_error, translate
from hades_zoo.hub.settings import REPO_TYPE, cache_dir, endpoint, has_token, hub_org, offline
from hades_zoo.ids import match

PARQUET_FILE = "data/train-00000-of-00001.parquet"
DEFAULT_ARCHS = ("own", "mlp-2x256-tanh", "mlp-4x256-relu")
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_FILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")  # a dataset's name, the repo's file <name>.safetensors


def check_name(src: Source) -> str:
    """The dataset's name as a repo file name (``<name>.safetensors``): plain ASCII, no path parts.
    Checked before anything else, so a hostile name (``../../etc/passwd``) leaves nothing behind."""
    name = src.dataset.name or src.path.stem
    if not _FILE_NAME_RE.fullmatch(name) or ".." in name:
        raise ConfigError(f"{src.path}: dataset name {name[:60]!r} cannot name a file in a repo (letters, digits, "
                          "'.', '_', '-'; at most 96; no '..'); rename it: ds.replace(name=...).save(path)")
    return name


# -- what is published ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset file to publish (its bytes, verified), and what its run recorded, if anything:
    the fitness per generation, the command and the config (TOML)."""

    path: Path
    data: bytes
    dataset: SyntheticDataset
    fitness: list[dict] | None = None
    command: str | None = None
    config_toml: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @classmethod
    def read(cls, path: str | Path, **recorded) -> Source:
        """Read and verify ``path`` (format, payload sha256, shapes); the bytes are the ones verified."""
        path = Path(path)
        data = path.read_bytes()
        ds = SyntheticDataset.load(path)
        if path.read_bytes() != data:
            raise ConfigError(f"{path} changed while it was read; publish it once the run has stopped writing")
        return cls(path, data, ds, **recorded)


def evaluate_archs(ds: SyntheticDataset, archs=DEFAULT_ARCHS, seeds: int = 8) -> list[dict]:
    """Behaviour-clone every architecture on the dataset (``seeds`` seeds, one vmap each) and evaluate
    with the dataset's protocol: ``hades_zoo.grid.generalize`` over the architectures, so every row also
    carries its score relative to the dataset's own architecture, which comes first (``"own"`` names it).
    Env datasets: every other architecture is also trained through the dataset's own teacher
    (``hades_zoo.transfer``), under ``"teacher"`` in its row."""
    own = ds.recipe.arch
    others = [a for a in dict.fromkeys(own if a in ("own", "dataset") else a for a in archs) if a != own]

    def row(arch, result, relative, score):
        return {"arch": arch, "own": arch == own, "protocol": result.protocol, "mean": result.mean, "std": result.std,
                "returns": [float(r) for r in result.returns], "relative": float(relative), "score": score}

    if not others:
        result = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=seeds), seed=0)
        return [row(own, result, 1.0, "ratio")]
    transfers = ("none", "teacher") if ds.kind.acts_in_env else ("none",)
    grid = generalize(ds, others, num_seeds=seeds, seed=0, transfer=transfers)
    rows = [row(own, grid.reference.result, grid.reference.relative, grid.score)]
    for r in grid.rows:
        if r.transfer == "none":
            rows.append(row(r.arch, r.result, r.relative, grid.score))
        else:  # through the dataset's own teacher: beside the plain-BC figure of the same architecture
            rows[-1]["teacher"] = {"mean": r.mean, "std": r.result.std, "relative": float(r.relative)}
    return rows


def parquet_bytes(ds: SyntheticDataset) -> bytes:
    """The pairs as one parquet table: ``index``, ``state`` (flattened obs) and ``action`` or ``label``."""
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


def build_files(src: Source, evaluation: list[dict], repo_id: str, revision: str) -> dict[str, bytes]:
    """Every file of the commit, path in repo -> bytes."""
    ds = src.dataset
    name = check_name(src)
    file = f"{name}.safetensors"
    fitness = src.fitness
    rec = (ds.recorded_return or {}).get("value")
    out = {file: src.data, PARQUET_FILE: parquet_bytes(ds),
           "figures/dataset.png": figures.dataset_figure(ds, f"{name}: {ds.size} pairs ({ds.env_id})"),
           "figures/returns.png": figures.returns_png(evaluation, f"{name}: behaviour cloning, {len(evaluation[0]['returns'])} seeds",
                                                     recorded=rec, refs=_refs_of(ds, evaluation))}
    if fitness:
        out["figures/fitness.png"] = figures.fitness_png(fitness, f"{name}: distillation fitness")
    rollout = _rollout_gif(ds)
    if rollout is not None:
        out["figures/rollout.gif"] = rollout
    metrics = {
        "name": name, "repo_id": repo_id, "revision": revision, "file": file, "bytes": len(src.data),
        "sha256": src.sha256, "payload_sha256": fmt.payload_sha256(ds.tensors()), "env_id": ds.env_id,
        "method": ds.method, "size": ds.size,
        "evaluation": {"seeds": len(evaluation[0]["returns"]), "protocol": evaluation[0]["protocol"], "archs": evaluation},
        "recorded_return": ds.recorded_return,
        "fitness": None if not fitness else {"generations": fitness[-1]["generation"], "final": fitness[-1],
                                             "best": max(r["fitness_max"] for r in fitness), "curve": fitness},
        "provenance": scrub(ds.provenance), "versions": ds.versions,
        "scale": _refs_of(ds, evaluation),
    }
    out["metrics.json"] = (json.dumps(metrics, indent=1, sort_keys=True) + "\n").encode()
    card = cards.build_card(ds, repo_id=repo_id, revision=revision, file=file, data=src.data, evaluation=evaluation,
                            fitness=fitness, command=(src.command or "").strip() or None,
                            config_toml=src.config_toml, rollout=rollout is not None)
    out[cards.CARD_FILE] = str(card).encode()
    return out


def _rollout_gif(ds: SyntheticDataset) -> bytes | None:
    """A GIF of one episode of a policy cloned on ``ds`` (BC seed 0, its own recipe), where this
    machine can draw the env (``hades_zoo.render``: MinAtar frames; brax with OpenGL)."""
    if not ds.kind.acts_in_env or not render.can_gif(ds.spec):
        return None
    with progress.phase("rendering", f"one episode of {ds.env_id} for the card"):
        return render.gif_bytes(hades_zoo.train(ds, num_seeds=1))


def _refs_of(ds: SyntheticDataset, evaluation: list[dict]) -> dict:
    own = next((r for r in evaluation if r["own"]), evaluation[0])
    return reference.scale(ds.name, ds.env_id, ds.kind.card.scale_protocol(ds, own), ds.dynamics, own["mean"])


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

    def summary(self) -> str:
        """One line for a shell: the status, where, and the returns measured."""
        if self.status == "unchanged":
            return f"unchanged: {self.repo_id}@{self.revision} already holds these bytes (sha256 {self.sha256[:12]}…)"
        rets = "; ".join(f"{r['arch']} {r['mean']:.2f} ± {r['std']:.2f}" for r in self.evaluation)
        return f"{self.status}: {self.url} (commit {self.commit[:12]}, sha256 {self.sha256[:12]}…): {rets}"


def require_online() -> None:
    """Publishing needs the hub: fail on ``HF_HUB_OFFLINE`` before reading or evaluating anything."""
    if offline():
        raise HubError("publishing needs the hub and HF_HUB_OFFLINE is set; unset HF_HUB_OFFLINE")


def _hub_call(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (HubError, IncompatibleDatasetError, CorruptDatasetError):
        raise
    except Exception as e:  # noqa: BLE001 - one typed error with the fix
        raise translate(e, what) from e


def _refs(api, repo_id: str):
    try:
        return api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    except RepositoryNotFoundError:
        return None


def _published_sha(api, repo_id: str, commit: str) -> str | None:
    """sha256 of the dataset the card at ``commit`` pins (None: no hades-zoo card there)."""
    try:
        path = api.hf_hub_download(repo_id, cards.CARD_FILE, repo_type=REPO_TYPE, revision=commit,
                                   cache_dir=str(cache_dir()))
        return cards.read_card(path, f"{repo_id}@{commit[:12]}")[cards.BLOCK]["sha256"]
    except (RemoteEntryNotFoundError, IncompatibleDatasetError, CorruptDatasetError):
        return None


def publish(src: Source, repo_id: str | None = None, revision: str | None = None, *, private: bool = False,
            force: bool = False, seeds: int = 8, archs=DEFAULT_ARCHS, token: str | None = None,
            license: str = "apache-2.0", evaluation: list[dict] | None = None) -> PublishResult:
    """Evaluate ``src`` and publish it as ``repo_id`` at tag ``revision``.

    Args:
        src: the dataset file and what its run recorded (``Source.read(path)`` for a lone file).
        repo_id (*optional*): ``org/name``; defaults to ``$HADES_ZOO_HUB_ORG/<dataset name>``.
        revision (*optional*): the tag, e.g. ``v1``; defaults to the next free ``vN``.
        private: create the repo private (an existing repo keeps its visibility).
        force: move an existing tag that holds different bytes.
        seeds, archs: the evaluation (``"own"`` is the dataset's architecture, always included).
        token (*optional*): defaults to ``HF_TOKEN`` / the saved login.
        evaluation (*optional*): rows already measured (``evaluate_archs``'s shape, the own architecture
            first), e.g. the zoo's verification; then nothing is evaluated here.

    Raises:
        PublishConflictError: the tag holds different bytes and ``force`` is not set.
        HubAuthError, HubNotFoundError, HubConnectionError, HubError: the hub refused or failed.
        ConfigError: bad source, repo id or revision.
    """
    check_name(src)
    require_online()
    ds = src.dataset
    recorded = len((src.command or "").encode()) + len((src.config_toml or "").encode())
    if recorded > bounds.MAX_CARD_BYTES // 2:  # the card shows both: refuse now, not after the evaluation
        raise ConfigError(f"{src.path}: the run's command.txt and config.toml hold {recorded:,} bytes, too many for a "
                          f"card (hades_zoo.bounds.MAX_CARD_BYTES = {bounds.MAX_CARD_BYTES:,}); trim them")
    if repo_id is None:
        if not ds.name:
            raise ConfigError(f"{src.path}: the dataset has no name; pass --repo-id ORG/NAME")
        revision = zoo_revision(src, revision)
        repo_id = f"{hub_org()}/{ds.name}"
    ident = match(repo_id)
    if ident is None or ident.org is None or ident.scheme or ident.revision is not None:
        raise ConfigError(f"--repo-id {repo_id!r} is not ORG/NAME (letters, digits, '.', '_', '-')")
    if revision is not None and (not _TAG_RE.fullmatch(revision) or revision == "main" or re.fullmatch(r"[0-9a-f]{40}", revision)):
        raise ConfigError(f"--revision {revision!r} is not a tag name like v1 (not 'main', not a commit hash)")
    if seeds < 1:
        raise ConfigError("seeds must be >= 1")
    api = HfApi(endpoint=endpoint(), token=token)
    url = f"{endpoint()}/datasets/{repo_id}"
    if token is None and not has_token():  # fail before the evaluation, not after it
        raise auth_error(401)
    _hub_call(repo_id, api.whoami)

    refs = _hub_call(repo_id, _refs, api, repo_id)
    tags = {t.name: t.target_commit for t in refs.tags} if refs else {}
    if revision is None:  # next free vN, unless the latest vN already holds these bytes
        numbers = sorted(int(t[1:]) for t in tags if re.fullmatch(r"v[0-9]+", t))
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
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        if tags[revision] != head:  # the commit goes on main: replacing an older tag would move main back to it
            raise PublishConflictError(
                f"{repo_id}@{revision} is not the latest publish (main has moved past it), and --force commits on main, "
                f"which must not go back to an older version; publish a new version with --revision v{_next(tags)}")

    if evaluation is None:
        evaluation = evaluate_archs(ds, archs, seeds)
    files = build_files(src, evaluation, repo_id, revision)
    if len(files[cards.CARD_FILE]) > bounds.MAX_CARD_BYTES:
        raise ConfigError(f"{src.path}: its card would be {len(files[cards.CARD_FILE]):,} bytes, over "
                          f"hades_zoo.bounds.MAX_CARD_BYTES ({bounds.MAX_CARD_BYTES:,}); trim command.txt / config.toml")
    progress.note(f"uploading: {len(files)} files to {repo_id}@{revision}")
    _hub_call(repo_id, api.create_repo, repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    refs = _hub_call(repo_id, _refs, api, repo_id)
    head = next((b.target_commit for b in refs.branches if b.name == "main"), None) if refs else None
    ops = [CommitOperationAdd(path, data) for path, data in sorted(files.items())]
    if head is not None:  # files of an earlier publish that this one does not rewrite
        old = _hub_call(repo_id, api.list_repo_files, repo_id, repo_type=REPO_TYPE, revision=head)
        ops += [CommitOperationDelete(p) for p in old if p not in files
                and (p.endswith(".safetensors") or p.startswith(("data/", "figures/")))]
    own = evaluation[0]
    info = _hub_call(repo_id, api.create_commit, repo_id, ops, repo_type=REPO_TYPE, revision="main", parent_commit=head,
                     commit_message=f"Publish {ds.name or src.path.stem} {revision} (sha256 {src.sha256[:12]})",
                     commit_description=f"{own['arch']}: {own['mean']:.2f} ± {own['std']:.2f} over {len(own['returns'])} seeds "
                                        f"({own['protocol']}); published by distill publish")
    if replacing:
        _hub_call(repo_id, api.delete_tag, repo_id, tag=revision, repo_type=REPO_TYPE)
    _hub_call(repo_id, api.create_tag, repo_id, tag=revision, revision=info.oid, repo_type=REPO_TYPE,
              tag_message=f"{ds.name or src.path.stem} {revision}, sha256 {src.sha256}")
    return PublishResult(repo_id, revision, "replaced" if replacing else "published", src.sha256, info.oid,
                         f"{url}/tree/{revision}", tuple(sorted(files)), tuple(evaluation))


def zoo_revision(src: Source, revision: str | None) -> str | None:
    """The tag to publish a catalogued name under: its catalogue label for the catalogue's own bytes.

    A zoo name (``hades-zoo list``) names the catalogue's files only: other bytes under it would
    hide behind the bundled copy, so they are refused unless ``--repo-id`` says where they go.

    Raises:
        PublishConflictError: the name is catalogued and these bytes are not one of its files, or
            ``revision`` is not the label the catalogue gives these bytes.
    """
    name = src.dataset.name
    group = catalogue().get(name)
    if group is None:
        return revision
    label = next((r for r, e in group["revisions"].items() if e["sha256"] == src.sha256), None)
    if label is None:
        raise PublishConflictError(
            f"{name} is a zoo name (`hades-zoo list`) and {src.path.name} is not one of its catalogued files "
            f"(sha256 {src.sha256[:12]}…): publishing it under that name would hide behind the bundled copy; "
            f"pass --repo-id ORG/NAME (e.g. {hub_org()}/{name}-yours) to say where it goes")
    if revision not in (None, label):
        raise PublishConflictError(f"{name}: these bytes are {name}@{label} in the zoo's catalogue; publish them as "
                                   f"--revision {label}, or pass --repo-id ORG/NAME to publish a copy elsewhere")
    return label


def _next(tags: dict) -> int:
    return max([int(t[1:]) for t in tags if re.fullmatch(r"v[0-9]+", t)] or [0]) + 1


__all__ = ["publish", "zoo_revision", "require_online", "evaluate_archs", "build_files", "parquet_bytes", "PublishResult", "Source",
           "DEFAULT_ARCHS", "PARQUET_FILE"]
