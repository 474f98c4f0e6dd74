"""numpy's BLAS on one thread while a search runs.

A search's matrix products are small (a query against a few thousand chunk
vectors). OpenBLAS splits them over every core all the same, and its threads
then spin for a while: the next query's encoding, on the same cores, ran about
twice as slow (bench/bench_query_modes.py). Limiting BLAS to one thread for the
call costs ~10 us (the controller finds the libraries once, and after new imports).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


_held: tuple[int, Any] | None = None


def _controller() -> Any:
    """A controller of the BLAS libraries loaded now; found again after new imports
    (scipy, say, brings its own OpenBLAS), which is when a library can appear."""
    global _held
    modules = len(sys.modules)
    if _held is None or _held[0] != modules:
        from threadpoolctl import ThreadpoolController

        _held = (modules, ThreadpoolController())
    return _held[1]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    with _controller().limit(limits=1, user_api="blas"):
        yield


def blas_limited(method: F) -> F:
    """Run `method` with numpy's BLAS on one thread."""

    @functools.wraps(method)
    def limited(*args: Any, **kwargs: Any) -> Any:
        with one_blas_thread():
            return method(*args, **kwargs)

    return limited  # type: ignore[return-value]
