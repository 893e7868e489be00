"""Several JAX processes, one distillation: join, watch the peers, leave.

Why a module of its own: ``jax.distributed.initialize`` must run before anything touches a
device; only process 0 may write the run directory; and a peer that dies leaves the others
blocked in a gloo collective that never times out, while JAX's own heartbeat check ends them
with a C++ abort and a stack trace. So every process runs a watchdog thread over the
coordinator's key-value store: a heartbeat counter per process, a ``failed`` key a process
sets before leaving on an error, a ``done`` key on success. A silent peer, a lost
coordinator or a failed peer ends the process with one ``error:`` line and ``os._exit``
(a clean exit would wait on the dead peer in JAX's shutdown barrier).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import jax
import numpy as np
from jax._src import distributed as jax_dist
from jax.experimental import multihost_utils

from hades_zoo.errors import ConfigError

PREFIX = "distill"
_FAILING = threading.Lock()
PEER_LOST = 1  # exit status of a process whose peers failed (the run itself may be fine: resume it)


@dataclasses.dataclass
class Session:
    """Where this process stands: ``process_id`` of ``num_processes`` (1: not distributed)."""

    process_id: int = 0
    num_processes: int = 1
    coordinator: str | None = None
    peer_timeout: float = 60.0
    hint: str = ""  # appended to a peer-loss error: what to do next (``distill resume DIR``)
    client: Any = None
    _barriers: int = 0
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    @property
    def is_main(self) -> bool:
        return self.process_id == 0

    @property
    def distributed(self) -> bool:
        return self.client is not None

    def fail(self, message: str, code: int = PEER_LOST, *, tell_peers: bool = True) -> None:
        """Print one ``error:`` line, tell the peers why (best effort) and end this process now.

        Process 0 hosts the coordination service, and JAX aborts every process that loses it:
        so it leaves last, once the others said they left (or a few seconds passed)."""
        if not _FAILING.acquire(blocking=False):  # another thread is already saying why
            threading.Event().wait()
        line = f"error: {message}"
        if self.hint and code == PEER_LOST:
            line += f"; {self.hint}"
        os.write(2, (line + "\n").encode())
        try:  # our line is the last word: JAX's threads may log their own view of the same failure
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        except OSError:
            pass
        if self.client is not None:
            try:
                if tell_peers:
                    why = json.dumps({"process": self.process_id, "code": code, "message": message})
                    self.client.key_value_set(f"{PREFIX}/failed", why, allow_overwrite=True)
                self.client.key_value_set(f"{PREFIX}/left/{self.process_id}", "1", allow_overwrite=True)
                if self.is_main:
                    deadline = time.monotonic() + 3 + 2 * _interval(self.peer_timeout)
                    left = lambda: len(self.client.key_value_dir_get(f"{PREFIX}/left/"))  # noqa: E731
                    while time.monotonic() < deadline and left() < self.num_processes:
                        time.sleep(0.1)
            except Exception:  # noqa: BLE001 - the coordinator may be the one that is gone
                pass
        os._exit(code)

    def relay_failure(self) -> None:
        """If another process failed and said why, fail with its line and status."""
        try:
            failed = _try_get(self.client, f"{PREFIX}/failed")
        except Exception:  # noqa: BLE001 - the coordinator is gone: nothing to relay
            return
        if failed:  # the same line and status as the process that failed (a bad config fails them all)
            why = json.loads(failed)
            if why["process"] != self.process_id:
                self.fail(f"the run stopped on process {why['process']}: {why['message']}", why["code"], tell_peers=False)

    def barrier(self, name: str) -> None:
        """Wait until every process got here. Gloo's first collective of a program gives its
        peers only 30 s to arrive, so a process that compiles slower (a cache miss) must not be
        waited for inside one. No deadline of our own: the watchdog ends a wait on a dead peer."""
        if self.client is None:
            return
        self._barriers += 1
        self.client.wait_at_barrier(f"{PREFIX}/{self._barriers}/{name}", 24 * 3600 * 1000)

    def finish(self) -> None:
        """Success: stop watching, say so, and leave through JAX's shutdown barrier."""
        if self.client is None:
            return
        self.client.key_value_set(f"{PREFIX}/done/{self.process_id}", "1", allow_overwrite=True)
        self._stop.set()
        jax.distributed.shutdown()


