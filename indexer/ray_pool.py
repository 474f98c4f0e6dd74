"""The Ray side of indexing on Ray: the connection, the pool of workers, and the
driver's stand-ins for the models the workers load (see indexer.ray_index).

Ray is imported only when a run asks for it, so semsearch works without it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from types import ModuleType
from typing import Any

from PIL import Image

from searchengine.config import Settings
from searchengine.errors import ConfigError, ModelMismatchError, SearchEngineError
from searchengine.models.encoders import Encoders, TextRole
from searchengine.models.spaces import IMAGE, TEXT
from searchengine.records import Tag, Vectors

from .changes import StopRequested
from .ray_worker import BatchWorker, ModelFacts, Outcome
from .read_worker import ReadRequest

log = logging.getLogger(__name__)

RAY_EXTRA = "pip install 'semsearch[ray]'"
MAX_RESTARTS = 3  # a worker that dies is restarted, and its batches rerun, this often
IN_FLIGHT = 2  # batches queued per worker, so that none waits while the driver commits
HELD_MAX = 4096  # outcomes held for their turn, past which no more batches are sent
CONNECT_TIMEOUT_S = 10.0

Address = str | bool

# Ray's own switch for single-machine use (its default on macOS and Windows): this node's
# address is 127.0.0.1, so its servers listen on loopback only. Read when ray is imported.
RAY_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def import_ray(*, loopback: bool = False) -> ModuleType:
    """The ray module, or a ConfigError saying how to install it.

    `loopback`: the Ray instance started (or joined on this machine) stays on
    127.0.0.1, and reports no usage statistics; this takes effect only when ray has not
    been imported yet in this process, and an environment that sets these variables
    keeps its own values."""
    if loopback and "ray" not in sys.modules:
        for name, value in RAY_LOOPBACK.items():
            os.environ.setdefault(name, value)
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"indexing on Ray needs the ray package: {RAY_EXTRA}") from exc
    return ray


@contextmanager
def cluster(address: Address) -> Iterator[ModuleType]:
    """Ray, connected: to a local instance started for the call (on loopback only), or
    to a cluster."""
    local = address is True or address in ("", "local")
    ray = import_ray(loopback=local or (isinstance(address, str) and _on_loopback(address)))
    if ray.is_initialized():  # the caller's own connection (a notebook, a test): kept
        yield ray
        return
    try:
        if local:
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        else:
            assert isinstance(address, str)
            _reachable(address)
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except ConfigError:
        raise
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, by Ray's version
        where = "start Ray on this machine" if local else f"connect to Ray at {address}"
        raise ConfigError(f"cannot {where}: {_first_line(exc)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _reachable(address: str) -> None:
    """Fail fast, with a one-line reason, on an address nothing listens at."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"not a Ray address: {address!r} (give HOST:PORT, ray://HOST:PORT or auto)"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach Ray at {address}: {exc.strerror or exc}") from None


def _on_loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Pool:
    """The Ray actors of one run, started on first use, and what they said of their models."""

    def __init__(
        self,
        ray: ModuleType,
        settings: Settings,
        text_model: str,
        image_model: str,
        encoders: Encoders | None,
        workers: int | None,
    ):
        self.ray = ray
        self.settings = replace(settings, catalog=None)  # workers never see the catalog
        self.models = (text_model, image_model)
        self.encoders = encoders
        self.workers = workers
        self.actors: list[Any] = []
        self.running: dict[Any, tuple[int, Any]] = {}  # task -> (batch, actor)
        self.facts: dict[str, ModelFacts] = {}
        self._next = 0

    def start(self, batches: int = 1) -> None:
        """Start the workers: one per cluster CPU (or as asked), at most one per batch."""
        if self.actors:
            return
        ray = self.ray
        n = self.workers or int(ray.cluster_resources().get("CPU", 1))
        n = max(1, min(n, batches))
        actor = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(
            BatchWorker
        )
        text_model, image_model = self.models
        self.actors = [
            actor.remote(self.settings, text_model, image_model, self.encoders) for _ in range(n)
        ]
        log.info("indexing on %d Ray workers", n)

    def run(
        self,
        requests: list[ReadRequest],
        batches: list[list[int]],
        on_received: Callable[[int], None],
        should_stop: Callable[[], bool],
    ) -> Iterator[Outcome]:
        """Every request's outcome, in the requests' order, as the batches come back."""
        if not requests:
            return
        self.start(len(batches))
        ray = self.ray
        queue = deque(range(len(batches)))
        tries = [0] * len(batches)  # how often each batch's worker died with it
        running = self.running
        results: dict[int, Outcome] = {}
        at = 0
        while at < len(requests):
            # outcomes wait for those before them (a slow file): that wait is bounded
            while (
                queue
                and (len(results) < HELD_MAX or not running)
                and (actor := self._least_busy(running)) is not None
            ):
                b = queue.popleft()
                ref = actor.process.remote([requests[i] for i in batches[b]])
                running[ref] = (b, actor)
            while at in results:
                yield results.pop(at)
                at += 1
            if at >= len(requests):
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            if should_stop():
                raise StopRequested
            for ref in ready:
                b, actor = running.pop(ref)
                try:
                    outcomes = self._get(ref)
                except _WorkerLost as exc:
                    if exc.for_good:
                        self._drop(actor, exc)
                    tries[b] += 1
                    if tries[b] <= MAX_RESTARTS:
                        queue.appendleft(b)  # it wrote nothing: running it again is safe
                        continue
                    reason = f"its Ray worker died reading it ({exc}); the next run tries again"
                    outcomes = [Outcome("later", reason) for _ in batches[b]]
                results.update(zip(batches[b], outcomes, strict=True))
                on_received(len(outcomes))

    def _least_busy(self, running: dict[Any, tuple[int, Any]]) -> Any:
        if not self.actors:
            raise SearchEngineError(
                "every Ray worker died; what was committed stays: run the same command again"
            )
        load = {id(a): 0 for a in self.actors}
        for _, actor in running.values():
            if id(actor) in load:
                load[id(actor)] += 1
        actor = min(self.actors, key=lambda a: load[id(a)])
        return actor if load[id(actor)] < IN_FLIGHT else None

    def _drop(self, actor: Any, why: Exception) -> None:
        log.warning("a Ray worker is gone for good (%s); going on without it", why)
        self.actors = [a for a in self.actors if a is not actor]

    def _get(self, ref: Any) -> Any:
        """ray.get, with a worker's own error raised as itself."""
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, SearchEngineError):
                raise cause from None
            raise SearchEngineError(f"a Ray worker failed: {_first_line(cause or exc)}") from None
        except exceptions.RayActorError as exc:
            for_good = not isinstance(exc, exceptions.ActorUnavailableError)
            raise _WorkerLost(_first_line(exc), for_good) from None

    def call(self, method: str, *args: Any) -> Any:
        """A method of one worker (in turns), for the few calls outside the batches."""
        self.start()
        for _ in range(len(self.actors) + 1):
            actor = self.actors[self._next % len(self.actors)]
            self._next += 1
            try:
                return self._get(getattr(actor, method).remote(*args))
            except _WorkerLost as exc:
                if exc.for_good:
                    self._drop(actor, exc)
                if not self.actors:
                    break
        raise SearchEngineError("every Ray worker died")

    def learn(self, space: str, out: Outcome) -> None:
        """Check an outcome's model against the first one seen (every worker must load
        the same model), learning the model's facts from it."""
        known = self.facts.get(space)
        if known is None:
            assert out.vectors is not None
            name = self.models[0] if space == TEXT else self.models[1]
            self.facts[space] = ModelFacts(name, out.fingerprint, int(out.vectors.shape[1]))
        elif out.fingerprint != known.fingerprint:
            raise ModelMismatchError(
                f"the Ray workers load {known.name!r} as different models "
                f"({known.fingerprint} and {out.fingerprint}): give every node the same model"
            )

    def model(self, space: str) -> ModelFacts:
        if space not in self.facts:
            self.facts[space] = self.call("facts", space)
        return self.facts[space]

    def close(self) -> None:
        # cancelled first, a stopped run's batches are not reported as retried
        for ref in self.running:
            try:
                self.ray.cancel(ref)
            except Exception as exc:  # done meanwhile, or its worker gone
                log.info("could not cancel a Ray task: %s", exc)
        self.running.clear()
        # a worker's file reader ends with it (its input closes)
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception as exc:  # already gone with its node: nothing to end
                log.info("could not end a Ray worker: %s", exc)
        self.actors = []


