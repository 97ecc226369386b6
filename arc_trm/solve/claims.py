"""The work queue that solve's workers share: claim files in the records folder, one per unit of work.

A run has an id (under torchrun one that every rank on every node derives alike; else one the supervising
process draws) and a folder `<records>/claims/<run id>/`. A worker takes a unit
(a task, or a group of tasks trained together) by creating `<unit>.claim` with O_CREAT | O_EXCL, which only
one process can do, on local disks and on NFS alike. It writes who it is into the file (host, pid) and
keeps the file's modification time fresh while it lives (a heartbeat thread). When the unit's records are
saved it creates `<unit>.done` and removes the claim. A claim is stale when its holder is gone: on the same
host its pid has ended; anywhere, its heartbeat is older than the lease (a stopped or hung process, a
machine that died). A stale claim is taken over by renaming it away (of several contenders only one rename
succeeds) and claiming afresh, so every unit is tried while time remains.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

from arc_trm.solve.records import file_name

LEASE = 60.0  # seconds without a heartbeat after which a claim is taken over
HOST = socket.gethostname()


def run_id(state: str) -> str:
    """The run's id. Under torchrun, the same on every rank: torchrun's id (which is "none" unless given) and
    `state`, a digest of the work as the run found it (so that the next run under the same torchrun id, which
    finds other records, gets a fresh queue); else a new random id."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        return f"{os.environ['TORCHELASTIC_RUN_ID']}-{state}"
    return uuid.uuid4().hex[:12]


class ClaimQueue:
    """Units of work claimed one at a time, in the order given, by any number of processes sharing `records`."""

    def __init__(self, records: str | Path, run: str, lease: float = LEASE) -> None:
        self.folder = Path(records) / "claims" / run
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lease = lease
        self.held: set[Path] = set()  # the claims this process made and has not finished

    def claim_next(self, units: Iterable[str]) -> str | None:
        """The first unit that is neither done nor held by a live worker, now claimed by this process."""
        for unit in units:
            if not self.is_done(unit) and self.claim(unit):
                return unit
        return None

    def claim(self, unit: str) -> bool:
        """Claim `unit`; a stale claim is taken over. False when another live worker holds it."""
        path = self._path(unit, "claim")
        if path.exists() and self._stale(path):
            try:
                path.rename(path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.stale"))
            except FileNotFoundError:  # another worker took it over first
                return False
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump({"host": HOST, "pid": os.getpid(), "since": time.time()}, f)
        if self.is_done(unit):  # finished (done, then unclaimed) between our look and our claim
            path.unlink(missing_ok=True)
            return False
        self.held.add(path)
        return True

    def finish(self, unit: str) -> None:
        """Mark `unit` done (call after its records are saved) and drop the claim."""
        self._path(unit, "done").touch()
        path = self._path(unit, "claim")
        path.unlink(missing_ok=True)
        self.held.discard(path)

    def is_done(self, unit: str) -> bool:
        return self._path(unit, "done").exists()

    def pending(self, units: Iterable[str]) -> list[str]:
        """The units not done yet (claimed or not)."""
        return [unit for unit in units if not self.is_done(unit)]

    @contextmanager
    def heartbeat(self, every: float | None = None):
        """While inside, keep this process's claims fresh from a background thread."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(every or self.lease / 4):
                for path in list(self.held):
                    try:
                        os.utime(path)
                    except FileNotFoundError:
                        pass

        thread = threading.Thread(target=beat, name="claim-heartbeat", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()

    def _stale(self, path: Path) -> bool:
        info = _read(path)
        if info.get("host") == HOST and isinstance(info.get("pid"), int) and not _alive(info["pid"]):
            return True
        try:
            return time.time() - path.stat().st_mtime > self.lease
        except FileNotFoundError:
            return False

    def _path(self, unit: str, kind: str) -> Path:
        return self.folder / f"{file_name(unit)[: -len('.json')]}.{kind}"


def clear_claims(records: str | Path, keep: str | None = None) -> None:
    """Remove the claim folders of every run but `keep` (by a run's only supervisor; never under torchrun)."""
    claims = Path(records) / "claims"
    for folder in claims.glob("*") if claims.is_dir() else []:
        if folder.name != keep:
            shutil.rmtree(folder, ignore_errors=True)
    if claims.is_dir() and not any(claims.iterdir()):
        claims.rmdir()


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
