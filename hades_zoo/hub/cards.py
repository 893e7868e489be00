"""The dataset card: one schema, written by ``build_card`` and read by ``read_card`` and ``listing``.

A card is ``huggingface_hub.DatasetCardData`` (the YAML) plus the body rendered from the Jinja
template ``dataset_card.md`` next to this module (package data, so an installed hades-zoo can
publish) by ``huggingface_hub.DatasetCard.from_template``. Every number in it comes from the
dataset file, the evaluation ``distill publish`` just ran, or the run directory; nothing is typed.
The YAML carries the hub's own fields (license, task_categories, tags, size_categories,
``configs`` pointing ``datasets`` at the parquet mirror) and a ``hades_zoo`` block that downloads
are verified against: ``file``, ``bytes``, ``sha256`` and ``format`` (``REQUIRED``), then the
dataset's name, env, method, size, recipe, protocol and the evaluation. ``huggingface_hub`` is
imported inside the functions (see ``settings``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import ValidationError

from hades_zoo import bounds, reference, schema
from hades_zoo import format as fmt
from hades_zoo._version import __version__
from hades_zoo.catalogue import revision_entry
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import CorruptDatasetError, IncompatibleDatasetError, MissingDependencyError
from hades_zoo.redact import scrub

CARD_FILE = "README.md"
BLOCK = "hades_zoo"  # the card's own YAML block
HUB_TAG = "hades-zoo"  # every card's first tag; `list --remote` filters on it
REQUIRED = ("file", "sha256", "bytes", "format")  # what a download is verified against
TEMPLATE = Path(__file__).resolve().with_name("dataset_card.md")
PARQUET_GLOB = "data/train-*.parquet"
BIBTEX = """@inproceedings{lupu2024behaviour,
  title={Behaviour Distillation},
  author={Andrei Lupu and Chris Lu and Jarek Luca Liesen and Robert Tjarko Lange and Jakob Nicolaus Foerster},
  booktitle={The Twelfth International Conference on Learning Representations},
  year={2024},
  url={https://openreview.net/forum?id=qup9xD8mW4}
}"""
_PROTOCOL_TEXT = {
    "episodes": "16 envs, one greedy episode each from reset, mean episode return",
    "paper-brax": "4 envs × 1024 steps, sampled actions, mean return of the episodes completed in the window",
    "paper-classic": "8 envs × 1024 steps, sampled actions, mean return of the episodes completed in the window",
    "paper-minatar": "8 envs × 1024 steps, sampled actions, mean over envs of the last completed episode's return",
    "test-accuracy": "accuracy of the trained classifiers on the real test split, never seen by distillation",
    "val-accuracy": "accuracy of the trained classifiers on the real held-out split",
}


def size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return label
    return "n>1M"


def columns(ds: SyntheticDataset) -> list[str]:
    """Columns of the parquet mirror (one row per pair)."""
    return ["index", ds.kind.card.item, "label" if ds.discrete else "action"]


def card_data(ds: SyntheticDataset, *, file: str, data: bytes, evaluation: list[dict], license: str = "apache-2.0"):
    """The YAML half of the card (``DatasetCardData``)."""
    from huggingface_hub import DatasetCardData  # huggingface_hub (0.6 s to import) loads with the first hub call

    own = next((r for r in evaluation if r["own"]), evaluation[0] if evaluation else None)
    rec = ds.recorded_return or {}
    prov = ds.provenance or {}
    block = {
        "format": fmt.FORMAT_VERSION, "name": ds.name, "file": file, "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(), "payload_sha256": fmt.payload_sha256(ds.tensors()),
        "env_id": ds.env_id, "backend": ds.spec.backend, "method": ds.method, "size": ds.size,
        "obs_shape": list(ds.spec.obs_shape), "arch": ds.recipe.arch, "protocol": ds.protocol.name,
        "obs_norm": ds.obs_norm,
        "recorded_return": {k: rec[k] for k in ("value", "std", "seeds", "protocol") if k in rec} or None,
        "evaluation": {"protocol": own["protocol"] if own else None, "seeds": len(own["returns"]) if own else 0,
                       "returns": {r["arch"]: {"mean": round(r["mean"], 4), "std": round(r["std"], 4)} for r in evaluation
                                   if r["returns"]}},
        "engine": prov.get("engine") or f"hades-zoo {__version__}",
        "generations": prov.get("generations"), "population": prov.get("population"),
    }
    return DatasetCardData(
        license=license, pretty_name=ds.name or Path(file).stem, task_categories=[ds.kind.card.category],
        tags=[HUB_TAG, ds.kind.card.tag, ds.env_id, ds.method], size_categories=[size_category(ds.size)],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": PARQUET_GLOB}]}],
        **{BLOCK: {k: v for k, v in block.items() if v is not None}},
    )


def _fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else json.dumps(x) if isinstance(x, (dict, list)) else str(x)


def build_card(ds: SyntheticDataset, *, repo_id: str, revision: str, file: str, data: bytes, evaluation: list[dict],
               fitness: list[dict] | None = None, command: str | None = None, config_toml: str | None = None,
               license: str = "apache-2.0", rollout: bool = False):
    """The full card (``huggingface_hub.DatasetCard``) rendered from ``dataset_card.md`` (``TEMPLATE``)."""
    from huggingface_hub import DatasetCard  # huggingface_hub (0.6 s to import) loads with the first hub call

    if not TEMPLATE.is_file():
        raise MissingDependencyError(f"card template {TEMPLATE} is missing from this install (package data of "
                                     "hades_zoo.hub); reinstall hades-zoo")
    data_ = card_data(ds, file=file, data=data, evaluation=evaluation, license=license)
    block = getattr(data_, BLOCK)
    own = next((r for r in evaluation if r["own"]), evaluation[0])
    prov = ds.provenance or {}
    recipe, rec = ds.recipe, ds.recorded_return or {}
    kind = {"hades-r": "HaDES-R (a fresh policy initialisation for every evaluation)",
            "hades-f": "HaDES-F (one fixed policy initialisation)", "imported": "an import of the authors' release"}[ds.method]
    summary = ds.kind.card.summary(ds, kind, own)
    hyper = [("policy architecture (recipe)", f"`{recipe.arch}`"), ("BC learning rate", _fmt(recipe.lr)),
             ("BC epochs (full-batch Adam steps)", recipe.epochs), ("gradient clip", _fmt(recipe.grad_clip)),
             ("loss", recipe.loss), ("Adam eps", _fmt(recipe.adam_eps)), ("init", _fmt(recipe.init.to_dict())),
             ("evaluation protocol", ds.kind.card.protocol_text(ds.protocol)),
             ("observation normalisation", ds.obs_norm)]
    cfg = prov.get("config") or {}
    for key in ("strategy", "popsize", "sigma", "es_lr", "fitness_shaping", "rollouts", "generations"):
        if key in cfg:
            hyper.append((f"ES {key}", _fmt(cfg[key])))
    provenance = [(k, f"`{v}`" if k == "command" else _fmt(v)) for k, v in scrub((
        ("command", command or prov.get("command")), ("engine", block.get("engine")),
        ("generations", prov.get("generations")), ("population", prov.get("population")),
        ("strategy", prov.get("strategy")), ("seed", prov.get("seed")), ("env steps", prov.get("env_steps")),
        ("simulator versions", ds.versions or None), ("source file", prov.get("source_file")),
        ("release file", prov.get("release_path")), ("pickle sha256", prov.get("pickle_sha256")),
        ("published with", f"hades-zoo {__version__}"))) if v not in (None, "", {})]
    recorded = None
    if rec.get("value") is not None and rec.get("seeds"):
        recorded = f"{rec['value']:.2f} ± {rec.get('std', 0.0):.2f} ({rec['seeds']} seeds, `{rec.get('protocol', '?')}` protocol)"
    elif rec.get("value") is not None:  # the authors' figure: no seeds, its own definition
        recorded = f"{rec['value']:.2f} ({rec.get('definition') or rec.get('protocol', '')})"
    tensors = ", ".join(f"`{k}` {tuple(v.shape)} {v.dtype}" for k, v in sorted(ds.tensors().items()))
    digits = ds.kind.card.digits
    rows = [{**r, "per_seed": ", ".join(f"{x:.{digits}f}" for x in r["returns"])} for r in evaluation]
    return DatasetCard.from_template(
        data_, template_path=str(TEMPLATE), pretty_name=data_.pretty_name, summary=summary, repo_id=repo_id,
        revision=revision, own_arch=own["arch"], own_return=f"{own['mean']:.2f} ± {own['std']:.2f} ({len(own['returns'])} seeds)",
        columns=", ".join(f"`{c}`" for c in columns(ds)), size=ds.size, seeds=len(own["returns"]),
        protocol=own["protocol"], protocol_text=_PROTOCOL_TEXT.get(own["protocol"], "see the hades-zoo README"),
        returns=rows, measured_by=own.get("measured_by") or "`distill publish` before upload", relative_text=("the return divided by the own architecture's" if own.get("score", "ratio") == "ratio"
                                      else "normalised score, random policy 0, own architecture 1"),
        recorded=recorded, file=file, bytes=len(data), sha256=block["sha256"], format=fmt.FORMAT_VERSION,
        tensors=tensors, hyperparameters=hyper, provenance=provenance, fitness=bool(fitness), rollout=rollout,
        scale=scale_rows(ds, own), limitations=limitations(ds, revision, evaluation),
        credit=(prov.get("credit") or {}).get("data"),
        config=scrub(config_toml.strip()) if config_toml else None, bibtex=BIBTEX)


def _num(x: float, like: float | None = None) -> str:
    ref = abs(x if like is None else like)
    return f"{x:.0f}" if ref >= 1000 else f"{x:.2f}" if ref >= 1 else f"{x:.4f}"


def scale_rows(ds: SyntheticDataset, own: dict) -> list[tuple[str, str]]:
    """The card's scale: the own return next to the random policy, the solved threshold, the paper, normalised."""
    card = ds.kind.card
    sc = reference.scale(ds.name, ds.env_id, card.scale_protocol(ds, own), ds.dynamics, own["mean"])
    mine = (f"{_num(own['mean'])} ± {_num(own['std'], own['mean'])}" if own["returns"]
            else "unverified (no real test split where this card was made)")
    return [(f"{card.score} of `{own['arch']}` (the dataset's own architecture)", mine),
            (card.baseline,
             _num(sc["random"]) if sc["random"] is not None else "not measured (`tools/reference_scores.py`)"),
            ("solved threshold", _num(sc["solved"]) if sc["solved"] is not None else "none defined for this env"),
            ("paper's figure", f"{_num(sc['paper'])} ({sc['paper_definition']})" if sc["paper"] is not None
             else "none (not one of the paper's datasets)"),
            ("normalised score (random 0, paper 1)", f"{sc['normalised']:.2f}" if sc["normalised"] is not None else "n/a")]


def limitations(ds: SyntheticDataset, revision: str | None, evaluation: list[dict]) -> list[str]:
    """Intended use and limits, as measured: dynamics, protocol, the architectures it transfers to."""
    out = []
    if ds.kind.acts_in_env and ds.dynamics == "2023":
        cur = ((revision_entry(ds.name, revision or "") or {}).get("verified") or {}).get("current")
        sim = "brax 0.9.x" if ds.spec.backend.startswith("brax") else "gymnax 0.0.6"
        out.append(f"Dynamics: distilled on the 2023 behaviour of `{ds.env_id}` ({sim}), which "
                   "hades-zoo restores by default (`envs.make(env, dynamics=\"2023\")`)."
                   + (f" Today's simulator differs for this env: `--dynamics current` gives {_num(cur['value'])} ± "
                      f"{_num(cur['std'], cur['value'])} with the same policies." if cur else ""))
    elif ds.kind.acts_in_env:
        out.append(f"Dynamics: today's simulator ({', '.join(f'{k} {v}' for k, v in (ds.versions or {}).items()) or 'as installed'}).")
    out.append(f"Protocol: the figures are the `{ds.protocol.name}` protocol ({_PROTOCOL_TEXT.get(ds.protocol.name, 'see the hades-zoo README')})"
               + ds.kind.card.protocol_note)
    own = next((r for r in evaluation if r["own"]), evaluation[0])
    others = [r for r in evaluation if not r["own"]]
    if others:
        out.append("Architectures, as measured for this card (return relative to the own architecture's): "
                   + "; ".join(f"`{r['arch']}` {r['relative']:.2f}" + (f" ({r['teacher']['relative']:.2f} through the teacher)"
                                                                       if r.get("teacher") else "") for r in others) + ".")
    else:
        out.append(f"Architectures: only `{own['arch']}` was measured for this card; `hades-zoo generalize` measures others.")
    if ds.method == "hades-f":
        out.append("HaDES-F: the figures hold for the fixed initialisation stored in the recipe; other initialisations "
                   "or architectures usually score much lower (`--init random`).")
    out.append("Intended use: research on behaviour distillation, fast policy initialisation and pre-training. "
               + ds.kind.card.intended_use)
    return out


# -- reading ------------------------------------------------------------------------------
def read_card(path: str | os.PathLike, ref="card") -> dict:
    """Parse a card with ``huggingface_hub``'s own parser and check its ``hades_zoo`` block
    (``schema.CardBlock``: types, the file name, a sha256 of 64 hex digits, the byte size).

    Raises:
        CorruptDatasetError: the YAML does not parse, or the card is over ``bounds.MAX_CARD_BYTES``.
        IncompatibleDatasetError: no ``hades_zoo`` block with ``REQUIRED``, another format, or a
            field of the wrong type or form (not a hades-zoo dataset, or a newer one).
    """
    from huggingface_hub import DatasetCard  # huggingface_hub (0.6 s to import) loads with the first hub call

    path = Path(path)
    if path.stat().st_size > bounds.MAX_CARD_BYTES:
        raise CorruptDatasetError(f"{ref}: the card {path.name} is {path.stat().st_size:,} bytes, over the bound of "
                                  f"{bounds.MAX_CARD_BYTES:,} (hades_zoo.bounds.MAX_CARD_BYTES); it was not written by "
                                  "`distill publish`: republish it with `distill publish --force`")
    try:
        data = DatasetCard.load(path).data.to_dict()
    except Exception as e:  # the parser raises ValueError / yaml errors on a damaged header
        raise CorruptDatasetError(f"{ref}: the card {path.name} does not parse ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0] if str(e) else ''}); republish it with `distill publish --force`") from None
    entry = data.get(BLOCK)
    missing = [k for k in REQUIRED if not isinstance(entry, dict) or k not in entry]
    if missing:
        raise IncompatibleDatasetError(f"{ref}: the repo's card has no {BLOCK} block with {', '.join(missing)}; "
                                       "it was not published by `distill publish` (not a hades-zoo dataset)")
    if entry["format"] != fmt.FORMAT_VERSION:
        raise IncompatibleDatasetError(f"{ref}: format {entry['format']!r} is not {fmt.FORMAT_VERSION!r}; upgrade hades-zoo to read it")
    schema.validate(schema.CardBlock, entry, ref, "the card was not written by `distill publish` or was edited by "
                    "hand; republish it with `distill publish --force`", label="card field", root=BLOCK)
    if ".." in entry["file"].split("/"):
        raise IncompatibleDatasetError(f"{ref}: the card names an invalid dataset file {entry['file']!r}")
    return data


def listing(data: dict, repo_name: str) -> dict:
    """A repo's row in ``list --remote`` from its card data. One bad card must not hide the rest:
    a block that fails ``schema.CardBlock`` gives a row with the repo's name and ``invalid`` (why)."""
    entry = data.get(BLOCK) if isinstance(data, dict) else None
    try:
        block = schema.CardBlock.model_validate(entry)
    except ValidationError as e:
        return {"name": repo_name, "env_id": None, "method": None, "size": None, "recorded_return": None,
                "sha256": None, "return": None, "invalid": schema.describe(e, "card field", BLOCK)}
    returns = block.evaluation.returns if block.evaluation else {}
    own = returns.get(block.arch) if block.arch else None
    return {"name": block.name or repo_name, "env_id": block.env_id, "method": block.method, "size": block.size,
            "recorded_return": block.recorded_return.model_dump(exclude_none=True) if block.recorded_return else None,
            "sha256": block.sha256, "return": own.model_dump() if own else None}


__all__ = ["build_card", "card_data", "read_card", "listing", "columns", "size_category", "TEMPLATE", "BIBTEX",
           "PARQUET_GLOB", "CARD_FILE", "BLOCK", "REQUIRED", "HUB_TAG"]
