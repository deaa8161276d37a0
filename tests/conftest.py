"""Shared fixtures: one warmed jieba segmenter and the engine over the shipped knowledge."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.knowledge import load_knowledge
from bot.library import Library
from bot.match import Engine
from bot.segment import Segmenter
from tests.fake_bot_api import FakeBotApi

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"


@pytest.fixture(scope="session")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Segmenter:
    seg = Segmenter(tmp_path_factory.mktemp("jieba-cache"))
    seg.warm_up()
    return seg


@pytest.fixture(scope="session")
def engine(segmenter: Segmenter) -> Engine:
    return Engine(load_knowledge(KNOWLEDGE), segmenter)


@pytest.fixture
def library(segmenter: Segmenter) -> Library:
    lib = Library(KNOWLEDGE, segmenter)
    assert lib.reload().ok
    return lib


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped knowledge folder, for tests that break or edit it."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


@pytest.fixture(scope="module")
def api() -> Iterator[FakeBotApi]:
    """Our fake Bot API server on 127.0.0.1, one per test module."""
    server = FakeBotApi().start()
    yield server
    server.stop()


@contextlib.contextmanager
def refusals_checked(
    request: pytest.FixtureRequest, *, faults: bool = False, callbacks: bool = False
) -> Iterator[None]:
    """Around a test that runs the `bot` fixture: the fake server's record starts empty, and
    afterwards holds no request the Bot API refused (with `faults`, no injected fault is left
    over; with `callbacks`, no callback query went unanswered)."""
    if "bot" not in request.fixturenames:
        yield
        return
    api: FakeBotApi = request.getfixturevalue("api")
    api.reset()
    yield
    if faults:
        api.clear_faults()
    assert [(c.method, c.description) for c in api.errors()] == []
    if callbacks:
        assert api.unanswered_callbacks() == []