SINGLE = Session()


def join(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None, *,
         auto: bool = False, join_timeout: float = 300.0, peer_timeout: float = 60.0) -> Session:
    """``jax.distributed.initialize`` with bounded, one-line failures; a no-op (``SINGLE``) when
    nothing asks for several processes. ``auto``: let JAX detect the cluster (SLURM's srun,
    Open MPI, TPU pods, ``JAX_COORDINATOR_ADDRESS``) for whatever is not given."""
    if not auto and coordinator is None and num_processes is None and process_id is None:
        return SINGLE
    if jax_dist.global_state.client is not None:
        raise ConfigError("jax.distributed is already initialized in this process; call distill's entry point instead")
    coordinator = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS")
    _check_args(coordinator, num_processes, process_id, auto)
    joined = threading.Event()
    where = f"process {process_id if process_id is not None else '?'} of {num_processes or '?'}"
    threading.Thread(target=_join_watchdog, args=(joined, coordinator, where, join_timeout, process_id),
                     daemon=True).start()
    try:
        # JAX's own timeouts are backstops, longer than ours: theirs abort with a stack trace.
        jax.distributed.initialize(coordinator, num_processes, process_id,
                                   cluster_detection_method=None if auto else "deactivate",
                                   initialization_timeout=int(join_timeout + 30),
                                   heartbeat_timeout_seconds=int(2 * peer_timeout + 10),
                                   shutdown_timeout_seconds=int(2 * peer_timeout + 10))
    except (ValueError, TypeError, RuntimeError) as e:  # e.g. nothing detected, bad ids
        joined.set()
        raise ConfigError(f"cannot start the distributed run: {e} (give --coordinator HOST:PORT --num-processes N "
                          "--process-id I, or launch under SLURM's srun / mpirun with --distributed)") from None
    joined.set()
    session = Session(jax.process_index(), jax.process_count(), jax_dist.global_state.coordinator_address,
                      peer_timeout, client=jax_dist.global_state.client)
    threading.Thread(target=_peer_watchdog, args=(session,), daemon=True).start()
    return session


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it), for a coordinator on this host."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_local(argv: list[str], coordinator: str, n: int) -> list[subprocess.Popen]:
    """Processes 1..n-1 of a run on this host: ``python -m distill ARGV`` joined at ``coordinator``.

    Why processes and not devices: on CPU, ``--xla_force_host_platform_device_count`` splits the
    population over devices that XLA runs one after another (measured: no second core used), while
    brax's physics is hundreds of small fusions that one program runs on one core. They write
    nothing and print nothing: a failure reaches process 0 through the coordinator's store
    (``Session.relay_failure``), which prints the one line."""
    return [subprocess.Popen([sys.executable, "-m", "distill", *argv, "--coordinator", coordinator,
                              "--num-processes", str(n), "--process-id", str(i)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(1, n)]


def _check_args(coordinator, num_processes, process_id, auto) -> None:
    if auto:
        return
    missing = [n for n, v in (("--coordinator", coordinator),
                              ("--num-processes", num_processes), ("--process-id", process_id)) if v is None]
    if missing:
        raise ConfigError(f"several processes need --coordinator, --num-processes and --process-id together "
                          f"(missing {', '.join(missing)}), or --distributed to detect them (SLURM's srun, mpirun)")
    if not 0 <= process_id < num_processes:
        raise ConfigError(f"--process-id {process_id} is outside 0..{num_processes - 1} (--num-processes {num_processes})")
    if ":" not in coordinator or not coordinator.rsplit(":", 1)[1].isdigit():
        raise ConfigError(f"--coordinator {coordinator!r} is not HOST:PORT (e.g. 10.0.0.1:12355, the host of process 0)")


def _join_watchdog(joined: threading.Event, coordinator, where: str, timeout: float, process_id) -> None:
    if joined.wait(timeout):
        return
    if coordinator and process_id != 0 and not _reachable(coordinator):
        msg = (f"{where}: nothing answered at the coordinator {coordinator} within {timeout:g} s; start process 0 "
               "with the same --coordinator (its host and a free port) and check that the port is reachable")
    else:
        msg = (f"{where}: not every process joined at the coordinator {coordinator or '(auto-detected)'} within "
               f"{timeout:g} s; start all --num-processes processes with the same --coordinator, each with its own "
               "--process-id")
    SINGLE.fail(msg, code=2)


def _reachable(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            return True
    except OSError:
        return False


def _peer_watchdog(s: Session) -> None:
    """Heartbeat, and watch: process 0 watches everyone, the others watch process 0 (whose
    exit on a lost peer then reaches them), so the store sees O(N) reads per beat."""
    interval = _interval(s.peer_timeout)
    seen: dict[int, tuple[str | None, float]] = {}  # process -> (last counter, when it last changed)
    beat = 0
    while not s._stop.wait(interval):
        beat += 1
        try:
            s.client.key_value_set(f"{PREFIX}/alive/{s.process_id}", str(beat), allow_overwrite=True)
            if s.is_main:
                alive = {int(k.rsplit("/", 1)[1]): v for k, v in s.client.key_value_dir_get(f"{PREFIX}/alive/")}
                done = {int(k.rsplit("/", 1)[1]) for k, _ in s.client.key_value_dir_get(f"{PREFIX}/done/")}
                watched = [p for p in range(1, s.num_processes) if p not in done]
            else:
                alive = {0: _try_get(s.client, f"{PREFIX}/alive/0")}
                watched = [] if _try_get(s.client, f"{PREFIX}/done/0") else [0]
        except Exception as e:  # noqa: BLE001 - any RPC failure means the coordinator is gone
            if s._stop.is_set():
                return
            s.fail(f"process {s.process_id} of {s.num_processes} lost the coordinator at {s.coordinator} "
                   f"(process 0 was killed or crashed: {str(e).splitlines()[0][:200]})", tell_peers=False)
        if s._stop.is_set():
            return
        s.relay_failure()
        now = time.monotonic()
        for p in watched:
            last = seen.setdefault(p, (None, now))
            if alive.get(p) != last[0]:
                seen[p] = (alive.get(p), now)
            elif now - last[1] > s.peer_timeout:
                s.fail(f"process {p} of {s.num_processes} stopped responding for {s.peer_timeout:g} s "
                       "(killed or crashed, or unreachable)")


def _interval(peer_timeout: float) -> float:
    return max(0.2, min(2.0, peer_timeout / 10))


def _try_get(client, key: str) -> str | None:
    """The value, or None when the key is unset (the store answers NOT_FOUND)."""
    try:
        return client.key_value_try_get(key)
    except Exception as e:  # noqa: BLE001
        if "NOT_FOUND" in str(e) or "not found" in str(e).lower():
            return None
        raise


def to_host(tree):
    """Numpy copies of a pytree of (possibly global) arrays. With several processes an array
    may span devices of other processes; those are gathered (a collective every process runs)."""
    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
            return np.asarray(x)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(one, tree)


def agree(session: Session, value: int, what: str) -> None:
    """Every process must hold the same ``value`` (e.g. the checkpoint's generation): a run
    directory that is not on a filesystem shared by all processes is caught here."""
    if not session.distributed:
        return
    session.barrier("agree")
    values = np.asarray(multihost_utils.process_allgather(np.int64(value))).ravel()
    if len(set(values.tolist())) > 1:
        raise ConfigError(f"the processes disagree on {what} ({', '.join(f'process {i}: {v}' for i, v in enumerate(values))}); "
                          "the run directory must be on a filesystem every process shares")


__all__ = ["Session", "SINGLE", "join", "to_host", "agree", "free_port", "start_local", "PEER_LOST"]
