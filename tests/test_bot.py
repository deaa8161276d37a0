"""The Telegram bot end to end: the real PTB Application, polling our fake Bot API server.

One application serves the whole module (started once, knowledge loaded once); each test
uses chats and users of its own. The fake server refuses whatever Telegram would refuse,
and every test ends by checking that nothing was refused and every button press answered.
Assertions name facts, not wording, so that they survive edits of the knowledge files.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telegram import Update
from telegram.ext import TypeHandler

from bot import messages
from bot.app import ALLOWED_UPDATES, build_application, post_init, post_shutdown
from bot.config import Settings
from bot.handlers import keyboards
from bot.handlers.context import QaApplication, Services
from bot.library import Library
from bot.match import Engine
from bot.model import Entry
from bot.segment import Segmenter
from tests.conftest import refusals_checked
from tests.fake_bot_api import (
    BOT_USERNAME,
    TOKEN,
    Call,
    FakeBotApi,
    make_group,
    make_user,
    parse_html,
    private_chat,
    utf16_len,
)

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
ADMIN_ID = 900001

pytestmark = pytest.mark.asyncio(loop_scope="module")
_ids = itertools.count(1000)


# ----- the harness --------------------------------------------------------------------------------


class Harness:
    """Drives the running bot: inject an update, wait until it is handled, see the calls."""

    def __init__(self, api: FakeBotApi, app: QaApplication, processed: set[int]) -> None:
        self.api = api
        self.app = app
        self.processed = processed
        self.startup: list[Call] = []

    @property
    def services(self) -> Services:
        return self.app.bot_data.services

    @property
    def engine(self) -> Engine:
        return self.services.engine

    def user(self, first_name: str = "小李") -> dict[str, Any]:
        """A new user who has opened the bot (so its private chat is known)."""
        user = make_user(next(_ids), first_name)
        self.api.know_chat(private_chat(user))
        return user

    def group(self, **kwargs: Any) -> dict[str, Any]:
        chat = make_group(-1001000000000 - next(_ids), **kwargs)
        self.api.know_chat(chat)
        return chat

    async def send(self, update: dict[str, Any]) -> list[Call]:
        """Queue the update for getUpdates, wait until every handler is done, return the calls."""
        start = len(self.api.calls)
        self.api.push(update)
        update_id = update["update_id"]
        for _ in range(2000):
            if update_id in self.processed:
                break
            await asyncio.sleep(0.005)
        else:
            raise AssertionError(f"update {update_id} was not handled")
        assert self.api.unanswered_callbacks() == [], "a callback query was never answered"
        return [c for c in self.api.calls[start:] if c.method != "getUpdates"]

    async def say(
        self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Call]:
        chat = chat if chat is not None else private_chat(user)
        return await self.send(self.api.text_message(chat, user, text, **kwargs))

    async def press(
        self, user: dict[str, Any], message: dict[str, Any], data: str | None
    ) -> list[Call]:
        current = self.api.message(message["chat"]["id"], message["message_id"])
        return await self.send(self.api.callback(user, current, data))


def sent(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.method == "sendMessage" and c.ok]


def only_reply(calls: list[Call]) -> Call:
    replies = sent(calls)
    assert len(replies) == 1, [c.params.get("text") for c in replies]
    return replies[0]


def buttons(call: Call) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def data_of(call: Call) -> list[str]:
    return [b["callback_data"] for b in buttons(call) if "callback_data" in b]


def shown(call: Call) -> str:
    """The text as the user sees it (entities parsed)."""
    return parse_html(call.params["text"])


def answered_with(calls: list[Call]) -> list[str]:
    return [c.params.get("text", "") for c in calls if c.method == "answerCallbackQuery"]


def entry_for(engine: Engine, question: str, fact: str) -> Entry:
    """The entry the engine answers `question` with; it must mention `fact`."""
    answer = engine.ask(question)
    assert answer.kind == "answer" and answer.entry is not None, (question, answer.kind)
    assert fact in answer.entry.answer + "".join(p.text for p in answer.entry.passages)
    return answer.entry


# ----- fixtures ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_harness(
    api: FakeBotApi, settings: Settings, knowledge: Path, segmenter: Segmenter
) -> AsyncIterator[Harness]:
    """The real Application, built as production builds it, polling `api` until the block ends."""
    app = build_application(settings, knowledge, segmenter=segmenter)
    processed: set[int] = set()

    async def mark(update: Update, context: object) -> None:
        processed.add(update.update_id)

    # the last group runs after every other handler (and the error handler) is done
    app.add_handler(TypeHandler(Update, mark), group=99)
    harness = Harness(api, app, processed)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    harness.startup = list(api.calls)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=5, allowed_updates=ALLOWED_UPDATES)
    await app.start()
    yield harness
    await app.updater.stop()
    await app.stop()
    await app.shutdown()
    assert app.post_shutdown is not None
    await app.post_shutdown(app)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    api: FakeBotApi, segmenter: Segmenter, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Harness]:
    api.know_chat(private_chat(make_user(ADMIN_ID, "管理员")))
    settings = Settings(
        token=TOKEN,
        base_url=api.base_url,
        admin_ids=frozenset({ADMIN_ID}),
        db_path=tmp_path_factory.mktemp("db") / "bot.sqlite3",
    )
    async with running_harness(api, settings, KNOWLEDGE, segmenter) as harness:
        yield harness


@pytest.fixture(autouse=True)
def nothing_refused(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test: no request the Bot API refused."""
    with refusals_checked(request):
        yield


