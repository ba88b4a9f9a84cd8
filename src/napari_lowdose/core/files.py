"""File-system helpers shared by the image writers and the model files."""

from __future__ import annotations

import os


def default_file_mode() -> int:
    """The permissions a newly created file gets here (0666 less the umask); mkstemp's are 0600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
