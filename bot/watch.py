"""Watch the knowledge folder and call back once per burst of edits (temp and swap files aside).

Knows nothing of Telegram: the bot passes a coroutine that reloads and tells the admins.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

log = logging.getLogger(__name__)

# one reload per burst: wait until the folder has been quiet this long (an editor's save,
# a `cp -r` of an article folder and `teach`'s atomic replace are each one burst)
QUIET_MS = 1000
# but never hold back a reload longer than this while edits keep coming
MAX_WAIT_MS = 10_000

# editors' swap, backup and lock files, and our own atomic-write temp files (".name.xxxx.tmp")
_TEMP = re.compile(r"^\.|~$|^#.*#$|\.(swp|swo|swx|tmp|temp|part|bak|orig|rej)$|^4913$")


class KnowledgeFilter(DefaultFilter):
    """watchfiles' default filter (.git, __pycache__, ...) plus temp and swap files and
    anything inside a hidden folder (the importer stages an article in one)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root.resolve()

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        try:
            parts = Path(path).resolve().relative_to(self.root).parts
        except ValueError:
            parts = (Path(path).name,)
        return not any(_TEMP.search(part) for part in parts)


def is_temp(path: Path) -> bool:
    """Whether a file name is an editor's or a writer's temporary file, not knowledge."""
    return bool(_TEMP.search(path.name))


async def watch(
    root: Path,
    on_change: Callable[[set[Path]], Awaitable[None]],
    *,
    stop: asyncio.Event,
    quiet_ms: int = QUIET_MS,
) -> None:
    """Call `on_change(changed paths)` after every burst of edits under `root`, until `stop`."""
    async for changes in awatch(
        root,
        watch_filter=KnowledgeFilter(root),
        step=quiet_ms,
        debounce=max(MAX_WAIT_MS, quiet_ms),
        stop_event=stop,
        # so that `stop` is noticed promptly even while nothing changes
        rust_timeout=500,
    ):
        paths = {Path(p) for _, p in changes}
        log.info("knowledge changed: %s", ", ".join(sorted(p.name for p in paths)))
        try:
            await on_change(paths)
        except Exception:
            # one failed reload must not end the watching
            log.exception("reload after a knowledge change failed")
