"""The one exception tree of hades-zoo (the ``distill`` engine raises these too).

Every error subclasses the builtin it resembles, so callers can catch either, and
every message says what went wrong, where (name or path) and how to fix it.
The CLIs print ``str(error)`` as one line and exit with status 2.
"""

from __future__ import annotations

import difflib


class HadesZooError(Exception):
    """Root of every error raised on purpose by hades-zoo."""


class UnknownDatasetError(HadesZooError, LookupError):
    """A dataset name is not in the catalog (message lists close matches)."""


class UnknownEnvError(HadesZooError, LookupError):
    """An environment id is not supported (message lists close matches)."""


class DatasetNotCachedError(HadesZooError, FileNotFoundError):
    """Offline, and the dataset is neither bundled nor in the local cache."""


class CorruptDatasetError(HadesZooError, ValueError):
    """A file is truncated, fails its sha256, or is not a readable dataset."""


class IncompatibleDatasetError(HadesZooError, ValueError):
    """A readable dataset whose content is invalid (shapes, NaNs, versions, env)."""


class ConfigError(HadesZooError, ValueError):
    """A bad argument, architecture spec, protocol or config value."""


class LegacyFormatError(HadesZooError, ValueError):
    """An authors' pickle that the restricted unpickler refuses or cannot map."""


class HubError(HadesZooError, OSError):
    """The hub answered with an error or could not be reached."""


class HubNotFoundError(UnknownDatasetError, HubError):
    """A hub repo, revision or file is missing, or hidden from this token (the hub and its
    mirrors answer 401 or 404 alike)."""


class HubAuthError(HubError, PermissionError):
    """The hub refused the token (missing, invalid, or without write access)."""


class HubConnectionError(HubError, ConnectionError):
    """The hub could not be reached and nothing usable is cached."""


class PublishConflictError(HubError, FileExistsError):
    """A tag already holds different bytes; publishing again needs ``--force``."""


class StatefulPolicyError(HadesZooError, TypeError):
    """A policy with running observation statistics was asked to act without its state."""


class MissingDependencyError(HadesZooError, ImportError):
    """An optional dependency is needed for this feature."""


class HadesZooWarning(UserWarning):
    """Something to know that does not stop the work (a dataset made with other simulator versions).
    The CLIs print it as one ``warning: ...`` line."""


def close_matches(word: str, choices, n: int = 3) -> str:
    """A ' Did you mean: a, b?' suffix for error messages ('' when none is close)."""
    found = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(found)}?" if found else ""
