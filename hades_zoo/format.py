"""The on-disk format: one ``.safetensors`` file per dataset.

Tensors: ``states`` (D, *obs_shape) float32; ``actions`` (D, act_dim) float32 for
continuous envs or ``labels`` (D, n_actions) float32 target distributions for
discrete envs; optional ``obs_mean``/``obs_var`` (obs_shape) float32 for constant
observation normalisation (extra tensors are allowed for other task kinds).

``__metadata__`` holds strings only; structured values are JSON. Key
``sha256`` is the hash of the tensor payload (``payload_sha256``) so that a file
given by path verifies itself; ``format`` is the version (``hades-zoo/1``).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np
import safetensors.numpy

from hades_zoo.bounds import MAX_DATASET_BYTES
from hades_zoo.errors import CorruptDatasetError, IncompatibleDatasetError

FORMAT_VERSION = "hades-zoo/1"
MAX_HEADER_BYTES = 16 * 1024 * 1024
JSON_KEYS = ("recipe", "protocol", "obs_norm", "recorded_return", "provenance", "versions", "evaluations", "extra",
             "policy")  # policy: a trained policy file (hades_zoo.policy_file)


def _c_array(x) -> np.ndarray:
    """Little-endian, C-ordered; unlike ``np.ascontiguousarray`` keeps 0-d arrays 0-d."""
    arr = np.asarray(x)
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def payload_sha256(tensors: Mapping[str, np.ndarray]) -> str:
    """sha256 over the tensors in sorted-name order: ``name|dtype|shape\\n`` then the
    little-endian C-order bytes of each. Independent of header layout and metadata."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = _c_array(tensors[name])
        h.update(f"{name}|{arr.dtype.str}|{list(arr.shape)}\n".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def encode_metadata(meta: Mapping[str, object]) -> dict[str, str]:
    out = {}
    for k, v in meta.items():
        if v is None:
            continue
        out[k] = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return out


def decode_metadata(meta: Mapping[str, str], path) -> dict:
    out: dict = {}
    for k, v in meta.items():
        if k in JSON_KEYS:
            try:
                out[k] = json.loads(v)
            except json.JSONDecodeError:
                raise CorruptDatasetError(f"{path}: metadata field {k!r} is not valid JSON; the file is damaged, download or export it again") from None
        else:
            out[k] = v
    return out


_ST_DTYPES = {"float32": "F32", "float64": "F64", "float16": "F16", "int32": "I32", "int64": "I64", "int16": "I16",
              "int8": "I8", "uint32": "U32", "uint64": "U64", "uint16": "U16", "uint8": "U8", "bool": "BOOL"}


def safetensors_bytes(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """A safetensors file with a *canonical* header (sorted keys, tensors in name
    order): the library's writer orders its header by a per-process hash, so the
    same content would give different bytes and break resume bit-identity."""
    header: dict = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    chunks, offset = [], 0
    for name in sorted(tensors):
        arr = _c_array(tensors[name])
        raw = arr.tobytes()
        header[name] = {"dtype": _ST_DTYPES[arr.dtype.name], "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def _umask() -> int:
    """The process umask (read without changing it where Linux tells it, else set and restored)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Temp file in the target dir + fsync + rename: readers never see a partial file. The file
    gets the mode a plain ``open(path, "w")`` would give (0666 less the umask), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], meta: Mapping[str, object]) -> str:
    """Write atomically (temp file + rename, never a partial file); returns the file sha256."""
    tensors = {k: _c_array(v) for k, v in tensors.items()}
    meta = dict(meta)
    meta["format"] = FORMAT_VERSION
    meta["sha256"] = payload_sha256(tensors)
    data = safetensors_bytes(tensors, encode_metadata(meta))
    atomic_write(path, data)
    return hashlib.sha256(data).hexdigest()


def read_header(source: bytes | str | os.PathLike, where=None) -> dict:
    """The JSON header of a safetensors file: its tensors' entries and ``__metadata__``.

    The one reader of the layout (8-byte little-endian length, then the JSON). ``source`` is the
    file's bytes, or a path, of which only the header is read (cheap on large files).

    Raises:
        CorruptDatasetError: truncated, not a safetensors file, or a header that is not a JSON object.
        OSError: ``source`` is a path that cannot be opened.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        where, total = where or "data", len(source)
        prefix, body = bytes(source[:8]), lambda n: bytes(source[8 : 8 + n])
        return _parse_header(prefix, total, body, where)
    try:
        with open(source, "rb") as f:
            return _parse_header(f.read(8), os.fstat(f.fileno()).st_size, f.read, where or source)
    except OSError as e:
        raise CorruptDatasetError(f"{where or source}: cannot be read ({e.strerror or type(e).__name__}); check the "
                                  "file and its permissions") from None


def _parse_header(prefix: bytes, total: int, body, where) -> dict:
    if total < 8:
        raise CorruptDatasetError(f"{where}: file is truncated ({total} bytes); download or export it again")
    (header_len,) = struct.unpack("<Q", prefix)
    if header_len > MAX_HEADER_BYTES or 8 + header_len > total:
        raise CorruptDatasetError(f"{where}: file is truncated or not a safetensors file; download or export it again")
    try:
        header = json.loads(body(header_len))
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise CorruptDatasetError(f"{where}: not a readable safetensors file ({type(e).__name__}); download or export it again") from None
    if not isinstance(header, dict):
        raise CorruptDatasetError(f"{where}: not a readable safetensors file (its header is not a JSON object); "
                                  "download or export it again")
    return header


def read_bounded(path: str | os.PathLike, limit: int) -> bytes:
    """At most ``limit`` + 1 bytes of ``path`` (a /proc file says size 0 and may not end).

    Raises:
        OSError: the file cannot be opened or read (permissions, EIO); callers turn it into their
            typed error.
    """
    with open(path, "rb") as f:
        return f.read(limit + 1)


def file_kind(path: str | os.PathLike) -> str | None:
    """What a hades-zoo file holds, from its header alone: ``"dataset"``, ``"multitask"`` (a merged
    dataset) or ``"policy"`` (``hades_zoo.policy_file``); ``None`` for anything else or no file."""
    if not os.path.isfile(path):
        return None
    try:
        meta = read_header(path).get("__metadata__") or {}
    except (CorruptDatasetError, OSError):
        return None
    if meta.get("format") != FORMAT_VERSION:
        return None
    return meta.get("kind") or "dataset"


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read and verify a dataset file: structure, format version, payload sha256."""
    path = Path(path)
    if not path.is_file():
        raise CorruptDatasetError(f"{path}: no such dataset file; check the path or use a catalog name (hades-zoo list)")
    if path.stat().st_size > MAX_DATASET_BYTES:
        raise IncompatibleDatasetError(f"{path}: {path.stat().st_size:,} bytes is over the bound of {MAX_DATASET_BYTES:,} "
                                       "(hades_zoo.bounds.MAX_DATASET_BYTES); not a hades-zoo dataset")
    try:
        data = read_bounded(path, MAX_DATASET_BYTES)
    except OSError as e:
        raise CorruptDatasetError(f"{path}: cannot be read ({e.strerror or type(e).__name__}); check the file and "
                                  "its permissions") from None
    if len(data) > MAX_DATASET_BYTES:
        raise IncompatibleDatasetError(f"{path}: over the bound of {MAX_DATASET_BYTES:,} bytes "
                                       "(hades_zoo.bounds.MAX_DATASET_BYTES); not a hades-zoo dataset")
    header = read_header(data, path)
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as e:  # safetensors raises its own SafetensorError for bad layouts
        raise CorruptDatasetError(f"{path}: not a readable safetensors file ({type(e).__name__}); download or export it again") from None
    raw_meta = header.get("__metadata__") or {}
    version = raw_meta.get("format")
    if version != FORMAT_VERSION:
        raise IncompatibleDatasetError(
            f"{path}: format version {version!r} is not {FORMAT_VERSION!r}; "
            + ("this is not a hades-zoo dataset (convert it with hades-zoo import-legacy)" if version is None else "upgrade hades-zoo to read it")
        )
    expected = raw_meta.get("sha256")
    actual = payload_sha256(tensors)
    if expected != actual:
        raise CorruptDatasetError(
            f"{path}: sha256 mismatch (file says {str(expected)[:12]}…, content is {actual[:12]}…): the data is corrupted; download or export it again"
        )
    return tensors, decode_metadata(raw_meta, path)
