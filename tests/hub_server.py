"""A small Hugging Face hub-compatible HTTP server for tests (reads and writes).

No installable server accepts ``huggingface_hub`` uploads, so the tests start this one on
127.0.0.1 and point ``HF_ENDPOINT`` at it. It speaks the subset of the hub's HTTP API that
``HfApi``, ``hf_hub_download`` and ``datasets.load_dataset`` use:

writes   POST /api/repos/create, /api/repos/delete, /api/validate-yaml,
         POST /api/{type}s/{org}/{name}/preupload/{rev}   (every file is a "regular" git blob)
         POST /api/{type}s/{org}/{name}/commit/{rev}      (NDJSON: header, file, deletedFile, deletedFolder)
         POST /api/{type}s/{org}/{name}/tag/{rev}, DELETE .../tag/{tag}
reads    GET  /api/{type}s[?filter=&author=&search=&full=&limit=]   (list, filtered on card tags)
         GET  /api/{type}s/{org}/{name}[/revision/{rev}], .../refs, .../tree/{rev}[/{path}],
              .../commits/{rev}, POST .../paths-info/{rev}, GET /api/whoami-v2
         HEAD/GET /[{type}s/]{org}/{name}/resolve/{rev}/{path}    (ETag = git blob sha1,
              X-Repo-Commit, Content-Length, byte ranges)

Repos are bare git repos at ``ROOT/{type}s/{org}/{name}`` (branch ``main``, tags as git tags),
the layout that ``olah`` serves from its ``mirrors-path``, so the same repos can also be read
through olah. Errors carry the hub's ``X-Error-Code`` headers (RepoNotFound,
RevisionNotFound, EntryNotFound). With ``--token T`` (repeatable) writes need
``Authorization: Bearer T`` and private repos are hidden from other callers; a wrong token is
refused everywhere with the hub's "Invalid credentials" 401.

    python tests/hub_server.py --root DIR --port PORT [--token T] [--host 127.0.0.1] [--truncate-downloads]

Prints ``serving http://HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_GIT_ENV = {"GIT_AUTHOR_NAME": "hub", "GIT_AUTHOR_EMAIL": "hub@localhost", "GIT_COMMITTER_NAME": "hub",
            "GIT_COMMITTER_EMAIL": "hub@localhost", "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


class HubHTTPError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


def _not_found(what: str = "Repository not found") -> HubHTTPError:
    return HubHTTPError(404, what, "RepoNotFound")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# -- storage ----------------------------------------------------------------------------
class GitStore:
    """Bare git repos under ``root/{type}s/{org}/{name}``; one lock serialises writes."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def path(self, rtype: str, repo_id: str) -> Path:
        return self.root / rtype / repo_id

    def git(self, repo: Path, *args: str, input: bytes | None = None) -> bytes:
        env = {**os.environ, **_GIT_ENV, "HOME": str(self.root)}
        proc = subprocess.run(["git", "--git-dir", str(repo), *args], input=input, capture_output=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def exists(self, rtype: str, repo_id: str) -> bool:
        return (self.path(rtype, repo_id) / "HEAD").is_file()

    def repos(self, rtype: str) -> list[str]:
        base = self.root / rtype
        return sorted(f"{o.name}/{r.name}" for o in base.glob("*") if o.is_dir() for r in o.glob("*") if (r / "HEAD").is_file())

    def create(self, rtype: str, repo_id: str, private: bool) -> bool:
        with self.lock:
            if self.exists(rtype, repo_id):
                return False
            repo = self.path(rtype, repo_id)
            repo.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True, capture_output=True,
                           env={**os.environ, **_GIT_ENV, "HOME": str(self.root)})
            self.git(repo, "config", "hub.private", "true" if private else "false")
            self.git(repo, "config", "hub.createdAt", _now())
            return True

    def delete(self, rtype: str, repo_id: str) -> None:
        import shutil

        with self.lock:
            shutil.rmtree(self.path(rtype, repo_id))

    def private(self, repo: Path) -> bool:
        try:
            return self.git(repo, "config", "hub.private").strip() == b"true"
        except RuntimeError:
            return False

    def resolve(self, repo: Path, rev: str) -> str | None:
        if rev.startswith("-"):
            return None
        proc = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", "--verify", "-q", f"{rev}^{{commit}}"],
                              capture_output=True, env={**os.environ, **_GIT_ENV})
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    def entries(self, repo: Path, commit: str) -> list[dict]:
        """Every file and directory of a commit: {type, oid, size, path}."""
        out = []
        for rec in self.git(repo, "ls-tree", "-r", "-t", "-l", "-z", commit).split(b"\0"):
            if not rec:
                continue
            meta, path = rec.split(b"\t", 1)
            _mode, kind, oid, size = meta.split()
            is_dir = kind == b"tree"
            out.append({"type": "directory" if is_dir else "file", "oid": oid.decode(),
                        "size": 0 if is_dir else int(size), "path": path.decode()})
        return out

    def blob(self, repo: Path, oid: str) -> bytes:
        return self.git(repo, "cat-file", "blob", oid)

    def commit_meta(self, repo: Path, commit: str) -> dict:
        raw = self.git(repo, "show", "-s", "--format=%H%x00%cI%x00%s%x00%b", commit).decode()
        sha, date, title, body = (raw.split("\0") + ["", "", ""])[:4]
        return {"id": sha, "date": _iso(date), "title": title, "message": body.strip()}

    def refs(self, repo: Path) -> dict:
        out = {"branches": [], "tags": [], "converts": []}
        raw = self.git(repo, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)", "refs/heads", "refs/tags")
        for line in raw.decode().splitlines():
            ref, obj, peeled = line.split("\0")
            group, prefix = ("branches", "refs/heads/") if ref.startswith("refs/heads/") else ("tags", "refs/tags/")
            out[group].append({"name": ref[len(prefix):], "ref": ref, "targetCommit": peeled or obj})
        return out

    def commit(self, repo: Path, branch: str, ops: list[tuple[str, str, bytes | None]], message: str, description: str,
               parent_expected: str | None) -> str:
        """Apply ('add', path, data) / ('delete', path, None) / ('delete_folder', path, None) on ``branch``."""
        with self.lock:
            ref = f"refs/heads/{branch}"
            parent = self.resolve(repo, ref)
            if parent is None and self.resolve(repo, branch) is not None:
                raise HubHTTPError(400, f"{branch!r} is not a branch; commit to a branch")
            if parent_expected and parent_expected != parent:
                raise HubHTTPError(412, f"parent commit {parent_expected} is not the head of {branch} ({parent})")
            files = {e["path"]: e["oid"] for e in self.entries(repo, parent) if e["type"] == "file"} if parent else {}
            for kind, path, data in ops:
                if kind == "add":
                    files[path] = self.git(repo, "hash-object", "-w", "--stdin", input=data).decode().strip()
                elif kind == "delete":
                    if files.pop(path, None) is None:
                        raise HubHTTPError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                else:
                    prefix = path.rstrip("/") + "/"
                    gone = [p for p in files if p.startswith(prefix)]
                    if not gone:
                        raise HubHTTPError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in gone:
                        del files[p]
            tree = self._write_tree(repo, files)
            msg = message + (f"\n\n{description}" if description else "")
            args = ["commit-tree", tree, "-m", msg] + (["-p", parent] if parent else [])
            new = self.git(repo, *args).decode().strip()
            self.git(repo, "update-ref", ref, new, parent or "0" * 40)
            return new

    def _write_tree(self, repo: Path, files: dict[str, str]) -> str:
        root: dict = {}
        for path, oid in files.items():
            node, parts = root, path.split("/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise HubHTTPError(400, f"{path}: a parent of this path is a file")
            if isinstance(node.get(parts[-1]), dict):
                raise HubHTTPError(400, f"{path} is a folder")
            node[parts[-1]] = oid

        def write(node: dict) -> str:
            lines = []
            for name, child in sorted(node.items()):
                if isinstance(child, dict):
                    lines.append(f"040000 tree {write(child)}\t{name}")
                else:
                    lines.append(f"100644 blob {child}\t{name}")
            return self.git(repo, "mktree", "-z", input="".join(ln + "\0" for ln in lines).encode()).decode().strip()

        return write(root)

    def tag(self, repo: Path, tag: str, commit: str, message: str | None) -> None:
        with self.lock:
            if self.resolve(repo, f"refs/tags/{tag}") is not None:
                raise HubHTTPError(409, f"Tag {tag} already exists")
            if message:
                self.git(repo, "tag", "-a", tag, commit, "-m", message)
            else:
                self.git(repo, "tag", tag, commit)

    def delete_tag(self, repo: Path, tag: str) -> None:
        with self.lock:
            if self.resolve(repo, f"refs/tags/{tag}") is None:
                raise HubHTTPError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
            self.git(repo, "tag", "-d", tag)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _iso(date: str) -> str:
    try:
        return datetime.datetime.fromisoformat(date).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except ValueError:
        return _now()


def card_data(readme: bytes | None) -> dict | None:
    """The YAML front matter of a README.md (None when absent or not a mapping)."""
    if not readme:
        return None
    m = re.match(r"^\s*---\s*\n(.*?)\n---\s*(\n|$)", readme.decode("utf-8", errors="replace"), flags=re.S)
    if not m:
        return None
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _as_list(value) -> list:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def hub_tags(card: dict | None) -> list[str]:
    """Tags as the hub derives them from a card: the card's own plus ``key:value`` facets."""
    if not card:
        return []
    tags = [str(t) for t in _as_list(card.get("tags"))]
    for key in ("task_categories", "task_ids", "size_categories", "license", "language", "modality"):
        tags += [f"{key}:{v}" for v in _as_list(card.get(key))]
    return list(dict.fromkeys(tags))


# -- HTTP ---------------------------------------------------------------------------------
class HubHandler(BaseHTTPRequestHandler):
    server_version = "hades-zoo-test-hub/1"
    protocol_version = "HTTP/1.1"
    store: GitStore
    tokens: frozenset[str]
    truncate: bool = False

    # plumbing
    def log_message(self, fmt, *args):  # one line per request on stderr
        sys.stderr.write(f"hub: {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/json", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200, headers: dict | None = None):
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _error(self, e: HubHTTPError):
        headers = {"X-Error-Message": e.message}
        if e.code:
            headers["X-Error-Code"] = e.code
        self._json({"error": e.message, **e.extra}, e.status, headers)

    def _read_body(self) -> bytes:
        """The whole request body, read before answering so that a kept-alive connection stays in sync."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _body(self) -> bytes:
        return self._request_body

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _check_token(self, write: bool) -> bool:
        """True when the caller holds a valid token (always when the server has none)."""
        token = self._token()
        if not self.tokens:
            return True
        if token is not None and token not in self.tokens:
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        if write and token is None:
            raise HubHTTPError(401, "You must be authenticated to access this resource")
        return token is not None

    def _base(self) -> str:
        return f"http://{self.headers.get('Host') or '%s:%d' % self.server.server_address[:2]}"

    def _dispatch(self):
        self._request_body = self._read_body()
        try:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/")[1:]]
            query = parse_qs(url.query)
            self._route(parts, query)
        except HubHTTPError as e:
            self._error(e)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # noqa: BLE001 - a test server answers 500 with the reason
            self._json({"error": f"{type(e).__name__}: {e}"}, 500)

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = _dispatch

    # routing
    def _route(self, p: list[str], q: dict):
        m = self.command
        if p[:1] == ["api"]:
            if p[1:] == ["whoami-v2"] and m == "GET":
                return self._whoami()
            if p[1:] == ["validate-yaml"] and m == "POST":
                return self._validate_yaml()
            if p[1:2] == ["repos"] and m == "POST" and p[2:] in (["create"], ["delete"]):
                return self._create_repo() if p[2] == "create" else self._delete_repo()
            if len(p) == 2 and p[1] in REPO_TYPES and m in ("GET", "HEAD"):
                return self._list(p[1], q)
            if len(p) >= 4 and p[1] in REPO_TYPES:
                rtype, repo_id, rest = p[1], f"{p[2]}/{p[3]}", p[4:]
                return self._repo_api(rtype, repo_id, rest, q)
        # resolve: /{type}s/{org}/{name}/resolve/{rev}/{path...} or /{org}/{name}/resolve/... (models)
        if len(p) >= 6 and p[0] in REPO_TYPES and p[3] == "resolve" and m in ("GET", "HEAD"):
            return self._resolve(p[0], f"{p[1]}/{p[2]}", p[4], "/".join(p[5:]))
        if len(p) >= 5 and p[2] == "resolve" and m in ("GET", "HEAD"):
            return self._resolve("models", f"{p[0]}/{p[1]}", p[3], "/".join(p[4:]))
        raise HubHTTPError(404, f"Sorry, we can't find the page you are looking for: {m} {self.path}")

    def _repo(self, rtype: str, repo_id: str, write: bool = False) -> Path:
        authed = self._check_token(write)
        if not self.store.exists(rtype, repo_id):
            raise _not_found()
        repo = self.store.path(rtype, repo_id)
        if self.store.private(repo) and not authed:
            raise HubHTTPError(401, "Repository not found", "RepoNotFound")
        return repo

    def _commit_of(self, repo: Path, rev: str) -> str:
        commit = self.store.resolve(repo, rev)
        if commit is None:
            raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    def _repo_api(self, rtype: str, repo_id: str, rest: list[str], q: dict):
        m = self.command
        if not rest and m in ("GET", "HEAD"):
            return self._json(self._info(rtype, repo_id, self._repo(rtype, repo_id), "main", full=True, q=q))
        head, args = rest[0], rest[1:]
        if head == "revision" and args and m in ("GET", "HEAD"):
            return self._json(self._info(rtype, repo_id, self._repo(rtype, repo_id), args[0], full=True, q=q))
        if head == "refs" and m == "GET":
            return self._json(self.store.refs(self._repo(rtype, repo_id)) | ({"pullRequests": []} if q.get("include_prs") else {}))
        if head == "tree" and args and m == "GET":
            return self._tree(self._repo(rtype, repo_id), args[0], "/".join(args[1:]), q)
        if head == "paths-info" and args and m == "POST":
            return self._paths_info(self._repo(rtype, repo_id), args[0])
        if head == "commits" and args and m == "GET":
            repo = self._repo(rtype, repo_id)
            commit = self._commit_of(repo, args[0])
            shas = self.store.git(repo, "rev-list", "--max-count=100", commit).decode().split()
            return self._json([{**self.store.commit_meta(repo, s), "authors": [{"user": "hub"}]} for s in shas])
        if head == "preupload" and args and m == "POST":
            return self._preupload(self._repo(rtype, repo_id, write=True), args[0])
        if head == "commit" and args and m == "POST":
            return self._commit(rtype, repo_id, self._repo(rtype, repo_id, write=True), args[0], q)
        if head == "tag" and args and m == "POST":
            repo = self._repo(rtype, repo_id, write=True)
            payload = json.loads(self._body() or b"{}")
            tag = payload.get("tag") or ""
            if not _NAME_RE.match(tag):
                raise HubHTTPError(400, f"invalid tag name {tag!r}")
            self.store.tag(repo, tag, self._commit_of(repo, args[0]), payload.get("message"))
            return self._json({})
        if head == "tag" and args and m == "DELETE":
            self.store.delete_tag(self._repo(rtype, repo_id, write=True), args[0])
            return self._json({})
        raise HubHTTPError(404, f"Sorry, we can't find the page you are looking for: {m} {self.path}")

    # reads
    def _whoami(self):
        if self._token() is None or (self.tokens and self._token() not in self.tokens):
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        self._json({"type": "user", "name": "tester", "fullname": "Test User", "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def _readme(self, repo: Path, commit: str) -> bytes | None:
        try:
            return self.store.git(repo, "cat-file", "blob", f"{commit}:README.md")
        except RuntimeError:
            return None

    def _info(self, rtype: str, repo_id: str, repo: Path, rev: str, full: bool, q: dict | None = None) -> dict:
        commit = self.store.resolve(repo, rev)
        if commit is None and rev != "main":
            raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        card = card_data(self._readme(repo, commit)) if commit else None
        created = self.store.git(repo, "config", "hub.createdAt").decode().strip()
        info = {"_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "author": repo_id.split("/")[0],
                "sha": commit, "lastModified": self.store.commit_meta(repo, commit)["date"] if commit else created,
                "createdAt": created, "private": self.store.private(repo), "gated": False, "disabled": False,
                "downloads": 0, "likes": 0, "tags": hub_tags(card)}
        if full:
            info["cardData"] = card or {}
            entries = self.store.entries(repo, commit) if commit else []
            blobs = bool(q and q.get("blobs"))
            info["siblings"] = [{"rfilename": e["path"], **({"size": e["size"], "blobId": e["oid"]} if blobs else {})}
                                for e in entries if e["type"] == "file"]
            if REPO_TYPES[rtype] == "dataset":
                info["description"] = ""
        return info

    def _list(self, rtype: str, q: dict):
        authed = self._check_token(write=False)
        wanted = [f for f in q.get("filter", []) if f]
        author = (q.get("author") or [None])[0]
        search = [s.lower() for s in q.get("search", [])]
        full = bool(q.get("full")) or bool(q.get("expand"))
        limit = int((q.get("limit") or [0])[0] or 0)
        out = []
        for repo_id in self.store.repos(rtype):
            repo = self.store.path(rtype, repo_id)
            if self.store.private(repo) and not authed:
                continue
            if author and repo_id.split("/")[0] != author:
                continue
            if search and not all(s in repo_id.lower() for s in search):
                continue
            info = self._info(rtype, repo_id, repo, "main", full=full)
            if all(f in info["tags"] for f in wanted):
                out.append(info)
        self._json(out[:limit] if limit else out)

    def _entry(self, e: dict, repo: Path, commit: str, expand: bool) -> dict:
        item = dict(e)
        if expand:
            sha = self.store.git(repo, "log", "-1", "--format=%H", commit, "--", e["path"]).decode().strip()
            meta = self.store.commit_meta(repo, sha or commit)
            item["lastCommit"] = {"id": meta["id"], "title": meta["title"], "date": meta["date"]}
        return item

    def _tree(self, repo: Path, rev: str, path: str, q: dict):
        commit = self._commit_of(repo, rev)
        path = path.strip("/")
        recursive = (q.get("recursive") or ["false"])[0].lower() in ("1", "true")
        expand = (q.get("expand") or ["false"])[0].lower() in ("1", "true")
        entries = self.store.entries(repo, commit)
        if path and not any(e["path"] == path and e["type"] == "directory" for e in entries):
            raise HubHTTPError(404, f"Entry not found: {path}", "EntryNotFound")
        prefix = path + "/" if path else ""
        out = [self._entry(e, repo, commit, expand) for e in entries if e["path"].startswith(prefix)
               and (recursive or "/" not in e["path"][len(prefix):])]
        self._json(out)

    def _paths_info(self, repo: Path, rev: str):
        commit = self._commit_of(repo, rev)
        body = self._body().decode()
        ctype = self.headers.get("Content-Type") or ""
        if "json" in ctype:
            payload = json.loads(body or "{}")
            paths, expand = _as_list(payload.get("paths")), bool(payload.get("expand"))
        else:
            form = parse_qs(body)
            paths, expand = form.get("paths", []), (form.get("expand") or ["false"])[0].lower() in ("1", "true")
        by_path = {e["path"]: e for e in self.store.entries(repo, commit)}
        self._json([self._entry(by_path[p.strip("/")], repo, commit, expand) for p in paths if p.strip("/") in by_path])

    def _resolve(self, rtype: str, repo_id: str, rev: str, path: str):
        repo = self._repo(rtype, repo_id)
        commit = self._commit_of(repo, rev)
        entry = next((e for e in self.store.entries(repo, commit) if e["path"] == path and e["type"] == "file"), None)
        if entry is None:
            raise HubHTTPError(404, f"Entry not found: {path}", "EntryNotFound")
        data = self.store.blob(repo, entry["oid"])
        headers = {"ETag": f'"{entry["oid"]}"', "X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        rng = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range") or "")
        if rng and self.command == "GET":
            start = int(rng.group(1))
            end = int(rng.group(2)) if rng.group(2) else len(data) - 1
            if start >= len(data):
                return self._send(416, b"", "application/octet-stream", {**headers, "Content-Range": f"bytes */{len(data)}"})
            chunk = data[start : end + 1]
            return self._send(206, chunk, "application/octet-stream",
                              {**headers, "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{len(data)}"})
        if self.truncate and self.command == "GET":  # fault injection: half the body, then hang up
            return self._send_truncated(data, headers)
        self._send(200, data, "application/octet-stream", headers)

    def _send_truncated(self, data: bytes, headers: dict):
        import socket

        self.send_response(200)
        for k, v in {**headers, "Content-Type": "application/octet-stream", "Content-Length": str(len(data))}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    # writes
    def _validate_yaml(self):
        payload = json.loads(self._body() or b"{}")
        content = payload.get("content") or ""
        m = re.match(r"^\s*---\s*\n(.*?)\n---\s*(\n|$)", content, flags=re.S)
        if m:
            try:
                data = yaml.safe_load(m.group(1))
            except yaml.YAMLError as e:
                return self._json({"errors": [{"message": f"invalid YAML: {e}"}]}, 400)
            if data is not None and not isinstance(data, dict):
                return self._json({"errors": [{"message": "metadata must be a mapping"}]}, 400)
        self._json({"errors": [], "warnings": []})

    def _create_repo(self):
        self._check_token(write=True)
        payload = json.loads(self._body() or b"{}")
        name, org = payload.get("name") or "", payload.get("organization") or "tester"
        rtype = (payload.get("type") or "model") + "s"
        if rtype not in REPO_TYPES or not _NAME_RE.match(name) or not _NAME_RE.match(org) or ".." in name or "--" in name:
            raise HubHTTPError(400, f"invalid repo {org}/{name} of type {payload.get('type')!r}")
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo_id = f"{org}/{name}"
        prefix = "" if rtype == "models" else f"{rtype}/"
        url = f"{self._base()}/{prefix}{repo_id}"
        if not self.store.create(rtype, repo_id, private):
            raise HubHTTPError(409, f"You already created this {REPO_TYPES[rtype]} repo", extra={"url": url})
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self):
        self._check_token(write=True)
        payload = json.loads(self._body() or b"{}")
        repo_id = f"{payload.get('organization') or 'tester'}/{payload.get('name')}"
        rtype = (payload.get("type") or "model") + "s"
        if not self.store.exists(rtype, repo_id):
            raise _not_found()
        self.store.delete(rtype, repo_id)
        self._json({})

    def _preupload(self, repo: Path, rev: str):
        payload = json.loads(self._body() or b"{}")
        commit = self.store.resolve(repo, rev)
        existing = {e["path"]: e["oid"] for e in self.store.entries(repo, commit) if e["type"] == "file"} if commit else {}
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": existing.get(f["path"])}
                 for f in payload.get("files", [])]
        self._json({"files": files, "commitOid": commit})

    def _commit(self, rtype: str, repo_id: str, repo: Path, rev: str, q: dict):
        if q.get("create_pr"):
            raise HubHTTPError(400, "pull requests are not supported by this test hub")
        header, ops = None, []
        for line in self._body().decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item.get("key"), item.get("value") or {}
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubHTTPError(400, f"unsupported encoding {value.get('encoding')!r}")
                ops.append(("add", _clean_path(value["path"]), base64.b64decode(value["content"])))
            elif key == "deletedFile":
                ops.append(("delete", _clean_path(value["path"]), None))
            elif key == "deletedFolder":
                ops.append(("delete_folder", _clean_path(value["path"]), None))
            else:
                raise HubHTTPError(400, f"unsupported commit operation {key!r} (this test hub stores regular files only)")
        if header is None:
            raise HubHTTPError(400, "the commit payload has no header line")
        sha = self.store.commit(repo, rev, ops, header.get("summary") or "update", header.get("description") or "",
                                header.get("parentCommit"))
        prefix = "" if rtype == "models" else f"{rtype}/"
        self._json({"success": True, "commitOid": sha, "commitUrl": f"{self._base()}/{prefix}{repo_id}/commit/{sha}",
                    "pullRequestUrl": None})


def _clean_path(path: str) -> str:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or any(p in (".", "..") or p.startswith(".git") and p != ".gitattributes" for p in parts):
        raise HubHTTPError(400, f"invalid path in repo: {path!r}")
    return "/".join(parts)


def make_server(root: str | os.PathLike, host: str = "127.0.0.1", port: int = 0, tokens=(),
                truncate: bool = False) -> ThreadingHTTPServer:
    """A server bound to (host, port) (port 0: a free one); call ``serve_forever`` to run it."""
    handler = type("Handler", (HubHandler,), {"store": GitStore(root), "tokens": frozenset(tokens), "truncate": truncate})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="folder holding the git repos ({type}s/{org}/{name})")
    parser.add_argument("--port", type=int, default=0, help="port (0: pick a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", action="append", default=[], help="accepted token (repeatable); none: open hub")
    parser.add_argument("--truncate-downloads", action="store_true",
                        help="fault injection: send half of every downloaded file, then close the connection")
    args = parser.parse_args(argv)
    server = make_server(args.root, args.host, args.port, args.token, args.truncate_downloads)
    print(f"serving http://{server.server_address[0]}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
