"""The one validation layer for structured input read from outside: pydantic v2 models.

What comes through here: a dataset file's ``__metadata__`` (``DatasetMeta``; a merged file's
``MergedMeta``), every recipe and protocol dict (``Recipe.from_dict``/``Protocol.from_dict`` check
``RecipeMeta``/``ProtocolMeta``), the ``hades_zoo`` block of a hub card (``CardBlock``), a run's
``metrics.jsonl`` rows (``MetricsRow``), a distill config (``check_fields`` over
``distill.config.DistillConfig``'s annotated fields) and a saved policy's metadata (``PolicyMeta``).
Every model is *strict*: no silent coercion, so ``"4"`` is not an int, ``true`` is not a
number, ``4.5`` is not a whole number. A ``ValidationError`` never escapes: ``validate`` turns
it into the caller's typed error (``IncompatibleDatasetError``, ``ConfigError`` ...), one line
naming the file, the field, what was found and the fix.

Why pydantic: it validates nested JSON/TOML/YAML-shaped data against declared types with error
locations (``recipe.lr``) for free, its strict mode refuses the coercions JSON and YAML invite,
and it is widely used and well kept; msgspec is faster (we parse kilobytes), attrs validators
would be the hand-written checks again. Types and shapes live here; meaning (a known env, an
architecture that builds, the bounds) stays with the classes that own it (``Recipe``,
``Protocol``, ``bounds``).

Models allow extra keys (``extra="allow"``) where newer writers may add fields, so an older
reader keeps reading newer files; a field that is declared is checked. To add a metadata field,
declare it here.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, create_model,
                      model_validator)

from hades_zoo import bounds
from hades_zoo.errors import HadesZooError, IncompatibleDatasetError

SHA256 = r"^[0-9a-f]{64}$"
Number = float  # strict: an int or a float, never a bool or a string


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


# -- dataset metadata (hades_zoo.format / SyntheticDataset.from_parts) ---------------------------
class InitMeta(_Model):
    mode: StrictStr
    seed: StrictInt = Field(0, ge=0, le=bounds.MAX_SEED)
    threefry_partitionable: StrictBool = True


class RecipeMeta(_Model):
    # A missing key takes ``Recipe``'s default (defaults are not validated), an explicit null is refused.
    arch: StrictStr = Field(None, max_length=1000)
    lr: Number = Field(None, gt=0, allow_inf_nan=False)
    epochs: StrictInt = None
    grad_clip: Number | None = None
    loss: StrictStr = None
    adam_eps: Number = Field(1e-5, allow_inf_nan=False)
    init: InitMeta = Field(default_factory=lambda: InitMeta(mode="random"))
    optimizer: StrictStr = "adam"


class ProtocolMeta(_Model):
    name: StrictStr
    n_envs: StrictInt | None = None
    n_steps: StrictInt | None = None
    sample_actions: StrictBool | None = None
    metric: StrictStr | None = None
    split: StrictStr | None = None  # image tasks


class ObsNormMeta(_Model):
    kind: StrictStr
    eps: Number | None = None


class RecordedReturn(_Model):
    value: Number | None = None
    std: Number | None = None
    seeds: StrictInt | None = None
    protocol: StrictStr | None = None
    returns: list[Number] | None = None
    definition: StrictStr | None = None


# The field naming what a dataset is for, per task kind: ``hades_zoo.tasks``' ``Task.id_key`` (which
# imports this module through the recipe, so the schema keeps its own copy; tests/test_recipe.py checks they agree).
ID_KEYS = {"rl": "env_id", "image-classification": "dataset_id"}


class DatasetMeta(_Model):
    """A single-task dataset's decoded ``__metadata__`` (``SyntheticDataset.metadata``)."""

    format: StrictStr | None = None
    sha256: StrictStr | None = None
    name: StrictStr | None = Field(None, max_length=200)
    task: Literal["rl", "image-classification"] = "rl"
    env_id: StrictStr | None = None
    dataset_id: StrictStr | None = None
    backend: StrictStr | None = None
    method: StrictStr = "imported"
    size: StrictStr | None = Field(None, pattern=r"^[0-9]{1,12}$")
    recipe: RecipeMeta
    protocol: ProtocolMeta | StrictStr
    obs_norm: ObsNormMeta | StrictStr  # a bare kind ("const") is read with the default eps (recipe.ObsNorm.from_dict)
    recorded_return: RecordedReturn | None = None
    provenance: dict[str, Any] | None = None
    versions: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None
    dynamics: StrictStr | None = None

    @model_validator(mode="after")
    def _ident(self):
        key = ID_KEYS[self.task]
        if getattr(self, key) is None:
            raise ValueError(f"a {self.task} dataset needs the {key} field")
        return self


# -- trained policy files (hades_zoo.policy_file) ---------------------------------------------------
class PolicyBlock(_Model):
    arch: StrictStr = Field(max_length=1000)
    obs_shape: list[StrictInt] = Field(min_length=1, max_length=4)
    action_dim: StrictInt = Field(ge=1)
    discrete: StrictBool
    env_id: StrictStr = Field(max_length=200)
    task: Literal["rl", "image-classification"] = "rl"
    dynamics: StrictStr = "current"
    seeds: list[StrictInt] = Field(min_length=1, max_length=bounds.MAX_NUM_SEEDS)
    frozen: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    returns: dict[str, Any] | None = None


