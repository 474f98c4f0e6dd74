"""`semsearch watch`: how soon a new file is found, what the watcher costs when idle,
and a burst of new files.

Protocol (the default models, on this machine, a SQLite catalog):

* A folder of ``--seed`` small text files is indexed by a watcher (``Index.watcher``,
  default settle time) running in a thread of this process, as `semsearch watch` does.
* Latency: ``--probes`` times, a file with a unique made-up word is written; the time
  until a *separate* `Index` on the same folder (another reader, as `semsearch search`
  is) finds it by that word; then the time until it is gone after deletion.
* Idle: the process's CPU time (every thread: watchdog's inotify reader, the watcher)
  over ``--idle`` seconds with nothing changing, as a share of one core.
* Burst: ``--burst`` new small files written as fast as Python can; the time until the
  catalog holds them all, then `verify` (clean or not) and the counts.
* Rename: a folder of 100 indexed files renamed; vectors encoded for it (0 is right).

    python -m bench.bench_watch [--json] [--seed 200] [--burst 1000] [--idle 60]
    python -m bench.bench_watch --smoke    # tiny sizes: a check, not a measurement
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from searchengine import Index, Settings
from searchengine.store import Store


def until(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            return float("inf")
        time.sleep(0.02)
    return time.monotonic() - start


def files_in(settings: Settings) -> int:
    with Store.for_settings(settings) as store:
        return store.catalog.counts()["files"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=200)
    ap.add_argument("--probes", type=int, default=5)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.seed, args.probes, args.idle, args.burst = 5, 1, 2.0, 20

    out: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "seed_files": args.seed,
    }
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        docs = Path(tmp) / "docs"
        (docs / "project").mkdir(parents=True)
        for n in range(args.seed):
            (docs / f"seed{n:05}.txt").write_text(f"seed note {n} about ordinary things")
        for n in range(100):
            (docs / "project" / f"p{n:03}.txt").write_text(f"project file {n}, topic {n % 7}")
        settings = replace(Settings(index_dir=Path(tmp) / "index"), word_vectors=False)
        reports: list = []
        with Index.open(settings=settings) as index, Index.open(settings=settings) as reader:
            watcher = index.watcher(
                [docs], on_report=lambda root, report, paths: reports.append(report)
            )
            thread = threading.Thread(target=watcher.run, daemon=True)
            started = time.monotonic()
            thread.start()
            watcher.started.wait()
            out["first_run_s"] = round(time.monotonic() - started, 2)

            def finds(word: str) -> bool:
                hits = reader.search(word, k=3, mode="lexical")
                return any(word in h.path for h in hits)

            found, gone = [], []
            for n in range(args.probes):
                word = f"zqxprobe{n}w"
                path = docs / f"{word}.txt"
                path.write_text(f"a new note that says {word} once")
                found.append(until(lambda w=word: finds(w), 60))
                path.unlink()
                gone.append(until(lambda w=word: not finds(w), 60))
            out["new_file_found_s"] = {"median": statistics.median(found), "max": max(found)}
            out["deleted_file_gone_s"] = {"median": statistics.median(gone), "max": max(gone)}

            time.sleep(2)  # the last run's tail
            cpu0, wall0 = time.process_time(), time.monotonic()
            time.sleep(args.idle)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            out["idle_cpu_percent_of_one_core"] = round(100 * cpu / wall, 3)
            out["idle_seconds"] = round(wall, 1)

            before = len(reports)
            (docs / "project").rename(docs / "renamed")
            until(lambda: sum(r.moved for r in reports[before:]) >= 100, 60)
            time.sleep(2)
            out["renamed_folder_100_files_encoded"] = sum(r.encoded for r in reports[before:])

            expected = files_in(settings) + args.burst
            (docs / "burst").mkdir()
            started = time.monotonic()
            for n in range(args.burst):
                (docs / "burst" / f"b{n:05}.txt").write_text(f"burst file {n} word{n}x")
            written = time.monotonic() - started
            took = until(lambda: files_in(settings) >= expected, 1800)
            out["burst"] = {
                "files": args.burst,
                "written_s": round(written, 2),
                "indexed_s": round(took, 2),
                "files_per_s": round(args.burst / took, 1) if took else None,
            }
            watcher.stop()
            thread.join()
            verify = index.verify()
            out["burst"]["verify_clean"] = verify.clean  # type: ignore[index]
            out["burst"]["catalog_files"] = files_in(settings)  # type: ignore[index]
            out["burst"]["expected_files"] = expected  # type: ignore[index]

    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"machine: {out['machine']}; watcher first run (models load, {args.seed + 100} files): "
        f"{out['first_run_s']} s"
    )
    f, g = out["new_file_found_s"], out["deleted_file_gone_s"]
    print(f"new file found by another reader: median {f['median']:.2f} s, max {f['max']:.2f} s")  # type: ignore[index]
    print(f"deleted file gone: median {g['median']:.2f} s, max {g['max']:.2f} s")  # type: ignore[index]
    print(
        f"idle CPU: {out['idle_cpu_percent_of_one_core']}% of one core over {out['idle_seconds']} s"
    )
    print(f"renamed folder of 100 files: {out['renamed_folder_100_files_encoded']} vectors encoded")
    b = out["burst"]
    print(
        f"burst of {b['files']} files: written in {b['written_s']} s, indexed in "  # type: ignore[index]
        f"{b['indexed_s']} s ({b['files_per_s']} files/s); verify clean: {b['verify_clean']}; "  # type: ignore[index]
        f"catalog files {b['catalog_files']} of {b['expected_files']}"
    )  # type: ignore[index]


if __name__ == "__main__":
    main()
