"""Read files in a separate process, each under a time limit (see indexer.read_worker)."""

from __future__ import annotations

import math
import os
import pickle
import select
import subprocess
import sys
import time

from searchengine.errors import SearchEngineError

from .read_worker import ALIVE, FRAME, ReadLimits, ReadReply, ReadRequest, send, timed_out

GRACE_S = 10.0  # past the worker's own timer, the parent kills it (a hang inside C code)
START_S = 60.0  # the worker's imports, on a slow first start


class FileReader:
    """A worker process that reads files one at a time; restarted after a crash or a hang."""

    def __init__(self, limits: ReadLimits):
        self.limits = limits
        self._proc: subprocess.Popen[bytes] | None = None

    def read(self, req: ReadRequest) -> ReadReply:
        proc = self._start()
        assert proc.stdin is not None
        try:
            send(proc.stdin, req)
        except BrokenPipeError:
            return self._died()
        timeout = self.limits.timeout_s
        try:
            reply: object = ALIVE
            while reply == ALIVE:  # each page of a scan read starts the time limit again
                deadline = time.monotonic() + (timeout + GRACE_S if timeout else math.inf)
                reply = self._receive(deadline)
        except TimeoutError:
            self._stop(kill=True)
            return timed_out(self.limits)
        if reply is None:
            return self._died()
        assert isinstance(reply, ReadReply)
        return reply

    def close(self) -> None:
        self._stop(kill=False)

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        proc = subprocess.Popen(
            [sys.executable, "-m", "indexer.read_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self._proc = proc
        assert proc.stdin is not None
        try:
            send(proc.stdin, self.limits)
            ready = self._receive(time.monotonic() + START_S)
        except (BrokenPipeError, TimeoutError):
            ready = None
        if ready != "ready":
            self._stop(kill=True)
            raise SearchEngineError(
                f"cannot start the file reader ({sys.executable} -m indexer.read_worker)"
            )
        return proc

    def _died(self) -> ReadReply:
        proc = self._proc
        code = proc.wait() if proc is not None else None
        self._proc = None
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return ReadReply("skip", f"the file reader died on it ({how})")

    def _receive(self, deadline: float) -> object | None:
        head = self._read_exact(FRAME.size, deadline)
        if head is None:
            return None
        (n,) = FRAME.unpack(head)
        data = self._read_exact(n, deadline)
        return None if data is None else pickle.loads(data)

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        parts: list[bytes] = []
        got = 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], min(left, 3600.0))
            if not ready:
                continue
            part = os.read(fd, min(n - got, 1 << 20))
            if not part:
                return None
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def _stop(self, kill: bool) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            try:
                proc.stdin.close()  # the worker ends at the end of its input
            except OSError:
                pass
        if kill:
            proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
