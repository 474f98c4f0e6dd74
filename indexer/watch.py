"""Follow folders: the operating system's file events, settled, into indexing runs.

`FolderEvents` turns watchdog's events (inotify on Linux) into places that
changed, each ready once it has settled: quiet for `settle_s` after its last
event, longer while a writer still has it open (a modification not yet followed
by a close), never longer than `max_wait_s`. The two names of a rename are one
change: they are handed over together, so the run sees a move and keeps the
vectors (an editor's save-by-rename is one update of the file it replaces).

`Watcher` drives a writing call (`Index.add(root, paths=...)`) with them: a full
run of each folder first (what changed while nobody watched, or since a kill),
then the settled places, and a full reconcile walk every `reconcile_s` for what
events miss (network drives, an overflowed event queue). A run that fails (the
writer lock busy, the catalog unreachable, a full disk) commits nothing of what
it had not finished; its folder is walked whole once the retry succeeds, so
nothing is lost, and the retries back off. Nothing here prints: `WatchState`
says what happens, for the CLI and the web page.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from searchengine.errors import LockedError, SearchEngineError
from searchengine.records import Progress

from .pipeline import IndexReport
from .walk import IGNORE_FILE

log = logging.getLogger(__name__)

DEFAULT_SETTLE_S = 1.0  # quiet time after a file's last event before it is read
DEFAULT_OPEN_S = 10.0  # quiet time for a file modified and not closed yet (a slow writer)
DEFAULT_MAX_WAIT_S = 60.0  # a file that never settles (a growing log) is read after this
DEFAULT_BATCH_S = 10.0  # under changes that never pause, a batch is run this often
WAKE_S = 0.05  # the watcher looks at its events at most this often
MOVE_PAIRING_S = 0.5  # watchdog's InotifyMoveEventGrouper.delay (7.x)
DEFAULT_RECONCILE_S = 300.0  # the full walk that catches what events miss
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0  # back-off of a run that failed
RECENT_SKIPS = 20

# the events that say something changed; opening and reading (ours too) are left out
EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]


@dataclass
class _Place:
    first: float  # when its first unhandled event came
    last: float  # when its latest event came
    writing: bool = False  # modified, and not closed since
    partners: set[Path] = field(default_factory=set)  # the other names of its renames


class FolderEvents(FileSystemEventHandler):
    """The places under each root that events named, until they settle."""

    def __init__(
        self,
        roots: Sequence[Path],
        *,
        ignore: Sequence[Path] = (),
        settle_s: float = DEFAULT_SETTLE_S,
        open_s: float = DEFAULT_OPEN_S,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        batch_s: float = DEFAULT_BATCH_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.roots = sorted(roots, key=lambda r: len(r.parts), reverse=True)  # innermost first
        self.ignore = list(ignore)
        # watchdog holds a rename's first half this long for its second; a batch waits
        # for it, or a file moved into a folder made just now is read as a new one
        settle_s = max(settle_s, MOVE_PAIRING_S + 0.1)
        self.settle_s, self.open_s, self.max_wait_s = settle_s, open_s, max_wait_s
        self.batch_s = max(batch_s, settle_s)
        self.clock = clock
        self.changed = threading.Event()  # set on every event: the watcher wakes up
        self._lock = threading.Lock()
        self._places: dict[Path, dict[Path, _Place]] = {}
        self._whole: set[Path] = set()  # roots to walk whole (events lost, ignore file edited)

    # watchdog's thread

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write") or (event.is_directory and kind == "modified"):
            return  # a folder's own modification is its child's event, which comes too
        if kind == "events_lost":
            self._walk_whole(Path(os.fsdecode(event.src_path)))
            return
        names = [Path(os.fsdecode(event.src_path))]
        if kind == "moved" and event.dest_path:
            names.append(Path(os.fsdecode(event.dest_path)))
        now = self.clock()
        with self._lock:
            for path in names:
                root = self._root_of(path)
                if root is None:
                    continue
                if path.name == IGNORE_FILE and path.parent == root:
                    self._whole.add(root)
                place = self._places.setdefault(root, {}).setdefault(path, _Place(now, now))
                place.last = now
                if kind == "modified":
                    place.writing = True
                elif kind in ("closed", "deleted", "moved"):
                    place.writing = False
                if len(names) == 2:
                    place.partners.update(n for n in names if n != path)
        self.changed.set()

    def _root_of(self, path: Path) -> Path | None:
        if any(path.is_relative_to(i) for i in self.ignore):
            return None  # the index folder itself, if it lies in a watched one
        return next((r for r in self.roots if path.is_relative_to(r)), None)

    def _walk_whole(self, where: Path) -> None:
        with self._lock:
            for root in self.roots:
                if where.is_relative_to(root) or root.is_relative_to(where):
                    self._whole.add(root)
        log.warning("events were lost under %s: it is walked whole", where)
        self.changed.set()

    # the watcher's thread

    def ready(self) -> tuple[dict[Path, list[Path]], set[Path]]:
        """The settled places per root (taken), and the roots to walk whole (taken).

        A root's places are taken together once none of them has had an event for
        `settle_s` (or the oldest waits `batch_s`), so that a new folder and a file
        moved into it, or a rename's two names, are one run; a file still open for
        writing stays until it settles on its own terms.
        """
        now = self.clock()
        out: dict[Path, list[Path]] = {}
        with self._lock:
            whole, self._whole = self._whole, set()
            for root, places in self._places.items():
                due = self._batch_due(places)
                if due is None or due > now:
                    continue
                taken = {p for p, place in places.items() if self._settled(place, now)}
                todo = list(taken)
                while todo:  # a rename's two names go together
                    for other in places[todo.pop()].partners:
                        if other in places and other not in taken:
                            taken.add(other)
                            todo.append(other)
                if taken:
                    out[root] = sorted(taken)
                    for p in taken:
                        del places[p]
        return out, whole

    def _settled(self, place: _Place, now: float) -> bool:
        if not place.writing:
            return True
        return now - place.last >= self.open_s or now - place.first >= self.max_wait_s

    def _batch_due(self, places: dict[Path, _Place]) -> float | None:
        """When a root's places are next looked at: the batch of those not being written
        once quiet, and each one being written once it settles."""
        still = [p for p in places.values() if not p.writing]
        due = []
        if still:
            due.append(
                min(
                    max(p.last for p in still) + self.settle_s,
                    min(p.first for p in still) + self.batch_s,
                )
            )
        due += [
            min(p.last + self.open_s, p.first + self.max_wait_s)
            for p in places.values()
            if p.writing
        ]
        return min(due) if due else None

    def next_due(self) -> float | None:
        """When the next places settle (the clock's time), or None if nothing waits."""
        with self._lock:
            if self._whole:
                return self.clock()
            due = [self._batch_due(places) for places in self._places.values()]
        times = [d for d in due if d is not None]
        return min(times) if times else None

    def pending(self) -> int:
        with self._lock:
            return sum(len(places) for places in self._places.values())


class Write(Protocol):
    """One indexing run: of `root` whole (paths None), or of those places under it."""

    def __call__(
        self,
        root: Path,
        paths: list[Path] | None,
        on_progress: Progress,
        should_stop: Callable[[], bool],
    ) -> IndexReport: ...


@dataclass
class WatchState:
    """What a watcher is doing, for a status line or the web page (thread-safe copies
    come from `to_json`)."""

    folders: list[str]
    reconcile_s: float
    state: str = "starting"  # starting, catching up, watching, indexing, retrying, stopped
    detail: str = ""  # the last problem, or whom it waits for
    phase: str | None = None  # the run's progress: scan, extract, encode, write
    done: int = 0
    total: int | None = None
    pending: int = 0  # places with events, not settled yet
    runs: int = 0
    indexed: int = 0  # files added or updated since the watcher started
    removed: int = 0
    moved: int = 0
    last_change: float | None = None  # wall-clock time of the last run that changed something
    last_run: float | None = None
    last_reconcile: float | None = None
    next_retry: float | None = None
    skipped: deque[tuple[str, str, float]] = field(
        default_factory=lambda: deque(maxlen=RECENT_SKIPS)
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "folders": list(self.folders),
            "state": self.state,
            "detail": self.detail or None,
            "progress": {"phase": self.phase, "done": self.done, "total": self.total}
            if self.phase
            else None,
            "pending": self.pending,
            "runs": self.runs,
            "indexed": self.indexed,
            "removed": self.removed,
            "moved": self.moved,
            "last_change": self.last_change,
            "last_run": self.last_run,
            "last_reconcile": self.last_reconcile,
            "next_retry": self.next_retry,
            "reconcile_s": self.reconcile_s,
            "skipped": [{"path": p, "reason": r, "at": t} for p, r, t in list(self.skipped)],
        }


class Watcher:
    """Keeps an index level with folders until `stop()`: run `run()` in a thread of its
    own or in the main one."""

    def __init__(
        self,
        roots: Iterable[Path],
        write: Write,
        *,
        ignore: Sequence[Path] = (),
        settle_s: float = DEFAULT_SETTLE_S,
        open_s: float = DEFAULT_OPEN_S,
        reconcile_s: float = DEFAULT_RECONCILE_S,
        on_report: Callable[[Path, IndexReport, list[Path] | None], None] | None = None,
        on_state: Callable[[WatchState], None] | None = None,
    ):
        self.roots = sorted({Path(r) for r in roots})
        self.write = write
        self.reconcile_s = reconcile_s
        self.events = FolderEvents(self.roots, ignore=ignore, settle_s=settle_s, open_s=open_s)
        self.on_report = on_report or (lambda root, report, paths: None)
        self.on_state = on_state or (lambda state: None)
        self.state = WatchState([str(r) for r in self.roots], reconcile_s)
        self._stop = threading.Event()
        self._observer: Any = None
        self._failed: dict[Path, float] = {}  # roots to walk whole once they can be: retry at
        self._backoff = RETRY_FIRST_S
        self._next_reconcile = 0.0
        self.started = threading.Event()  # the events are followed and the first runs done

    def stop(self) -> None:
        """Finish at the next boundary of the run in progress; what it committed stays."""
        self._stop.set()
        self.events.changed.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Catch up, then follow the folders until `stop()`."""
        self._observer = Observer()
        try:
            for root in self.roots:
                self._follow(root)
            self._observer.start()
            self._set("catching up")
            for root in self.roots:  # the events from now on queue up meanwhile
                self._index(root, None)
            self._next_reconcile = time.monotonic() + self.reconcile_s
            self._set("watching")
            self.started.set()
            while not self._stop.is_set():
                self._wait()
                if self._stop.is_set():
                    break
                self._step()
        finally:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._set("stopped")
            self.started.set()

    def _follow(self, root: Path) -> None:
        try:
            self._observer.schedule(self.events, str(root), recursive=True, event_filter=EVENTS)
        except OSError as exc:  # gone, or the inotify watch limit reached: walks still work
            log.warning(
                "cannot follow %s's events (%s): it is walked every %.0fs",
                root,
                exc.strerror or exc,
                self.reconcile_s,
            )
            self.state.detail = f"cannot follow {root}'s events: {exc.strerror or exc}"

    def _wait(self) -> None:
        now = time.monotonic()
        deadlines = [self._next_reconcile, *self._failed.values()]
        due = self.events.next_due()
        if due is not None:
            deadlines.append(due)
        timeout = max(0.0, min(deadlines) - now)
        self.events.changed.wait(timeout)
        self.events.changed.clear()
        self._stop.wait(WAKE_S)  # a burst of events: one look at them, not one per event

    def _step(self) -> None:
        now = time.monotonic()
        settled, whole = self.events.ready()
        whole |= {root for root, at in self._failed.items() if at <= now}
        if now >= self._next_reconcile:
            whole |= set(self.roots)
            self._next_reconcile = now + self.reconcile_s
            self._refollow()
        for root in self.roots:
            if self._stop.is_set():
                return
            if root in whole:
                self._index(root, None)
            elif root in settled:
                if root in self._failed:  # walked whole once the retry is due
                    continue
                self._index(root, settled[root])
        self.state.pending = self.events.pending()
        self._set("retrying" if self._failed else "watching")

    def _refollow(self) -> None:
        """Follow again a folder whose events stopped (it was deleted, then came back)."""
        emitters = {Path(e.watch.path) for e in self._observer.emitters if e.is_alive()}
        for root in self.roots:
            if root not in emitters and root.is_dir():
                for watch in [
                    e.watch for e in self._observer.emitters if Path(e.watch.path) == root
                ]:
                    self._observer.unschedule(watch)
                self._follow(root)

    def _index(self, root: Path, paths: list[Path] | None) -> None:
        self._set("indexing" if paths is not None or self.started.is_set() else "catching up")
        try:
            report = self.write(root, paths, self._progress, self._stop.is_set)
        except LockedError as exc:
            self._retry(root, f"waiting: {exc}", quiet=True)
            return
        except (SearchEngineError, OSError) as exc:
            self._retry(root, str(exc))
            return
        except Exception as exc:  # a database driver's own error: the same retry
            self._retry(root, f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.state.phase = None
        self._failed.pop(root, None)
        if not self._failed:
            self._backoff = RETRY_FIRST_S
            self.state.detail = ""
            self.state.next_retry = None
        self._record(root, report, paths)

    def _retry(self, root: Path, why: str, quiet: bool = False) -> None:
        """Walk `root` whole later: what this run did not commit is found again then."""
        wait = RETRY_FIRST_S if quiet else self._backoff
        if not quiet:
            self._backoff = min(self._backoff * 2, RETRY_MAX_S)
            log.warning("indexing %s failed (%s); trying again in %.0fs", root, why, wait)
        self._failed[root] = time.monotonic() + wait
        self.state.detail = why
        self.state.next_retry = time.time() + wait
        self._set("retrying")

    def _record(self, root: Path, report: IndexReport, paths: list[Path] | None) -> None:
        now = time.time()
        s = self.state
        s.runs += 1
        s.last_run = now
        if paths is None:
            s.last_reconcile = now
        s.indexed += report.committed
        s.removed += report.removed
        s.moved += report.moved
        if report.committed or report.removed or report.moved:
            s.last_change = now
        for path, reason in report.skipped:
            s.skipped.append((path, reason, now))
        self.on_report(root, report, paths)

    def _progress(self, phase: str, done: int, total: int | None) -> None:
        s = self.state
        s.phase, s.done, s.total = phase, done, total
        self.on_state(s)

    def _set(self, state: str) -> None:
        self.state.state = state
        self.state.pending = self.events.pending()
        self.on_state(self.state)