# ----- start-up ---------------------------------------------------------------------------------


async def test_startup_warms_and_sets_command_menus(bot: Harness) -> None:
    methods = [c.method for c in bot.startup]
    assert methods[0] == "getMe"
    menus = {
        c.params["scope"]["type"]: c.params for c in bot.startup if c.method == "setMyCommands"
    }
    assert set(menus) == {"all_private_chats", "all_group_chats", "chat"}
    names = {k: [cmd["command"] for cmd in v["commands"]] for k, v in menus.items()}
    assert names["all_private_chats"] == ["start", "help", "topics", "source", "ask"]
    assert names["all_group_chats"] == ["ask", "help"]
    assert "reload" in names["chat"] and menus["chat"]["scope"]["chat_id"] == ADMIN_ID
    for menu in menus.values():
        for command in menu["commands"]:
            assert re.search(r"[\u4e00-\u9fff]", command["description"])  # Simplified Chinese
    # the knowledge is loaded before the first update is taken
    assert bot.engine.knowledge.facts


async def test_unknown_admin_does_not_stop_start_up(
    api: FakeBotApi, segmenter: Segmenter, tmp_path: Path
) -> None:
    settings = Settings(
        token=TOKEN,
        base_url=api.base_url,
        admin_ids=frozenset({424242}),
        db_path=tmp_path / "bot.sqlite3",
    )
    app = build_application(settings, KNOWLEDGE, segmenter=segmenter)
    api.reset()
    await app.initialize()
    try:
        await post_init(app)
    finally:
        await app.shutdown()
        await post_shutdown(app)
    refused = api.errors()
    assert [c.params["scope"]["chat_id"] for c in refused] == [424242]  # "chat not found"
    assert len([c for c in api.calls if c.method == "setMyCommands" and c.ok]) == 2


async def test_http_logs_are_quiet(bot: Harness) -> None:
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


async def test_token_never_logged(bot: Harness, caplog: pytest.LogCaptureFixture) -> None:
    user = bot.user()
    with caplog.at_level(logging.DEBUG):
        await bot.say(user, "谁主持了大会？")
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


# ----- private chats --------------------------------------------------------------------------


async def test_question_gets_answer_passage_source_and_buttons(bot: Harness) -> None:
    user = bot.user()
    entry = entry_for(bot.engine, "谁主持了大会", "王健")
    reply = only_reply(await bot.say(user, "谁主持了大会"))
    html = reply.params["text"]
    assert reply.params["parse_mode"] == "HTML"
    assert reply.params["chat_id"] == user["id"]
    assert html.startswith("<b>") and "王健" in html.split("</b>")[0]
    assert "<blockquote" in html
    assert messages.SOURCE in shown(reply) and "段" in shown(reply)
    data = data_of(reply)
    related = [d for d in data if d.startswith("q:")]
    assert 2 <= len(related) <= 3 and f"q:{entry.id}" not in related
    assert data[-2:] == [f"fb:{entry.id}:up", f"fb:{entry.id}:down"]
    assert reply.params["link_preview_options"] == {"is_disabled": True}


async def test_long_passage_is_quoted_expandable(bot: Harness) -> None:
    from bot.render import EXPANDABLE_AT

    entry = next(
        (
            e
            for e in bot.engine.knowledge.facts
            if any(len(p.text) > EXPANDABLE_AT for p in e.passages)
        ),
        None,
    )
    if entry is None:
        pytest.skip("no passage long enough in the knowledge")
    user = bot.user()
    calls = await bot.say(user, f"/start q_{entry.id}")
    assert "<blockquote expandable>" in "".join(c.params["text"] for c in sent(calls))


async def test_related_button_answers_that_question(bot: Harness) -> None:
    user = bot.user()
    reply = only_reply(await bot.say(user, "谁主持了大会"))
    target = next(d for d in data_of(reply) if d.startswith("q:"))
    calls = await bot.press(user, reply.result, target)
    assert answered_with(calls) == [""]
    second = only_reply(calls)
    entry = bot.engine.knowledge.by_id[target[2:]]
    assert entry.answer in shown(second)


