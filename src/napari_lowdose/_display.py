"""A virtual X display (Xvfb) for running napari on a machine without a screen.

napari draws with OpenGL; Qt's ``offscreen`` platform has no OpenGL context, so a headless run
(the CLI on a server, screenshots for the docs) starts Xvfb and points ``DISPLAY`` at it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from typing import Iterator

from .core.errors import LowdoseError


def has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@contextlib.contextmanager
def virtual_display(size: str = "1600x1000x24") -> Iterator[str]:
    """Start Xvfb on a free display number, set ``DISPLAY`` for the duration, stop it afterwards."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise LowdoseError(
            "no display found and Xvfb is not installed: run on a desktop, or install Xvfb "
            "(Debian/Ubuntu: apt-get install xvfb) to render headless"
        )
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as fh:
            number = fh.readline().strip()
        if not number:
            raise LowdoseError("Xvfb did not start (no display number reported)")
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = f":{number}"
        try:
            yield os.environ["DISPLAY"]
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
