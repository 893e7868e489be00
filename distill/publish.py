"""``distill publish``: what to publish, read from a run directory; the upload is ``hades_zoo.hub.upload``.

A run directory gives its ``{which}.safetensors`` with the fitness curve (``metrics.jsonl``), the
command (``command.txt``) and the config (``config.toml``), which the card and ``metrics.json``
show; a lone ``.safetensors`` file or a bundled name gives the dataset alone.
"""

from __future__ import annotations

from pathlib import Path

from distill.rundir import held_by, read_metrics
from hades_zoo.errors import ConfigError
from hades_zoo.hub import upload
from hades_zoo.hub.upload import PublishResult, Source
from hades_zoo.sources import bundled_file


def resolve_source(source: str | Path, which: str = "mean") -> Source:
    """A ``.safetensors`` file, a ``distill`` run directory (its ``{which}.safetensors``,
    ``metrics.jsonl``, ``command.txt``, ``config.toml``) or a bundled ``name[@revision]``."""
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
    elif (bundled := bundled_file(str(source))) is not None:
        path, run_dir = bundled, None
    else:
        raise ConfigError(f"{source}: no such file, run directory or bundled dataset name")
    if run_dir is not None and (pid := held_by(run_dir)) is not None:
        raise ConfigError(f"{run_dir} is still being written by a distill process (pid {pid}); publish it once the run "
                          "has ended")
    return Source.read(path, **(_recorded(run_dir) if run_dir else {}))


def _recorded(run_dir: Path) -> dict:
    """What a run directory recorded: the fitness per generation, the command, the config."""
    def text(name):
        return (run_dir / name).read_text() if (run_dir / name).is_file() else None

    rows = read_metrics(run_dir / "metrics.jsonl")  # checked rows; a torn line is dropped, never fatal
    return {"fitness": rows or None, "command": text("command.txt"), "config_toml": text("config.toml")}


def publish(source: str | Path, repo_id: str | None = None, revision: str | None = None, *, which: str = "mean",
            **kwargs) -> PublishResult:
    """``hades_zoo.hub.upload.publish`` of a file, run directory or bundled name (``resolve_source``);
    ``kwargs``: ``private``, ``force``, ``seeds``, ``archs``, ``token``, ``license``."""
    upload.require_online()
    return upload.publish(resolve_source(source, which), repo_id, revision, **kwargs)


__all__ = ["publish", "resolve_source"]