def _clarifying_question(engine: Engine) -> str:
    """A word of the knowledge's own questions that several entries answer about equally."""
    for entry in engine.knowledge.facts:
        for term in engine.terms(entry.question):
            answer = engine.ask(term)
            if len(term) >= 2 and answer.kind == "clarify" and len(answer.candidates) >= 2:
                return term
    pytest.skip("no word of the questions yields a clarifying reply with this knowledge")


async def test_clarify_offers_candidates_and_none_of_these(bot: Harness) -> None:
    user = bot.user()
    question = _clarifying_question(bot.engine)
    expected = bot.engine.ask(question).candidates
    reply = only_reply(await bot.say(user, question))
    assert shown(reply) == messages.CLARIFY
    assert data_of(reply) == [f"q:{e.id}" for e in expected] + ["nq"]
    assert [b["text"] for b in buttons(reply)][-1] == messages.CLARIFY_NONE_OF_THESE

    # pressing a candidate answers it
    calls = await bot.press(user, reply.result, f"q:{expected[0].id}")
    assert expected[0].answer in shown(only_reply(calls))

    # "都不是" turns the question into a hint, and pressing it again changes nothing
    calls = await bot.press(user, reply.result, "nq")
    edits = [c for c in calls if c.method == "editMessageText"]
    assert len(edits) == 1 and parse_html(edits[0].params["text"]) == messages.NONE_OF_THESE
    assert "tl:0" in [
        b.get("callback_data")
        for row in edits[0].params["reply_markup"]["inline_keyboard"]
        for b in row
    ]
    calls = await bot.press(user, reply.result, "nq")
    assert [c.method for c in calls] == ["answerCallbackQuery"]


async def test_not_covered_says_so_and_offers_topics(bot: Harness) -> None:
    user = bot.user()
    reply = only_reply(await bot.say(user, "明天杭州的天气怎么样"))
    assert shown(reply).startswith(messages.NONE)
    data = data_of(reply)
    assert any(d.startswith("q:") for d in data) and data[-1] == "tl:0"
    topics = [d for d in data if d.startswith("t:")]
    assert 1 <= len(topics) <= 2
    # a topic button turns the reply into that topic's questions
    calls = await bot.press(user, reply.result, topics[0])
    edit = next(c for c in calls if c.method == "editMessageText")
    name = bot.services.catalog(bot.engine).topics[int(topics[0].split(":")[1])].name
    assert name in parse_html(edit.params["text"])


async def test_gap_explains_what_the_report_does_say(bot: Harness) -> None:
    gap = next(
        (
            e
            for e in bot.engine.knowledge.entries
            if e.kind == "gap" and bot.engine.ask(e.question).gap == e
        ),
        None,
    )
    if gap is None:
        pytest.skip("no gap entry in the knowledge")
    user = bot.user()
    reply = only_reply(await bot.say(user, gap.question))
    assert shown(reply).startswith(gap.answer)
    assert "<blockquote" not in reply.params["text"]  # no confident passage for a gap


async def test_chitchat_replies_with_example_questions(bot: Harness) -> None:
    user = bot.user()
    answer = bot.engine.ask("你好")
    assert answer.kind == "chitchat" and answer.entry is not None
    reply = only_reply(await bot.say(user, "你好"))
    assert shown(reply).startswith(answer.entry.answer)
    catalog = bot.services.catalog(bot.engine)
    assert data_of(reply) == [f"q:{e.id}" for e in catalog.examples]


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (
            "sticker",
            {
                "file_id": "s1",
                "file_unique_id": "u1",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            },
        ),
        ("photo", [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]),
        ("voice", {"file_id": "v1", "file_unique_id": "u3", "duration": 3}),
        ("document", {"file_id": "d1", "file_unique_id": "u4", "file_name": "a.pdf"}),
    ],
)
async def test_media_gets_a_note_about_text(bot: Harness, kind: str, payload: Any) -> None:
    user = bot.user()
    calls = await bot.send(bot.api.media_message(private_chat(user), user, kind, payload))
    reply = only_reply(calls)
    assert shown(reply).startswith(messages.MEDIA_ONLY_TEXT)
    assert all(d.startswith(("q:", "tl:")) for d in data_of(reply))


