"""Show an item in the desktop's file manager, where the OS allows it.

Only a server on this machine's loopback address may do it: whoever uses the
page then sits at this desktop. A server bound to another address serves
people elsewhere, for whom a window opening on the server's screen is useless
(and a surprise to whoever sits there), so there the page offers copy-path only.

The command is the platform's own: `open -R` on macOS and `explorer /select,`
on Windows select the file in its folder; on Linux `xdg-open` (or `gio open`)
opens the folder, and only where a display exists. `$SEMSEARCH_OPENER` replaces
it (a command line that gets the file's path as its last argument), for desktops
with their own habits, and for the tests. The path comes from the catalog, by
id, and goes to the command as one argument, never through a shell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

OPENER_ENV = "SEMSEARCH_OPENER"


def opener(file: Path) -> list[str] | None:
    """The command that shows `file` in its folder here, or None where none can."""
    custom = os.environ.get(OPENER_ENV, "").strip()
    if custom:
        return [*shlex.split(custom), str(file)]
    if sys.platform == "darwin":
        return ["open", "-R", str(file)]
    if sys.platform == "win32":
        return ["explorer", f"/select,{file}"]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None  # a headless machine: nobody would see the window
    for tool in (["xdg-open"], ["gio", "open"]):
        if shutil.which(tool[0]):
            return [*tool, str(file.parent)]
    return None


def can_reveal(loopback: bool) -> bool:
    return loopback and opener(Path("/")) is not None


def reveal(file: Path) -> None:
    """Start the opener for `file` and return; its window is the OS's business."""
    command = opener(file)
    if command is None:
        raise OSError("no file manager to open here")
    subprocess.Popen(  # noqa: S603 (a fixed command, the path as one argument)
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