class PolicyMeta(_Model):
    """A trained policy file's decoded ``__metadata__`` (``TrainedPolicy.save``)."""

    format: StrictStr | None = None
    sha256: StrictStr | None = None
    kind: Literal["policy"]
    name: StrictStr | None = Field(None, max_length=200)
    policy: PolicyBlock
    recipe: RecipeMeta
    protocol: ProtocolMeta
    obs_norm: ObsNormMeta
    versions: dict[str, Any] | None = None


class MergedTask(_Model):
    env_id: StrictStr
    obs_norm: ObsNormMeta | StrictStr
    protocol: ProtocolMeta | StrictStr
    sources: list[StrictInt] = Field(min_length=1)


class MergedSource(_Model):
    task: StrictInt = Field(ge=0)
    rows: list[StrictInt] = Field(min_length=2, max_length=2)
    metadata: DatasetMeta
    name: StrictStr | None = None


class MergedMeta(_Model):
    """A merged multi-task dataset's ``tasks`` and ``sources`` metadata (``hades_zoo.merge``)."""

    tasks: list[MergedTask] = Field(min_length=1)
    sources: list[MergedSource] = Field(min_length=1)


# -- run files (distill.runner) -----------------------------------------------------------------
class MetricsRow(_Model):
    """One generation of a run's ``metrics.jsonl``."""

    generation: StrictInt = Field(ge=1, le=bounds.MAX_GENERATIONS)
    fitness_mean: Number
    fitness_max: Number
    fitness_min: Number
    wall_s: Number | None = None
    env_steps: StrictInt | None = None


# -- hub cards (hades_zoo.hub.cards) -------------------------------------------------------------
class EvalReturn(_Model):
    mean: Number
    std: Number


class CardEvaluation(_Model):
    protocol: StrictStr | None = None
    seeds: StrictInt | None = None
    returns: dict[str, EvalReturn] = {}


class CardBlock(_Model):
    """The card's ``hades_zoo`` YAML block: what a download is verified against, then the listing."""

    format: StrictStr
    file: StrictStr = Field(max_length=300, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    bytes: StrictInt = Field(ge=0, le=bounds.MAX_DATASET_BYTES)
    sha256: StrictStr = Field(pattern=SHA256)
    payload_sha256: StrictStr | None = Field(None, pattern=SHA256)
    name: StrictStr | None = Field(None, max_length=200)
    env_id: StrictStr | None = None
    backend: StrictStr | None = None
    method: StrictStr | None = None
    size: StrictInt | None = Field(None, ge=1)
    arch: StrictStr | None = None
    protocol: StrictStr | None = None
    obs_norm: StrictStr | None = None
    recorded_return: RecordedReturn | None = None
    evaluation: CardEvaluation | None = None
    engine: StrictStr | None = None
    generations: StrictInt | None = None
    population: StrictInt | None = None


# -- turning ValidationError into one line --------------------------------------------------------
def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_union_tag(part) -> bool:
    """Parts of an error location that name a union member (``str``, ``RecipeMeta``), not a field."""
    return isinstance(part, str) and (part in ("str", "int", "float", "bool", "none") or part[:1].isupper()
                                      or "[" in part or part.startswith(("function-", "constrained-")))


def describe(err: ValidationError, label: str = "field", root: str = "") -> str:
    """``field 'recipe.lr': Input should be a valid number, got 'x'`` (+ how many more fields fail)."""
    errors = err.errors(include_url=False)
    locs = [".".join([root] * bool(root) + [str(p) for p in e["loc"] if not _is_union_tag(p)]) for e in errors]
    first, loc = errors[0], locs[0]
    msg = re.sub(r" or instance of \w+", "", first["msg"].removeprefix("Value error, "))
    msg = msg.replace("Input should be a valid integer", "must be a whole number").replace("Input should be", "must be")
    where = f"{label} {loc!r}: " if loc else ""
    got = "" if first["type"] == "missing" or not loc else f", got {_short(first.get('input'))}"
    others = len(set(locs) - {loc})
    more = f" (and {others} more field{'s' if others > 1 else ''})" if others else ""
    return f"{where}{msg}{got}{more}"


def validate(model: type[BaseModel], data: Any, where: str, fix: str,
             error: type[HadesZooError] = IncompatibleDatasetError, label: str = "field", root: str = "") -> BaseModel:
    """``model`` validated from ``data``, or ``error("{where}: {label} 'a.b': {problem}; {fix}")``."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise error(f"{where}: {describe(e, label, root)}; {fix}") from None


# -- dataclasses: one check of every annotated field ----------------------------------------------
@functools.lru_cache(maxsize=None)
def _fields_model(cls: type) -> type[BaseModel]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: (hints[f.name], ...) for f in dataclasses.fields(cls) if f.init}
    return create_model(f"{cls.__name__}Fields", __config__=ConfigDict(strict=True, extra="forbid"), **fields)


def check_fields(obj: Any, where: str, error: type[HadesZooError], fix: str = "") -> None:
    """Every field of the dataclass ``obj`` against its annotation (``Annotated`` constraints too).

    Lets a frozen dataclass keep its plain constructor while its types are checked in one place.
    """
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
    try:
        _fields_model(type(obj)).model_validate(values)
    except ValidationError as e:
        raise error(f"{where}: {describe(e)}" + (f"; {fix}" if fix else "")) from None


__all__ = ["DatasetMeta", "MergedMeta", "PolicyMeta", "RecipeMeta", "ProtocolMeta", "ObsNormMeta", "RecordedReturn", "MetricsRow", "CardBlock",
           "validate", "describe", "check_fields"]