HOSTILE = [
    pytest.param("   ", id="spaces"),
    pytest.param("？？？！！！。。。", id="punctuation"),
    pytest.param("😀😀🙈👍🏽", id="emoji-only"),
    pytest.param("\u200b\u200c\u200d\u2060\ufeff", id="zero-width"),
    pytest.param("\u202e\u2066\u200e\u200f\u202a\u202c", id="bidi-controls"),
    pytest.param("\u202e谁主持了\u200b大会\u202c", id="bidi-around-question"),
    pytest.param("<b>谁</b> & <script>主持</script> 大会？ &amp; &lt; \"'", id="html"),
    pytest.param("</blockquote><a href='javascript:x'>&#0;", id="html-broken"),
    pytest.param("谁主持了大会" * 682 + "大会", id="4096-cjk"),
    pytest.param("A" * 4096, id="4096-latin"),
    pytest.param("😀" * 2048, id="4096-utf16-emoji"),
    pytest.param("q:chair fb:x:up nq tl:99", id="looks-like-callback-data"),
    pytest.param("/start@" + "x" * 40, id="command-for-nobody"),
    pytest.param("\x00\x01\x7f谁", id="control-chars"),
]


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_text_in_private_gets_one_valid_reply(bot: Harness, text: str) -> None:
    user = bot.user()
    calls = await bot.say(user, text)
    assert len(sent(calls)) >= 1
    for call in sent(calls):
        assert utf16_len(shown(call)) <= 4096


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_text_in_a_group_is_safe(bot: Harness, text: str) -> None:
    user, group = bot.user(), bot.group()
    await bot.say(user, f"/ask {text}", chat=group)
    await bot.say(user, f"@{BOTNAME} {text}", chat=group)


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_inline_query_is_safe(bot: Harness, text: str) -> None:
    user = bot.user()
    calls = await bot.send(bot.api.inline_query(user, text[:256]))
    assert [c.method for c in calls] == ["answerInlineQuery"]


async def test_edited_message_is_not_answered_again(bot: Harness) -> None:
    user = bot.user()
    update = bot.api.text_message(private_chat(user), user, "谁主持了大会")
    update["edited_message"] = update.pop("message")
    update["edited_message"]["edit_date"] = update["edited_message"]["date"]
    assert sent(await bot.send(update)) == []


# ----- commands ---------------------------------------------------------------------------------

BOTNAME = BOT_USERNAME


async def test_start_welcomes_with_examples(bot: Harness) -> None:
    user = bot.user()
    reply = only_reply(await bot.say(user, "/start"))
    text = shown(reply)
    assert messages.BOT_NAME in text
    for article in bot.engine.knowledge.articles.values():
        assert article.short_title in text
    catalog = bot.services.catalog(bot.engine)
    assert data_of(reply) == [f"q:{e.id}" for e in catalog.examples] + ["tl:0"]


async def test_start_deep_link_opens_the_answer(bot: Harness) -> None:
    user = bot.user()
    entry = entry_for(bot.engine, "谁主持了大会", "王健")
    reply = only_reply(await bot.say(user, f"/start q_{entry.id}"))
    assert shown(reply).startswith(entry.answer)
    assert f"fb:{entry.id}:up" in data_of(reply)


async def test_start_deep_link_to_a_removed_entry(bot: Harness) -> None:
    user = bot.user()
    calls = await bot.say(user, "/start q_no-such-entry")
    texts = [shown(c) for c in sent(calls)]
    assert texts[0] == messages.DEEP_LINK_GONE and messages.BOT_NAME in texts[1]


@pytest.mark.parametrize("payload", ["topics", "source", "inline", "start", "q_", "Q_CHAIR"])
async def test_start_other_payloads(bot: Harness, payload: str) -> None:
    user = bot.user()
    assert sent(await bot.say(user, f"/start {payload}"))


async def test_help_lists_every_command(bot: Harness) -> None:
    user = bot.user()
    text = shown(only_reply(await bot.say(user, "/help")))
    for command in ("/start", "/help", "/topics", "/source", "/ask"):
        assert command in text
    assert "/reload" not in text
    assert f"@{BOTNAME}" in text
    admin = make_user(ADMIN_ID, "管理员")
    assert "/reload" in shown(only_reply(await bot.say(admin, "/help")))


