"""Watching an acquisition folder: each new image is denoised once the instrument has finished writing it.

Polling, not file-system events: a poll every ``interval`` seconds works the same on Linux, Windows and
macOS and on network shares (SMB/NFS, where microscope PCs usually write and where inotify-style events
are not delivered), needs no dependency, and a poll a second costs nothing next to denoising an image.

A file is *ready* when its size and modification time have not changed between two polls at least
``settle`` seconds apart (an instrument writing in pieces changes one or the other), and it is not
empty. A ready file that then fails to read is given one more ``settle`` period (a writer that paused
longer than a poll) and read again; only the second failure is reported, once, and the file is left
alone until it changes. Hidden files (``.name``: partial downloads, atomic-write temporaries), files
this package wrote (``*_denoised.tif``) and types it cannot read are never touched.

What was done is kept in a small JSON file in the output folder (:data:`STATE_NAME`, written
atomically): a restart skips files whose name, size and modification time are recorded as done or as
failed, and does again a file that has changed since.

:class:`FolderWatcher` holds no thread and never sleeps by itself: :meth:`FolderWatcher.poll` is one
look at the folder, and :meth:`FolderWatcher.run` is a generator (one :class:`WatchEvent` per file, and
an ``idle`` tick per poll) whose clock and sleep are injectable, so tests run in milliseconds.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generator

from ..core.errors import LowdoseError
from .task import FileRecord, is_output

STATE_NAME = ".napari-lowdose-watch.json"
STATE_FORMAT = "napari-lowdose-watch/1"
READ_TRIES = 2  #: a ready file that fails to read this many times (one settle period apart) is reported


@dataclass
class _Seen:
    signature: tuple[int, int]  # (size in bytes, mtime in ns)
    since: float  # clock time the signature was first seen
    polls: int = 1
    tries: int = 0
    retry_at: float = 0.0


@dataclass
class WatchEvent:
    """``kind``: ``"done"`` (``record`` has the outputs), ``"failed"`` (``line`` says why, once per file)
    or ``"idle"`` (one per poll: a progress tick and a place to stop)."""

    kind: str
    path: Path | None = None
    record: FileRecord | None = None
    line: str = ""
    pending: list[str] = field(default_factory=list)  #: files seen but not yet ready (being written)


class FolderWatcher:
    """Finds the files of ``folder`` (not its subfolders) matching ``pattern`` that are ready to denoise.

    ``outdir``: where outputs and the state file go (None: no state file; what was done is remembered in
    memory only). ``settle``: seconds a file's size and mtime must stay the same (two polls at least).
    ``skip_existing``: leave alone the files already there at the first poll (the live panel: only new
    acquisitions). ``clock``: a monotonic clock in seconds (tests inject a fake one).
    """

    def __init__(self, folder, outdir=None, pattern: str = "*", settle: float = 1.0, skip_existing: bool = False,
                 clock: Callable[[], float] = time.monotonic, extensions: tuple[str, ...] | None = None) -> None:
        from ..io import SUPPORTED_EXTENSIONS

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise LowdoseError(f"{self.folder}: no such folder to watch")
        if not settle >= 0:
            raise LowdoseError(f"settle must be a number of seconds >= 0, got {settle}")
        self.outdir = None if outdir is None else Path(outdir)
        self.pattern, self.settle, self.clock = pattern or "*", float(settle), clock
        self.extensions = tuple(e.lower() for e in (extensions or SUPPORTED_EXTENSIONS))
        self.done: dict[str, dict] = {}
        self.failed: dict[str, dict] = {}
        self._seen: dict[str, _Seen] = {}
        self._ignored: dict[str, tuple[int, int]] | None = {} if skip_existing else None
        self._first = True
        if self.outdir is not None:
            self.outdir.mkdir(parents=True, exist_ok=True)
            self._load()

    # ---------------------------------------------------------------- state file
    @property
    def state_path(self) -> Path | None:
        return None if self.outdir is None else self.outdir / STATE_NAME

    def _load(self) -> None:
        path = self.state_path
        if not path.exists():
            return
        try:
            state = json.loads(path.read_text())
            if state.get("format") != STATE_FORMAT:
                raise ValueError(f"format {state.get('format')!r}")
            self.done, self.failed = dict(state.get("done", {})), dict(state.get("failed", {}))
        except (ValueError, OSError, AttributeError) as exc:
            raise LowdoseError(f"the watch state file {path} cannot be read ({exc}); delete it to start afresh") from exc

    def save(self) -> None:
        """Write the state file atomically (a crash leaves the previous one whole)."""
        if self.outdir is None:
            return
        from ..io import atomic_write

        state = {"format": STATE_FORMAT, "folder": str(self.folder.resolve()), "done": self.done, "failed": self.failed}
        with atomic_write(self.state_path) as tmp:
            tmp.write_text(json.dumps(state, indent=1, sort_keys=True))

    # ---------------------------------------------------------------------- scan
    def candidates(self) -> list[Path]:
        """Files of the folder this watcher would denoise, by name."""
        out = []
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError as exc:
            raise LowdoseError(f"cannot list the watched folder {self.folder}: {exc}") from exc
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not fnmatch.fnmatch(name, self.pattern) or Path(name).suffix.lower() not in self.extensions:
                continue
            if is_output(Path(name)) or not entry.is_file():
                continue
            out.append(Path(entry.path))
        return out

    @staticmethod
    def _signature(path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except OSError:  # deleted or renamed between the listing and now
            return None
        return int(st.st_size), int(st.st_mtime_ns)

    def _recorded(self, name: str, sig: tuple[int, int]) -> bool:
        for table in (self.done, self.failed):
            entry = table.get(name)
            if entry is not None and (entry.get("size"), entry.get("mtime_ns")) == sig:
                return True
        return False

    def poll(self) -> list[Path]:
        """One look at the folder: the files that are ready now (stable, not done, not failed as they are)."""
        now = self.clock()
        ready, present = [], set()
        for path in self.candidates():
            sig = self._signature(path)
            if sig is None:
                continue
            name = path.name
            present.add(name)
            if self._ignored is not None:
                if self._first:
                    self._ignored[name] = sig
                if self._ignored.get(name) == sig:
                    continue
            if self._recorded(name, sig):
                continue
            seen = self._seen.get(name)
            if seen is None or seen.signature != sig:  # new, or still being written
                self._seen[name] = _Seen(sig, now)
                continue
            seen.polls += 1
            if sig[0] > 0 and seen.polls >= 2 and now - seen.since >= self.settle and now >= seen.retry_at:
                ready.append(path)
        for name in list(self._seen):
            if name not in present:
                del self._seen[name]
        self._first = False
        return ready

    def pending(self) -> list[str]:
        """Names seen but not ready yet (being written, or waiting for a second read)."""
        return sorted(self._seen)

    # ------------------------------------------------------------------ outcomes
    def mark_done(self, path: Path, outputs=()) -> bool:
        """Record a finished file. False if it changed while it was being read (the instrument was still
        writing): it is then done again once it is stable, its output replaced."""
        sig = self._signature(path) or (0, 0)
        seen = self._seen.get(path.name)
        if seen is not None and seen.signature != sig:
            self._seen[path.name] = _Seen(sig, self.clock())
            return False
        self.done[path.name] = {"size": sig[0], "mtime_ns": sig[1], "outputs": [str(o) for o in outputs]}
        self.failed.pop(path.name, None)
        self._seen.pop(path.name, None)
        self.save()
        return True

    def mark_failed(self, path: Path, error: str, retry: bool = True) -> bool:
        """Record a failed read or denoise. False: it will be tried once more after ``settle`` seconds
        (it may still be being written); True: it failed for good, report it (once). ``retry=False``:
        a failure that another read would not change (the image read cleanly, denoising refused it)."""
        seen = self._seen.get(path.name)
        sig = self._signature(path) or (0, 0)
        if seen is not None and seen.signature != sig:  # it changed while being read: still being written
            self._seen[path.name] = _Seen(sig, self.clock())
            return False
        if seen is not None and retry:
            seen.tries += 1
            if seen.tries < READ_TRIES:
                seen.retry_at = self.clock() + self.settle
                seen.since = self.clock()
                seen.polls = 1
                return False
        self.failed[path.name] = {"size": sig[0], "mtime_ns": sig[1], "error": error}
        self._seen.pop(path.name, None)
        self.save()
        return True

    # ----------------------------------------------------------------------- run
    def run(self, process: Callable[[Path], FileRecord], interval: float = 1.0, sleep: Callable[[float], None] = time.sleep,
            polls: int | None = None) -> Generator[WatchEvent, None, None]:
        """Poll every ``interval`` seconds (``polls``: stop after that many; None: until the caller stops),
        hand each ready file to ``process`` (which returns a :class:`FileRecord` and does not raise for a
        bad file) and yield what came of it."""
        count = 0
        while polls is None or count < polls:
            if count:
                sleep(interval)
            count += 1
            for path in self.poll():
                record = process(path)
                if record.ok:
                    if self.mark_done(path, record.outputs):
                        yield WatchEvent("done", path, record, record.line())
                elif self.mark_failed(path, record.error):
                    yield WatchEvent("failed", path, record, record.error)
            yield WatchEvent("idle", pending=self.pending())
