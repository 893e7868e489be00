"""Dataset names: ``{env-slug}-hades-{r|f}-{D}[@revision]``, for image tasks ``{dataset}-hades-{r|f}-{K}ipc``
(K images per class); parse and format are inverses."""

from __future__ import annotations

import dataclasses
import re

from hades_zoo.errors import UnknownDatasetError

_NAME_RE = re.compile(r"^(?P<slug>[a-z0-9][a-z0-9-]*?)-hades-(?P<method>[rf])-(?P<size>[1-9]\d*)(?P<unit>ipc)?(?:@(?P<revision>[A-Za-z0-9._-]+))?$")


@dataclasses.dataclass(frozen=True)
class DatasetId:
    slug: str
    method: str  # "hades-r" | "hades-f"
    size: int
    revision: str | None = None
    unit: str = ""  # "ipc": size counts images per class (image tasks)

    @property
    def name(self) -> str:
        return f"{self.slug}-{self.method}-{self.size}{self.unit}"

    def __str__(self) -> str:
        return self.name + (f"@{self.revision}" if self.revision else "")


def parse_id(text: str) -> DatasetId:
    m = _NAME_RE.match(text.strip())
    if m is None:
        raise UnknownDatasetError(
            f"{text!r} is neither a dataset file nor a dataset name like 'hopper-hades-r-64' or 'cartpole-hades-f-4@v1'"
        )
    return DatasetId(m["slug"], f"hades-{m['method']}", int(m["size"]), m["revision"], m["unit"] or "")


def format_id(slug: str, method: str, size: int, revision: str | None = None, unit: str = "") -> str:
    return str(DatasetId(slug, method, int(size), revision, unit))
