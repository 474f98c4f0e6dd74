"""kiwi, Korean's morphological analyser: made the one way, in this process or in a helper.

kiwi's model takes 1-1.5 s to load and holds the GIL all that time (measured: a
thread beside it got a fifth of its Python work done; the text model's tokenizer
holds it as well while it loads). So loading it on a thread, beside the text
model, overlapped almost nothing, and a one-shot Korean search paid for both in
turn. A one-shot search (the CLI) starts `KiwiProcess` instead: a helper process
that loads kiwi on another core while this one loads the text model, then
analyses the few texts the search has (the query, the Hangul words of its
snippets), sent over a pipe. Anything wrong with the helper (it cannot start,
it dies) and the analysis goes on with kiwi in this process: the same terms.

    python -m searchengine.korean   # the helper: a JSON text per line in, tokens out
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import warnings
from typing import Any, NamedTuple


class Token(NamedTuple):  # what lexical.py reads of a kiwipiepy Token
    form: str
    tag: str
    start: int
    len: int


def new_kiwi() -> Any:
    """kiwi as the lexical index analyses with it, loaded (its model loads on first use)."""
    from kiwipiepy import Kiwi

    # the multi-word dictionary tags whole titles (`해리 포터와 마법사의 돌`) as one
    # proper noun with spaces inside: not a term
    with warnings.catch_warnings():
        # num_workers=0 (analyse in the calling thread) warns that it meant "all
        # cores" before kiwipiepy 0.21
        warnings.simplefilter("ignore", DeprecationWarning)
        kiwi = Kiwi(num_workers=0, load_multi_dict=False)
    kiwi.tokenize("")
    return kiwi


def tokens(kiwi: Any, text: str) -> list[Token]:
    # match_options=0: no URL/e-mail/hashtag/emoji tokens, which would swallow Hangul
    return [Token(t.form, t.tag, t.start, t.len) for t in kiwi.tokenize(text, match_options=0)]


class KiwiProcess:
    """kiwi in a helper process, started now, loading while this process goes on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local: Any = None
        self._proc: subprocess.Popen[str] | None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "searchengine.korean"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                encoding="utf-8",
            )
        except OSError:
            self._proc = None

    def tokenize(self, text: str) -> list[Token]:
        with self._lock:
            if self._proc is not None:
                try:
                    assert self._proc.stdin is not None and self._proc.stdout is not None
                    self._proc.stdin.write(json.dumps(text) + "\n")
                    self._proc.stdin.flush()
                    line = self._proc.stdout.readline()
                    if line:
                        return [Token(*t) for t in json.loads(line)]
                except (OSError, ValueError, TypeError):
                    pass
                self._stop()  # gone or confused: analyse here from now on
            if self._local is None:
                self._local = new_kiwi()
            return tokens(self._local, text)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for pipe in (proc.stdin, proc.stdout):
                try:
                    if pipe is not None:
                        pipe.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()


def serve() -> None:
    """The helper: analyse each JSON text on stdin until it closes."""
    kiwi = new_kiwi()
    for line in sys.stdin:
        sys.stdout.write(json.dumps([list(t) for t in tokens(kiwi, json.loads(line))]) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