class _WorkerLost(Exception):
    """A worker died with this task: for good (past its restarts), or for a while."""

    def __init__(self, message: str, for_good: bool):
        super().__init__(message)
        self.for_good = for_good


class RemoteText:
    """The text model as the Ray workers load it, for the driver's `Spaces`: its facts
    (to record and check the space) and the few encodings the driver asks for."""

    def __init__(self, name: str, pool: Pool):
        self.name = name
        self.pool = pool

    @property
    def dim(self) -> int:
        return self.pool.model(TEXT).dim

    @property
    def fingerprint(self) -> str:
        return self.pool.model(TEXT).fingerprint

    @property
    def max_tokens(self) -> int:
        raise NotImplementedError("the Ray workers chunk the documents")

    def prefix_tokens(self, role: TextRole) -> int:
        raise NotImplementedError("the Ray workers chunk the documents")

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError("the Ray workers chunk the documents")

    def encode(self, texts: Sequence[str], role: TextRole = "passage") -> Vectors:
        vectors: Vectors = self.pool.call("encode", list(texts), role)
        return vectors


class RemoteImage:
    """The image model as the Ray workers load it (see `RemoteText`)."""

    def __init__(self, name: str, pool: Pool):
        self.name = name
        self.pool = pool

    @property
    def dim(self) -> int:
        return self.pool.model(IMAGE).dim

    @property
    def fingerprint(self) -> str:
        return self.pool.model(IMAGE).fingerprint

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        raise NotImplementedError("the Ray workers encode the images")

    def encode_and_tag(
        self, images: Sequence[Image.Image]
    ) -> tuple[Vectors, list[tuple[Tag, ...]]]:
        raise NotImplementedError("the Ray workers encode the images")

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        vectors: Vectors = self.pool.call("encode_image_texts", list(texts))
        return vectors
