"""Progress display for long loops (rich), silent unless asked for."""
from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], description: str, enabled: bool) -> Iterator[T]:
    """Iterate over ``items``, showing a rich progress bar on stderr when ``enabled``."""
    if not enabled:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=description, transient=True)
