"""Dataset names, parsed in one place: ``[hf://datasets/][org/]name[@revision]``.

A name with an org (or spelled ``hf://``) names a hub dataset repo; a bare name is looked up in
the bundled catalog, then on the hub under ``$HADES_ZOO_HUB_ORG``. Zoo names follow
``{env-slug}-hades-{r|f}-{D}``, for image tasks ``{dataset}-hades-{r|f}-{K}ipc`` (K images per
class), optionally with a label such as ``-local`` (a run's or import's copy of a catalogued name); their parts are read off the name, and ``format_id`` is the inverse of ``parse_id``.
"""

from __future__ import annotations

import dataclasses
import os
import re

from hades_zoo.catalogue import is_bundled_name
from hades_zoo.errors import ConfigError, UnknownDatasetError

DEFAULT_ORG = "hades-zoo"
_REF_RE = re.compile(r"^(?P<scheme>(?:hf://)?(?:datasets/)?)(?:(?P<org>[A-Za-z0-9][\w.-]*)/)?"
                     r"(?P<name>[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w.-]+))?\Z", re.ASCII)  # ASCII: no other digits/letters
_ZOO_RE = re.compile(r"^(?P<slug>[a-z0-9][a-z0-9-]*?)-hades-(?P<method>[rf])-(?P<size>[1-9]\d*)(?P<unit>ipc)?"
                     r"(?:-(?P<label>[a-z][a-z0-9-]*))?\Z", re.ASCII)
LOCAL_SUFFIX = "-local"  # what a run or an import appends to a name the zoo's catalogue already uses


def hub_org() -> str:
    """Org of bare dataset names on the hub: ``$HADES_ZOO_HUB_ORG`` or ``hades-zoo`` (read at call time)."""
    return os.environ.get("HADES_ZOO_HUB_ORG") or DEFAULT_ORG


@dataclasses.dataclass(frozen=True)
class DatasetId:
    """``[org/]name[@revision]``; ``slug``, ``method``, ``size`` and ``unit`` are set for zoo names."""

    name: str
    org: str | None = None
    revision: str | None = None
    scheme: str = dataclasses.field(default="", compare=False)  # "hf://", "datasets/" or both, as typed

    @property
    def is_hub_repo(self) -> bool:
        """Explicitly a hub repo: ``org/name`` or an ``hf://`` spelling (not a bare name)."""
        return self.org is not None or self.scheme.startswith("hf://")

    @property
    def repo_id(self) -> str:
        return f"{self.org or hub_org()}/{self.name}"

    def on_hub(self) -> DatasetId:
        """The same id with its org (``hub_org()`` for bare names) and revision (``main``) filled in."""
        return DatasetId(self.name, self.org or hub_org(), self.revision or "main", self.scheme)

    def _part(self, key: str):
        m = _ZOO_RE.match(self.name)
        return m[key] if m else None

    @property
    def slug(self) -> str | None:
        return self._part("slug")

    @property
    def method(self) -> str | None:  # "hades-r" | "hades-f"
        return f"hades-{self._part('method')}" if self._part("method") else None

    @property
    def size(self) -> int | None:
        return int(self._part("size")) if self._part("size") else None

    @property
    def unit(self) -> str:  # "ipc": size counts images per class (image tasks)
        return self._part("unit") or ""

    def __str__(self) -> str:
        return (f"{self.org}/" if self.org else "") + self.name + (f"@{self.revision}" if self.revision not in (None, "main") else "")


def match(text: str) -> DatasetId | None:
    """The name ``text`` spells, or None when it is not one (a path, say)."""
    m = _REF_RE.match(str(text).strip())
    return None if m is None else DatasetId(m["name"], m["org"], m["rev"], m["scheme"])


def parse(text: str, revision: str | None = None) -> DatasetId:
    """``name[@rev]``, ``org/name[@rev]`` or ``hf://datasets/org/name``; ``revision`` may be given apart."""
    ident = match(text)
    if ident is None:
        raise ConfigError(f"{text!r} is not a hub dataset name; use 'name', 'org/name' or 'org/name@v1'")
    if revision and ident.revision and revision != ident.revision:
        raise ConfigError(f"{text!r} names revision {ident.revision!r} but revision={revision!r} was passed; give one")
    return dataclasses.replace(ident, revision=revision or ident.revision)


def parse_id(text: str) -> DatasetId:
    """A bare zoo name ``{slug}-hades-{r|f}-{D}[ipc][@rev]`` (the bundled catalog's names)."""
    ident = match(text)
    if ident is None or ident.org is not None or ident.scheme or ident.slug is None:
        raise UnknownDatasetError(
            f"{text!r} is neither a dataset file nor a dataset name like 'hopper-hades-r-64' or 'cartpole-hades-f-4@v1'"
        )
    return ident


def format_id(slug: str, method: str, size: int, revision: str | None = None, unit: str = "") -> str:
    return str(DatasetId(f"{slug}-{method}-{int(size)}{unit}", revision=revision))


def local_name(slug: str, method: str, size: int, unit: str = "") -> str:
    """The name a run or an import gives its dataset: the zoo name, with ``-local`` appended when
    the catalogue already uses it (so a local file never passes for the zoo's own copy, and
    ``distill publish`` does not aim it at the zoo's repo)."""
    name = format_id(slug, method, size, unit=unit)
    return name + LOCAL_SUFFIX if is_bundled_name(name) else name
