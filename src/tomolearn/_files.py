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


class output_lock:
    """Hold ``.NAME.lock`` beside an output while a command writes it: a second writer stops at once.

    The lock holds the writer's process id; a lock whose process is gone (a killed run) is
    stale and taken over. Used as a context manager; the lock is removed on exit, whatever happens.

    Raises
    ------
    FileExistsError
        If another live process is writing the same output.
    """

    def __init__(self, path) -> None:
        p = Path(path)
        self.lock = p.with_name(f".{p.name}.lock")
        self.held = False

    def __enter__(self) -> "output_lock":
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid):
                    raise FileExistsError(f"output: {self.lock.name[1:-5]!r} is being written by process {pid}; "
                                          "wait for it or choose another name") from None
                self.lock.unlink(missing_ok=True)  # stale: its writer is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            self.removed = remove_stale_temporaries(self.lock.with_name(self.lock.name[1:-5]))
            return self
        raise FileExistsError(f"output: could not lock {str(self.lock)!r}")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.lock.unlink(missing_ok=True)


def remove_stale_temporaries(path) -> list[str]:
    """Remove the temporary files (``.NAME.XXXXXXXX.ext``) an earlier, killed writer of ``path`` left behind.

    Only called while holding :class:`output_lock`, so no live writer owns them; the resumable
    partial output (``.NAME.partial``) and the lock itself are kept.
    """
    p = Path(path)
    removed = []
    for cand in p.parent.glob(f".{p.name}.*"):
        if cand.name.endswith((".lock", ".partial")) or not cand.is_file():
            continue
        try:
            cand.unlink()
            removed.append(cand.name)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


__all__ = ["STORAGE_ERRNOS", "check_writable", "output_lock", "remove_stale_temporaries", "quiet_release", "make_user_readable", "storage_message", "user_mode"]