async def test_topics_pages_and_topic_questions(bot: Harness) -> None:
    user = bot.user()
    catalog = bot.services.catalog(bot.engine)
    reply = only_reply(await bot.say(user, "/topics"))
    first_page = data_of(reply)
    topic_buttons = [d for d in first_page if d.startswith("t:")]
    assert topic_buttons == [
        f"t:{i}:0" for i in range(min(len(catalog.topics), keyboards.TOPICS_PER_PAGE))
    ]
    message = reply.result

    if len(catalog.topics) > keyboards.TOPICS_PER_PAGE:
        assert first_page[-1] == "tl:1"
        calls = await bot.press(user, message, "tl:1")
        edit = next(c for c in calls if c.method == "editMessageText")
        assert "t:8:0" in [
            b["callback_data"]
            for row in edit.params["reply_markup"]["inline_keyboard"]
            for b in row
        ]
        calls = await bot.press(user, message, "tl:0")
        assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]

    # the same page again: answered, nothing edited (Telegram refuses an edit that changes nothing)
    calls = await bot.press(user, message, "tl:0")
    assert [c.method for c in calls] == ["answerCallbackQuery"]

    # a topic: its questions, the way back; a question: its answer
    calls = await bot.press(user, message, "t:0:0")
    edit = next(c for c in calls if c.method == "editMessageText")
    topic = catalog.topics[0]
    assert topic.name in parse_html(edit.params["text"])
    data = [
        b["callback_data"] for row in edit.params["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert data[0] == f"q:{topic.entries[0].id}" and data[-1] == "tl:0"
    calls = await bot.press(user, message, data[0])
    assert topic.entries[0].answer in shown(only_reply(calls))
    calls = await bot.press(user, message, "tl:0")
    assert any(c.method == "editMessageText" for c in calls)


async def test_topic_with_many_questions_pages(bot: Harness) -> None:
    catalog = bot.services.catalog(bot.engine)
    index = next(
        (i for i, t in enumerate(catalog.topics) if len(t.entries) > keyboards.QUESTIONS_PER_PAGE),
        None,
    )
    if index is None:
        pytest.skip("no topic with more than one page of questions")
    user = bot.user()
    message = only_reply(await bot.say(user, "/topics")).result
    calls = await bot.press(user, message, f"t:{index}:1")
    edit = next(c for c in calls if c.method == "editMessageText")
    data = [
        b["callback_data"] for row in edit.params["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert f"t:{index}:0" in data  # the arrow back


async def test_source_shows_the_article_and_sends_the_full_text(bot: Harness) -> None:
    user = bot.user()
    article = next(iter(bot.engine.knowledge.articles.values()))
    reply = only_reply(await bot.say(user, "/source"))
    text = shown(reply)
    assert article.title in text
    assert (article.publisher or messages.SOURCE_NO_PUBLISHER) in text
    assert data_of(reply) == ["a:0"]
    calls = await bot.press(user, reply.result, "a:0")
    parts = [shown(c) for c in sent(calls)]
    assert parts and all(utf16_len(p) <= 4096 for p in parts)
    full = "\n".join(parts)
    for paragraph in article.paragraphs:
        assert paragraph.strip() in full


async def test_source_full_text_is_split_on_paragraphs(
    bot: Harness, segmenter: Segmenter, tmp_path: Path
) -> None:
    """A report longer than a message arrives in several, cut only between paragraphs."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    article = next(p for p in knowledge.iterdir() if (p / "article.txt").exists()) / "article.txt"
    original = article.read_text(encoding="utf-8")
    extra = [f"补充段落{n}：" + "作风建设<要求>&落实。" * 60 for n in range(12)]
    article.write_text(original.rstrip("\n") + "\n" + "\n".join(extra) + "\n", encoding="utf-8")
    library = Library(knowledge, segmenter)
    assert library.reload().ok
    services, saved = bot.services, bot.services.library
    services.library = library
    try:
        user = bot.user()
        reply = only_reply(await bot.say(user, "/source"))
        calls = await bot.press(user, reply.result, "a:0")
    finally:
        services.library = saved
    parts = [shown(c) for c in sent(calls)]
    assert len(parts) >= 3
    for part in parts:
        assert utf16_len(part) <= 4096
        # every message starts with a whole paragraph (its number) or the title
        assert part.startswith("〔") or part.startswith(
            bot.engine.knowledge.articles[article.parent.name].title
        )
    assert "作风建设<要求>&落实。" in "".join(parts)


@pytest.mark.parametrize(
    "text", ["/ask 谁主持了大会", "/ask谁主持了大会", f"/ask@{BOTNAME} 谁主持了大会"]
)
async def test_ask_in_private(bot: Harness, text: str) -> None:
    user = bot.user()
    reply = only_reply(await bot.say(user, text))
    assert "王健" in shown(reply).split("\n")[0]


async def test_ask_without_question_explains(bot: Harness) -> None:
    user = bot.user()
    assert shown(only_reply(await bot.say(user, "/ask"))) == messages.ASK_USAGE


async def test_unknown_command(bot: Harness) -> None:
    user = bot.user()
    assert shown(only_reply(await bot.say(user, "/frobnicate 1 2"))) == messages.UNKNOWN_COMMAND


async def test_reload_is_for_admins(bot: Harness) -> None:
    user = bot.user()
    assert shown(only_reply(await bot.say(user, "/reload"))) == messages.ADMIN_ONLY
    admin = make_user(ADMIN_ID, "管理员")
    text = shown(only_reply(await bot.say(admin, "/reload")))
    assert text.startswith("✅")


async def test_reload_with_broken_files_keeps_serving(
    bot: Harness, segmenter: Segmenter, tmp_path: Path
) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    library = Library(knowledge, segmenter)
    assert library.reload().ok
    qa = next(knowledge.glob("*/qa.yaml"))
    qa.write_text(
        qa.read_text(encoding="utf-8") + "\n  - id: Bad Id\n    question: [\n", encoding="utf-8"
    )
    services, saved = bot.services, bot.services.library
    services.library = library
    admin = make_user(ADMIN_ID, "管理员")
    try:
        calls = await bot.say(admin, "/reload")
        answer = only_reply(await bot.say(admin, "谁主持了大会"))
    finally:
        services.library = saved
    text = "\n".join(shown(c) for c in sent(calls))
    assert text.startswith("❌") and "qa.yaml" in text
    assert "王健" in shown(answer)


# ----- groups ------------------------------------------------------------------------------------


async def test_group_is_silent_unless_addressed(bot: Harness) -> None:
    user, group = bot.user(), bot.group()
    other = bot.user("老王")
    earlier = bot.api.text_message(group, other, "大家好")
    await bot.send(earlier)
    for text in [
        "谁主持了大会",
        "@someone_else 谁主持了大会",
        "/ask@other_qa_bot 谁主持了大会",
        "你好",
        "/help@other_qa_bot",
        "/frobnicate",
    ]:
        assert sent(await bot.say(user, text, chat=group)) == [], text
    # a reply to somebody else's message is not addressed to the bot either
    assert sent(await bot.say(user, "谁主持了大会", chat=group, reply_to=earlier["message"])) == []
    # nor is a sticker
    sticker = {
        "file_id": "s",
        "file_unique_id": "s",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    assert sent(await bot.send(bot.api.media_message(group, user, "sticker", sticker))) == []


def _check_compact(bot: Harness, reply: Call, asking: dict[str, Any], entry: Entry) -> None:
    assert reply.params["reply_parameters"]["message_id"] == asking["message_id"]
    html = reply.params["text"]
    assert html.count("<blockquote") <= 1
    assert entry.answer in shown(reply)
    url = buttons(reply)[0]["url"]
    assert url == f"https://t.me/{BOTNAME}?start=q_{entry.id}"


@pytest.mark.parametrize(
    "text",
    [
        "/ask 谁主持了大会",
        f"/ask@{BOTNAME} 谁主持了大会",
        f"@{BOTNAME} 谁主持了大会",
        f"谁主持了大会 @{BOTNAME}",
    ],
)
async def test_group_answers_when_addressed(bot: Harness, text: str) -> None:
    user, group = bot.user(), bot.group()
    entry = entry_for(bot.engine, "谁主持了大会", "王健")
    update = bot.api.text_message(group, user, text)
    reply = only_reply(await bot.send(update))
    _check_compact(bot, reply, update["message"], entry)


async def test_group_answers_a_reply_to_the_bot(bot: Harness) -> None:
    user, group = bot.user(), bot.group()
    first = only_reply(await bot.say(user, "/ask 谁主持了大会", chat=group))
    entry = entry_for(bot.engine, "谁作了重要讲话", "陈晓")
    update = bot.api.text_message(group, user, "谁作了重要讲话", reply_to=first.result)
    reply = only_reply(await bot.send(update))
    _check_compact(bot, reply, update["message"], entry)


async def test_group_text_mention_of_the_bot(bot: Harness) -> None:
    user, group = bot.user(), bot.group()
    text = "会议问答 谁主持了大会"
    entities = [{"type": "text_mention", "offset": 0, "length": 4, "user": bot.api.bot}]
    update = bot.api.text_message(group, user, text, entities=entities)
    assert "王健" in shown(only_reply(await bot.send(update)))


async def test_group_repeat_points_to_the_earlier_answer(bot: Harness) -> None:
    user, group = bot.user(), bot.group()
    asker = bot.user("小张")
    now = [1000.0]
    services = bot.services
    saved = services.clock
    services.clock = lambda: now[0]
    try:
        first = only_reply(await bot.say(user, "/ask 谁主持了大会", chat=group))
        now[0] += 120
        second = only_reply(await bot.say(asker, f"@{BOTNAME} 谁主持了大会", chat=group))
        now[0] += 200  # more than five minutes after the first answer
        third = only_reply(await bot.say(asker, "/ask 谁主持了大会", chat=group))
    finally:
        services.clock = saved
    assert second.params["reply_parameters"]["message_id"] == first.result["message_id"]
    assert f'href="tg://user?id={asker["id"]}"' in second.params["text"]
    assert "2 分钟前" in shown(second)
    assert "<blockquote" not in second.params["text"]
    assert "<blockquote" in third.params["text"]


async def test_group_repeat_is_per_forum_topic(bot: Harness) -> None:
    user, group = bot.user(), bot.group(forum=True)
    first = only_reply(await bot.say(user, "/ask 谁主持了大会", chat=group, thread=7))
    other = only_reply(await bot.say(user, "/ask 谁主持了大会", chat=group, thread=9))
    assert first.params["message_thread_id"] == 7 and other.params["message_thread_id"] == 9
    assert "<blockquote" in other.params["text"]


async def test_group_repeat_survives_a_deleted_answer(bot: Harness) -> None:
    user, group = bot.user(), bot.group(supergroup=False)
    first = only_reply(await bot.say(user, "/ask 谁主持了大会", chat=group))
    bot.api.delete_message(group["id"], first.result["message_id"])
    # the pointer to a deleted answer is sent without its reply (not refused)
    second = only_reply(await bot.say(user, "/ask 谁主持了大会", chat=group))
    assert second.params["reply_parameters"]["allow_sending_without_reply"] is True
    assert "reply_to_message" not in second.result


async def test_group_ask_without_question(bot: Harness) -> None:
    user, group = bot.user(), bot.group()
    reply = only_reply(await bot.say(user, "/ask", chat=group))
    assert "/ask" in shown(reply) and f"@{BOTNAME}" in shown(reply)
    reply = only_reply(await bot.say(user, f"@{BOTNAME}", chat=group))
    assert f"@{BOTNAME}" in shown(reply)


async def test_group_clarify_choice_is_answered_in_the_group(bot: Harness) -> None:
    user, group = bot.user(), bot.group()
    question = _clarifying_question(bot.engine)
    reply = only_reply(await bot.say(user, f"/ask {question}", chat=group))
    assert shown(reply) == messages.CLARIFY
    choice = data_of(reply)[0]
    calls = await bot.press(user, reply.result, choice)
    answer = only_reply(calls)
    assert answer.params["chat_id"] == group["id"]
    assert answer.params["reply_parameters"]["message_id"] == reply.result["message_id"]
    assert buttons(answer)[0]["url"].endswith(f"start=q_{choice[2:]}")


async def test_group_not_covered_and_chitchat(bot: Harness) -> None:
    user, group = bot.user(), bot.group()
    reply = only_reply(await bot.say(user, "/ask 明天杭州的天气怎么样", chat=group))
    assert shown(reply).startswith(messages.NONE)
    reply = only_reply(await bot.say(user, f"@{BOTNAME} 你好", chat=group))
    assert "reply_markup" not in reply.params


@pytest.mark.parametrize(
    ("command", "payload"),
    [("help", "start"), ("start", "start"), ("topics", "topics"), ("source", "source")],
)
async def test_group_commands_point_to_the_private_chat(
    bot: Harness, command: str, payload: str
) -> None:
    user, group = bot.user(), bot.group()
    reply = only_reply(await bot.say(user, f"/{command}@{BOTNAME}", chat=group))
    assert buttons(reply)[0]["url"] == f"https://t.me/{BOTNAME}?start={payload}"


async def test_added_to_a_group_introduces_itself(bot: Harness) -> None:
    user, group = bot.user(), bot.group()
    change = {
        "chat": group,
        "from": user,
        "date": 0,
        "old_chat_member": {"status": "left", "user": bot.api.bot},
        "new_chat_member": {"status": "member", "user": bot.api.bot},
    }
    reply = only_reply(await bot.send({"my_chat_member": change}))
    assert f"@{BOTNAME}" in shown(reply) and "/ask" in shown(reply)
    removed = dict(
        change,
        old_chat_member=change["new_chat_member"],
        new_chat_member={"status": "left", "user": bot.api.bot},
    )
    assert sent(await bot.send({"my_chat_member": removed})) == []


# ----- inline mode --------------------------------------------------------------------------------


async def test_inline_empty_query_shows_examples(bot: Harness) -> None:
    user = bot.user()
    calls = await bot.send(bot.api.inline_query(user, ""))
    (call,) = calls
    results = call.params["results"]
    catalog = bot.services.catalog(bot.engine)
    assert [r["id"] for r in results] == [e.id for e in catalog.showcase]
    assert 1 <= len(results) <= 10
    assert call.params["cache_time"] == 60
    assert call.params["button"]["start_parameter"] == "inline"


async def test_inline_question_returns_the_answer_first(bot: Harness) -> None:
    user = bot.user()
    entry = entry_for(bot.engine, "谁主持了大会", "王健")
    (call,) = await bot.send(bot.api.inline_query(user, "谁主持了大会"))
    results = call.params["results"]
    assert 1 <= len(results) <= 10
    first = results[0]
    assert first["id"] == entry.id and first["title"] == entry.question
    assert first["description"] == entry.answer
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML" and "<blockquote" in content["message_text"]
    assert "王健" in parse_html(content["message_text"])
    assert first["reply_markup"]["inline_keyboard"][0][0]["url"].endswith(f"start=q_{entry.id}")
    assert len({r["id"] for r in results}) == len(results)


async def test_inline_nothing_found(bot: Harness) -> None:
    user = bot.user()
    (call,) = await bot.send(bot.api.inline_query(user, "明天杭州的天气怎么样"))
    assert call.params["results"] == []
    assert call.params["button"]["text"] == messages.INLINE_NOTHING_FOUND


# ----- callbacks ----------------------------------------------------------------------------------


async def test_feedback_is_thanked_and_its_buttons_removed(bot: Harness) -> None:
    user = bot.user()
    entry = entry_for(bot.engine, "谁主持了大会", "王健")
    reply = only_reply(await bot.say(user, "谁主持了大会"))

    async def votes() -> tuple[int, int]:
        found = [v for v in (await bot.services.store.stats()).feedback if v.entry == entry.id]
        return (found[0].up, found[0].down) if found else (0, 0)

    up, down = await votes()
    calls = await bot.press(user, reply.result, f"fb:{entry.id}:up")
    assert answered_with(calls) == [messages.FEEDBACK_THANKS]
    edit = next(c for c in calls if c.method == "editMessageReplyMarkup")
    kept = [
        b["callback_data"] for row in edit.params["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert kept and not any(d.startswith("fb:") for d in kept)
    assert await votes() == (up + 1, down)  # recorded in the store
    # a second press (a stale copy of the message) is answered, and nothing is edited
    calls = await bot.send(bot.api.callback(user, reply.result, f"fb:{entry.id}:down"))
    assert answered_with(calls) == [messages.FEEDBACK_DOWN_THANKS]
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert await votes() == (up, down + 1)  # one vote per user: the later one counts


@pytest.mark.parametrize(
    "data",
    [
        "zzz",
        "q:",
        "q:no-such-entry",
        "q:" + "x" * 62,
        "q:CHAIR",
        "fb:no-such-entry:up",
        "fb:chair:sideways",
        "tl:99",
        "tl:-1",
        "t:999:0",
        "t:0:999",
        "a:7",
        "a:x",
        "nq:extra",
        "",
        None,
    ],
)
async def test_forged_or_stale_callback_data_get_a_note(bot: Harness, data: str | None) -> None:
    user = bot.user()
    reply = only_reply(await bot.say(user, "谁主持了大会"))
    calls = await bot.press(user, reply.result, data)
    assert calls[0].method == "answerCallbackQuery"
    assert answered_with(calls)[0] in (
        messages.BUTTON_EXPIRED,
        messages.ENTRY_GONE,
        messages.ARTICLE_GONE,
    )
    assert sent(calls) == []


async def test_callback_without_a_message(bot: Harness) -> None:
    user = bot.user()
    entry = entry_for(bot.engine, "谁主持了大会", "王健")
    for data in (f"q:{entry.id}", "tl:0", "a:0", f"fb:{entry.id}:up", "nq"):
        calls = await bot.send(bot.api.callback(user, None, data))
        assert calls[0].method == "answerCallbackQuery"
        assert sent(calls) == []


async def test_callback_on_an_old_inaccessible_message(bot: Harness) -> None:
    user = bot.user()
    chat = private_chat(user)
    entry = entry_for(bot.engine, "谁主持了大会", "王健")
    old = {"chat": chat, "message_id": 1, "date": 0}  # Telegram sends date 0 for these
    calls = await bot.send(bot.api.callback(user, old, f"q:{entry.id}"))
    assert entry.answer in shown(only_reply(calls))
    calls = await bot.send(bot.api.callback(user, old, "tl:0"))
    assert sent(calls)  # a new message instead of an edit


# ----- errors ----------------------------------------------------------------------------------


class _BrokenLibrary(Library):
    @property
    def engine(self) -> Engine:
        raise RuntimeError("boom <&>")


async def test_errors_apologise_and_tell_admins(bot: Harness, segmenter: Segmenter) -> None:
    user = bot.user()
    services, saved = bot.services, bot.services.library
    services.library = _BrokenLibrary(KNOWLEDGE, segmenter)
    try:
        calls = await bot.say(user, "谁主持了大会")
    finally:
        services.library = saved
    by_chat = {c.params["chat_id"]: shown(c) for c in sent(calls)}
    assert by_chat[user["id"]] == messages.SORRY
    assert "RuntimeError: boom <&>" in by_chat[ADMIN_ID]
