"""File modes of outputs: what the user's umask allows, like any other tool's files.

``tempfile.mkstemp`` creates private (0600) files; an atomic write that renames such a file
into place would hide the output from the user's group (a shared beamline account, a web
server). Writers call :func:`make_user_readable` on their temporary file before renaming it.
"""
from __future__ import annotations

import os
from pathlib import Path


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, briefly, for every thread)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def user_mode(directory: bool = False) -> int:
    """``0o666`` (files) or ``0o777`` (folders) less the process umask: the mode ``open()`` would give."""
    return (0o777 if directory else 0o666) & ~_umask()


def make_user_readable(path) -> None:
    """Give ``path`` the mode a newly created file (or folder) gets under the current umask."""
    os.chmod(path, user_mode(Path(path).is_dir()))


__all__ = ["make_user_readable", "user_mode"]
