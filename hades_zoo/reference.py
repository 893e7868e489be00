"""The points a return is read against: the random policy, the env's solved threshold, the paper's figure.

Why: a return alone has no scale (hopper's 1800 and reacher's -157 are both good). The random
policy's return under the dataset's own protocol and dynamics, and the solved thresholds, are
measured or listed by ``tools/reference_scores.py`` into ``data/reference_scores.json``; the
paper's figure of a zoo name is the catalogue's (the authors' ``fitness_last10_gens``, mean over
the headline seeds). The normalised score puts the random policy at 0 and the paper at 1.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from pathlib import Path

from hades_zoo.catalogue import catalogue

DATA = Path(str(resources.files("hades_zoo") / "data" / "reference_scores.json"))


def key(env_id: str, protocol: str, dynamics: str | None) -> str:
    return f"{env_id}|{protocol}|{dynamics or 'current'}"


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(DATA.read_text()) if DATA.exists() else {}


def random_score(env_id: str, protocol: str, dynamics: str | None) -> dict | None:
    """The random policy's measured score (``value``, ``std``, ``seeds``) under that protocol and dynamics."""
    return (_data().get("random") or {}).get(key(env_id, protocol, dynamics))


def solved(env_id: str) -> float | None:
    return (_data().get("solved") or {}).get(env_id)


def paper(name: str | None) -> dict | None:
    """The catalogue's paper figure of a zoo name (``value``, ``definition``), else None."""
    return (catalogue().get(name or "") or {}).get("paper")


def normalised(value: float, random: float | None, paper_value: float | None) -> float | None:
    """``(value - random) / (paper - random)``: random 0, paper 1 (None without both, or no gap between them)."""
    if random is None or paper_value is None or math.isclose(random, paper_value):
        return None
    return (value - random) / (paper_value - random)


def scale(name: str | None, env_id: str, protocol: str, dynamics: str | None, value: float) -> dict:
    """Every reference point known for a score, and the normalised score."""
    rnd, pap = random_score(env_id, protocol, dynamics), paper(name)
    return {"random": rnd["value"] if rnd else None, "solved": solved(env_id),
            "paper": pap["value"] if pap else None, "paper_definition": pap["definition"] if pap else None,
            "normalised": normalised(value, rnd["value"] if rnd else None, pap["value"] if pap else None)}


__all__ = ["key", "random_score", "solved", "paper", "normalised", "scale", "DATA"]
