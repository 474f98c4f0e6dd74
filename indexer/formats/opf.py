"""The reading order of an OPF package: EPUB books and HWPX documents both carry one.

The package document lists its parts in a manifest (id → href) and their order
in a spine of idrefs; hrefs are relative to the package document's folder.
"""

from __future__ import annotations

import posixpath
from typing import Any


def spine(package: Any, package_path: str) -> list[str]:
    """Zip member names of the spine's items, in reading order (unknown idrefs left out)."""
    base = posixpath.dirname(package_path)
    manifest = {
        item.get("id"): item.get("href")
        for item in package.iter("{*}item")
        if item.get("id") and item.get("href")
    }
    out = []
    for ref in package.iter("{*}itemref"):
        href = manifest.get(ref.get("idref"))
        if href and ref.get("linear") != "no":
            out.append(member_name(base, href))
    return out


def member_name(base: str, href: str) -> str:
    """The zip member an href names, relative to the folder `base`, without `..` escapes."""
    from urllib.parse import unquote

    path = posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0])))
    return path.lstrip("/")
