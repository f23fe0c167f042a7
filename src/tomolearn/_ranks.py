"""Which process of a multi-process (DDP) run this is, from the launcher's environment only."""
from __future__ import annotations

import os


def is_main_process() -> bool:
    """False in the extra processes of a multi-process (DDP) run: only rank 0 prepares folders,
    validates and writes results (Lightning sets ``LOCAL_RANK`` / ``NODE_RANK`` in the others)."""
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
