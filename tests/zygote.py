"""A process that imports semsearch (and torch) once, then forks a child per job.

Tests that kill indexers or run searchers in other processes would otherwise
pay some seconds of imports per process. Each child is a real, separate
process running the real CLI or library: the test kills it with SIGKILL or
SIGINT from its own process.

Protocol, one JSON object per line. In: {"op": "index", ...}, {"op": "search",
...}, {"op": "wait", "pid": N}, {"op": "quit"}. Out: {"pid": N} when a child
starts, {"pid": N, "status": S} when waited for (S < 0: killed by signal -S).
A child is reaped only when asked, so its pid cannot be reused before.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import sys
import time
import traceback
from pathlib import Path

import open_clip  # noqa: F401  (imported once here, for every child)
import torch
import transformers  # noqa: F401

import indexer.pipeline
import searchengine.cli.app
import searchengine.cli.index  # noqa: F401
import searchengine.cli.main
from searchengine import Index
from searchengine.catalog import Catalog
from searchengine.config import Settings
from searchengine.models.image_encoder import ImageEncoder
from searchengine.models.text_encoder import TextEncoder

torch.set_num_threads(1)


def _redirect(log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)


def _slowed(fn, seconds: float):  # type: ignore[no-untyped-def]
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(seconds)
        return fn(*args, **kwargs)

    return wrapper


def job_index(job: dict) -> int:
    """`semsearch index` through the CLI, logging every item about to be committed."""
    encode_log = job["encode_log"]
    original = Catalog.write_items

    def logged(self, items, fingerprints):  # type: ignore[no-untyped-def]
        # written before the commit: an item logged twice across runs while it
        # was already in the catalog was re-encoded
        with open(encode_log, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{it.sha256}\t{it.path!r}\n" for it in items))
        return original(self, items, fingerprints)

    Catalog.write_items = logged  # type: ignore[method-assign]
    slow = job.get("slow", 0.0)
    if slow:
        TextEncoder.encode = _slowed(TextEncoder.encode, slow)  # type: ignore[method-assign]
        ImageEncoder.encode_images = _slowed(ImageEncoder.encode_images, slow)  # type: ignore[method-assign]
    indexer.pipeline.FLUSH_BATCHES = job.get("flush_batches", 1)
    searchengine.cli.app.Settings = functools.partial(  # type: ignore[misc]
        Settings,
        text_batch=4,
        image_batch=2,
        index_save_seconds=job.get("save_seconds", 0.0),
    )
    return searchengine.cli.main.main(job["argv"])


class _Reloads(logging.Handler):
    """The generation of the text index a long-lived `Index` has loaded, from its log.

    0 until the store logs that it reloads a newer generation N; N after that.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.generation = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()  # "index text.hnsw is at generation N now; reloading it"
        if message.startswith("index text.hnsw is at generation") and "reloading" in message:
            self.generation = int(message.split(" generation ")[1].split()[0])
        elif message.startswith("index text.hnsw caught up with the shared catalog"):
            self.generation += 1  # beside a shared catalog: each catch-up is a new state


def job_search(job: dict) -> int:
    """Search in a loop until the stop file appears; record every hit and error."""
    s = job["settings"]
    settings = Settings(
        index_dir=Path(s["index_dir"]),
        model_cache=Path(s["model_cache"]),
        text_model=s["text_model"],
        image_model=s["image_model"],
    )
    queries = job["queries"]
    rng = random.Random(job.get("seed", 0))
    stop = Path(job["stop_file"])
    reloads = _Reloads()
    logging.getLogger("searchengine.store").addHandler(reloads)
    logging.getLogger("searchengine.store").setLevel(logging.INFO)
    index = Index.open(settings=settings)  # one long-lived index; only fresh ones open anew
    records: list[dict] = []
    errors: list[str] = []
    n = 0
    while n < job.get("min_searches", 5) or not stop.exists():
        query = rng.choice(queries)
        fresh = n % 4 == 3  # now and then an index opened just for this search
        started = time.time()
        try:
            if fresh:
                with Index.open(settings=settings) as once:
                    hits = list(once.search(query, k=10, spaces={"text"}))
                generation = None
            else:
                hits = list(index.search(query, k=10, spaces={"text"}))
                generation = reloads.generation
        except Exception:
            errors.append(traceback.format_exc())
            hits, generation = [], None
        records.append(
            {
                "started": started,
                "generation": generation,
                "hits": [[h.path, h.snippet] for h in hits],
            }
        )
        n += 1
        if n == 1:  # the first search is done: the index is loaded (the test waits for this)
            Path(job["out"] + ".ready").touch()
    index.close()
    Path(job["out"]).write_text(json.dumps({"records": records, "errors": errors}))
    return 0


JOBS = {"index": job_index, "search": job_search}


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        job = json.loads(line)
        if job["op"] == "quit":
            break
        if job["op"] == "wait":
            _, status = os.waitpid(job["pid"], 0)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            out.write(json.dumps({"pid": job["pid"], "status": code}) + "\n")
            out.flush()
            continue
        pid = os.fork()
        if pid == 0:
            code = 99
            try:
                _redirect(job["log"])
                code = JOBS[job["op"]](job)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
