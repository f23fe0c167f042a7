"""What a damaged file makes the reading libraries raise, turned into one-line errors naming the file."""
from __future__ import annotations

import struct
from pathlib import Path

from .._checks import fail

#: raised by h5py, tifffile, mrcfile, scipy.io or numpy on a damaged or hostile file (beside ValueError):
#: h5py reports broken B-trees and heaps as RuntimeError, tifffile a zero tile size as ZeroDivisionError,
#: a header claiming a huge size ends in MemoryError or OverflowError
FILE_ERRORS = (OSError, KeyError, RuntimeError, IndexError, ZeroDivisionError, EOFError, OverflowError,
               MemoryError, struct.error)


def damaged(path, err: BaseException, kind: str = "scan") -> ValueError:
    """The one-line error for ``err`` raised while reading ``path``.

    Examples
    --------
    >>> str(damaged("a.h5", RuntimeError("bad symbol table node signature"), "nxtomo"))[:45]
    "path: expected a readable nxtomo file, got 'a"
    """
    return fail("path", f"a readable {kind} file", f"{Path(path).name!r} ({type(err).__name__}: {err})",
                "the file is damaged or not of this format: copy or convert it again")


__all__ = ["FILE_ERRORS", "damaged"]
