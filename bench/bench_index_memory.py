"""Peak memory of `semsearch index` on a real folder (issue 30: <= 2 GB on /usr/share/doc).

Protocol:

* A deterministic sample of the folder's files (every k-th of the sorted list, `--files`
  of them; all of them with `--files 0`) is copied into a temporary folder, keeping each
  file's name and extension, so that the run reads what the folder holds: HTML, text,
  pictures, compressed changelogs.
* `semsearch index` runs on it as a whole process with the default settings (word
  vectors off: they train afterwards, in the background), with the models of the user's
  data folder. Its peak resident memory is the kernel's (`ru_maxrss` of the child), and
  its resident memory is sampled every 0.5 s to say when the peak came.
* Chunks/s is the run's own figure (chunks and seconds from `--json`).
* `--first-run`: with an empty data folder instead, as a new user's first run: every
  model is rebuilt, assembled and exported first. Some of that work runs in processes
  of its own (models/apart.py), so three figures are printed: the indexing process's
  own peak (its VmHWM, read every 0.5 s: the kernel's high-water mark, so a spike
  between reads is not missed, only one in its last half second); the largest process
  of the run, whichever it was (`ru_maxrss`); and the highest sum over the indexing
  process and its children at one read (sampled: a spike between reads can be missed).

    python -m bench.bench_index_memory [--folder /usr/share/doc] [--files 400] [--json]
    python -m bench.bench_index_memory --timeline 5   # also the resident MB every 5 s
    python -m bench.bench_index_memory --first-run --folder sample_corpus --files 0
    python -m bench.bench_index_memory --smoke   # three documents: a check that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sample(folder: Path, files: int) -> list[Path]:
    every = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    if files <= 0 or files >= len(every):
        return every
    step = len(every) / files
    return [every[int(i * step)] for i in range(files)]


def rss_mb(pid: int, field: str = "VmRSS") -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def tree_mb(pid: int) -> int:
    """Resident MB of `pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss_mb(p) or 0
        todo.extend(children.get(p, []))
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", type=Path, default=Path("/usr/share/doc"))
    ap.add_argument("--files", type=int, default=400, help="files sampled (0: all)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--timeline", type=float, default=0, metavar="S",
        help="also print the resident memory every S seconds of the run",
    )  # fmt: skip
    ap.add_argument("--smoke", action="store_true", help="a few files of sample_corpus")
    ap.add_argument(
        "--first-run", action="store_true",
        help="an empty data folder: every model is rebuilt and exported first",
    )  # fmt: skip
    args = ap.parse_args()
    # the smoke run: three documents (no pictures, so the image model never loads)
    folder, files = (
        (ROOT / "sample_corpus" / "docs", 3) if args.smoke else (args.folder, args.files)
    )
    if not folder.is_dir():
        raise SystemExit(f"{folder}: not a folder")
    tmp = Path(tempfile.mkdtemp(prefix="semsearch-memory-"))
    try:
        corpus = tmp / "corpus"
        corpus.mkdir()
        picked = sample(folder, files)
        for n, path in enumerate(picked):
            try:
                shutil.copyfile(path, corpus / f"{n:05d}_{path.name}")
            except OSError:
                continue
        cmd = [sys.executable, "-m", "searchengine", "--index", str(tmp / "index"), "index"]
        cmd += [str(corpus), "--json", "--no-word-vectors"]
        env = dict(os.environ)
        if args.first_run:
            env["SEMSEARCH_HOME"] = str(tmp / "home")
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        samples: list[tuple[float, int]] = []
        own_peak = tree_peak = 0
        while proc.poll() is None:
            now = rss_mb(proc.pid)
            if now is not None:
                samples.append((time.perf_counter() - started, now))
                own_peak = max(own_peak, rss_mb(proc.pid, "VmHWM") or 0)
                tree_peak = max(tree_peak, tree_mb(proc.pid))
            time.sleep(0.5)
        out, err = proc.communicate()
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"semsearch index failed:\n{err[-800:]}")
        report = json.loads(out)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        at = max(samples, key=lambda s: s[1])[0] if samples else 0.0
        load = os.getloadavg()[0]
        figures = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, load {load:.1f}",
            "folder": str(folder),
            "files": len(picked),
            "chunks": report["chunks"],
            "images": report["images"],
            "skipped": report["skipped"],
            "seconds": round(wall, 1),
            "chunks_per_s": round(report["chunks"] / report["seconds"], 2)
            if report["seconds"]
            else None,
            "peak_rss_mb": peak,
            "first_run": args.first_run,
            "index_process_peak_mb": own_peak,
            "process_tree_peak_mb_sampled": tree_peak,
            "peak_at_s": round(at, 1),
            "timeline": _timeline(samples, args.timeline) if args.timeline > 0 else [],
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"machine: {figures['machine']}")
    print(
        f"semsearch index, default settings, {figures['files']} files of {folder} "
        f"({figures['chunks']} chunks, {figures['images']} images) in {figures['seconds']} s"
    )
    print(f"  peak RSS {peak} MB (reached {figures['peak_at_s']} s into the run)")
    if args.first_run:
        print(
            "  first run (an empty data folder): the indexing process's own peak "
            f"{own_peak} MB; the largest process {peak} MB; the process tree's highest "
            f"sampled sum {tree_peak} MB"
        )
    print(f"  chunks/s {figures['chunks_per_s']}")
    if figures["timeline"]:
        print("  resident MB over the run: " + ", ".join(
            f"{t:g}s {mb}" for t, mb in figures["timeline"]
        ))  # fmt: skip
    return 0


def _timeline(samples: list[tuple[float, int]], every: float) -> list[tuple[float, int]]:
    """The highest sample of each `every`-second slice of the run, as (slice start, MB)."""
    slices: dict[int, int] = {}
    for t, mb in samples:
        n = int(t // every)
        slices[n] = max(slices.get(n, 0), mb)
    return [(round(n * every, 1), mb) for n, mb in sorted(slices.items())]


if __name__ == "__main__":
    raise SystemExit(main())
