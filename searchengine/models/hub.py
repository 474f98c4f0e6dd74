"""Resolve models from the Hugging Face hub and its local cache without hanging offline.

huggingface_hub on its own retries and waits on timeouts when the network is
down, which makes an offline start feel frozen. Here the hub is probed once per
process with a short TCP connect (DNS included, bounded by a thread join), the
cache is only ever read with ``local_files_only=True``, and downloads happen
only after a probe said yes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from searchengine.errors import ModelUnavailableError

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = {"1", "on", "yes", "true"}

_lock = threading.Lock()
_reachable: dict[tuple[str, int], bool] = {}


def offline_by_env() -> bool:
    """True when HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE asks for offline mode."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in _OFFLINE_VARS)


def hub_reachable(timeout: float = 1.5) -> bool:
    """Whether the hub answers a TCP connect within `timeout` seconds.

    False at once when offline mode is set in the environment. Otherwise one
    probe per process and endpoint (``HF_ENDPOINT``, or the HTTPS proxy when one
    is configured for it); the answer is cached, so later calls are free. The
    call never takes much longer than `timeout`, even when DNS itself hangs.
    """
    if offline_by_env():
        return False
    target = _probe_target()
    if target is None:
        return False
    with _lock:
        if target in _reachable:
            return _reachable[target]
    answer = _connects(target, timeout)
    with _lock:
        _reachable.setdefault(target, answer)
        answer = _reachable[target]
    log.debug("hub probe %s:%d -> %s", *target, "reachable" if answer else "unreachable")
    return answer


def clear_cache() -> None:
    """Forget earlier probe answers (the next `hub_reachable` probes again)."""
    with _lock:
        _reachable.clear()


def cached_snapshot(
    repo_id: str,
    *,
    required: Sequence[str] = (),
    cache_dir: Path | None = None,
) -> Path | None:
    """The local folder of `repo_id`'s cached snapshot, or None if it is not all there.

    Only the local Hugging Face cache is read (``local_files_only=True``).
    A snapshot counts as complete when huggingface_hub returns it, no file in
    it is a dangling link, every shard named by a ``*.index.json`` is present,
    and so is every name in `required`.
    """
    if not (_cache_root(cache_dir) / f"models--{repo_id.replace('/', '--')}").is_dir():
        return None  # not cached: said without importing huggingface_hub (~0.5 s)
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id, local_files_only=True, cache_dir=cache_dir))
    except Exception as exc:  # noqa: BLE001 - any failure here just means "not cached"
        log.debug("no cached snapshot of %s: %s", repo_id, _one_line(exc))
        return None
    problem = _snapshot_problem(folder, required)
    if problem is not None:
        log.info("cached snapshot of %s is incomplete: %s", repo_id, problem)
        return None
    return folder


def _cache_root(cache_dir: Path | None) -> Path:
    """Where huggingface_hub keeps its cache (its constants module alone: ~3 ms)."""
    if cache_dir is not None:
        return Path(cache_dir)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def download_snapshot(
    repo_id: str,
    *,
    allow_patterns: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Path:
    """Download (or finish downloading) `repo_id` into the Hugging Face cache.

    Call it only after `hub_reachable()` said yes. huggingface_hub's progress
    bars are switched off for the call, since the library never draws on the
    terminal; `on_progress` gets a line instead. Raises ModelUnavailableError
    with a one-line reason on any failure.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    if on_progress is not None:
        on_progress(f"downloading {repo_id} from the Hugging Face hub")
    log.info("downloading %s from the Hugging Face hub", repo_id)
    bars_were_off = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        folder = snapshot_download(
            repo_id,
            cache_dir=cache_dir,
            allow_patterns=list(allow_patterns) if allow_patterns is not None else None,
        )
    except Exception as exc:  # noqa: BLE001 - network, auth, disk: all one answer to the caller
        raise ModelUnavailableError(
            f"cannot download {repo_id} from the Hugging Face hub: {_one_line(exc)}"
        ) from exc
    finally:
        if not bars_were_off:
            enable_progress_bars()
    return Path(folder)


# ----------------------------------------------------------------------------- internals


def _probe_target() -> tuple[str, int] | None:
    """(host, port) to probe: the hub endpoint, or the proxy that would carry the request."""
    endpoint = os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    parts = urlsplit(endpoint)
    scheme = parts.scheme or "https"
    host = parts.hostname
    if not host:
        return None
    port = parts.port or (443 if scheme == "https" else 80)
    import urllib.request  # only for a probe: it costs a one-shot search a tenth of a second

    try:
        proxies = urllib.request.getproxies_environment()
        proxy = proxies.get(scheme)
        if proxy and not _bypasses_proxy(host, proxies.get("no", "")):
            proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if proxy_parts.hostname:
                default = 443 if proxy_parts.scheme == "https" else 80
                return proxy_parts.hostname, proxy_parts.port or default
    except ValueError:
        pass  # an unparsable proxy setting: probe the hub itself
    return host, port


def _bypasses_proxy(host: str, no_proxy: str) -> bool:
    """NO_PROXY matching as requests does it: "*", exact host, or a domain suffix."""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        entry = entry.split(":")[0].lstrip(".")
        if entry and (host.lower() == entry or host.lower().endswith("." + entry)):
            return True
    return False


def _connects(target: tuple[str, int], timeout: float) -> bool:
    """TCP connect in a daemon thread so a slow resolver cannot block past `timeout`."""
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection(target, timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, name="semsearch-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def _snapshot_problem(folder: Path, required: Sequence[str]) -> str | None:
    if not folder.is_dir():
        return "no folder"
    for name in required:
        if not (folder / name).is_file():
            return f"{name} is missing"
    entries = list(folder.rglob("*"))
    if not any(p.is_file() for p in entries):
        return "no files"
    for path in entries:
        if path.is_symlink() and not path.exists():
            return f"{path.relative_to(folder)} points to a missing blob"
        if path.name.endswith(".index.json") and path.is_file():
            try:
                shards = set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values())
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return f"{path.name} is unreadable"
            missing = [s for s in shards if not (path.parent / s).is_file()]
            if missing:
                return f"shard {missing[0]} is missing"
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
