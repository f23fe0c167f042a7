"""File modes of outputs: what the user's umask allows, like any other tool's files.

``tempfile.mkstemp`` creates private (0600) files; an atomic write that renames such a file
into place would hide the output from the user's group (a shared beamline account, a web
server). Writers call :func:`make_user_readable` on their temporary file before renaming it.
"""
from __future__ import annotations

import errno
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


#: errors of a file system that cannot take the output (read-only, full, over quota, no permission)
STORAGE_ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM)


def check_writable(path, param: str = "output") -> None:
    """Fail now, before any work, if a file cannot be created beside ``path`` (the output's folder).

    A probe file is created and removed in the folder (``os.access`` is not enough: root passes
    it on a read-only file system).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    PermissionError
        If nothing can be written there (read-only file system, no permission, full disk).
    """
    import tempfile

    folder = Path(path).parent if not Path(path).is_dir() else Path(path)
    folder = folder if str(folder) else Path(".")
    if not folder.exists():
        raise FileNotFoundError(f"{param}: folder {str(folder)!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tomolearn-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(f"{param}: expected a folder tomolearn can write to, got {str(folder)!r} "
                              f"({err.strerror}); choose another folder") from None


def storage_message(err: OSError) -> str | None:
    """One line for an OSError of a file system that cannot take an output; None for other errors."""
    if getattr(err, "errno", None) not in STORAGE_ERRNOS:
        return None
    where = f"into {str(Path(err.filename).parent)!r}" if getattr(err, "filename", None) else "the output"
    return (f"output: could not write {where} ({os.strerror(err.errno)}); no partial file was left behind; free "
            "space or choose another folder")


def quiet_release(obj) -> None:
    """Drop ``obj`` (an h5py file whose close failed) without the finaliser noise of its dead handles."""
    import gc
    import sys

    hook = sys.unraisablehook
    sys.unraisablehook = lambda _unraisable: None
    try:
        del obj
        gc.collect()
    finally:
        sys.unraisablehook = hook


__all__ = ["STORAGE_ERRNOS", "check_writable", "quiet_release", "make_user_readable", "storage_message", "user_mode"]
