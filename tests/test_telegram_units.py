"""The Telegram side without a server: HTML rendering and splitting, callback data, messages,
and the consistency of commands with /help and the docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from telegram.ext import CommandHandler

from bot import messages
from bot.app import file_url, handlers, webhook_secret
from bot.config import Settings
from bot.handlers import keyboards
from bot.match import Engine
from bot.render import (
    TELEGRAM_LIMIT,
    Block,
    escape,
    pack,
    render_answer_html,
    render_article_html,
    render_compact_html,
    telegram_len,
)
from tests.fake_bot_api import BOT_USERNAME, parse_html, utf16_len

ROOT = Path(__file__).resolve().parent.parent


def test_every_command_is_in_help_and_docs() -> None:
    registered = {
        name
        for handler in handlers()
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }
    assert registered == {
        "start",
        "help",
        "topics",
        "source",
        "ask",
        "reload",
        "stats",
        "unanswered",
        "teach",
    }
    help_text = messages.HELP + messages.HELP_ADMIN
    docs = (ROOT / "docs" / "telegram.md").read_text(encoding="utf-8")
    for name in registered:
        assert f"/{name}" in help_text, name
        assert f"/{name}" in docs, name


def test_every_message_is_valid_telegram_html() -> None:
    values = {
        "bot": "会议问答",
        "username": BOT_USERNAME,
        "articles": "《报道》",
        "page": 1,
        "pages": 2,
        "topic": "话题",
        "title": "标题",
        "publisher": "发布",
        "date": "日期",
        "paragraphs": 3,
        "chars": 100,
        "n": 1,
        "who": "",
        "ago": "刚刚",
        "minutes": 2,
        "entries": 5,
        "added": 1,
        "changed": 1,
        "removed": 1,
        "count": 1,
        "error": "x",
        "text": "段落",
        "ids": "chair, venue",
        "period": "最近一天",
        "total": 3,
        "answer": "50%",
        "clarify": "10%",
        "none": "40%",
        "chitchat": "0%",
        "entry": "chair",
        "question": "谁主持了大会",
        "up": 1,
        "down": 0,
        "example": "问题",
        "texts": "问法",
    }
    for name in dir(messages):
        value = getattr(messages, name)
        if name.isupper() and isinstance(value, str):
            assert parse_html(value.format(**values)).strip(), name


def test_callback_data_of_every_entry_fits(engine: Engine) -> None:
    for entry in engine.knowledge.entries:
        markup = keyboards.answer_keyboard(entry, ())
        for row in markup.inline_keyboard:
            for button in row:
                assert isinstance(button.callback_data, str)
                assert len(button.callback_data.encode()) <= keyboards.MAX_CALLBACK_BYTES
                assert keyboards.parse(button.callback_data) is not None
        assert keyboards.entry_from_payload(keyboards.entry_payload(entry)) == entry.id


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("q:chair", keyboards.Ask("chair")),
        ("fb:chair:down", keyboards.Feedback("chair", "down")),
        ("nq", keyboards.NoneOfThese()),
        ("tl:3", keyboards.TopicList(3)),
        ("t:2:1", keyboards.TopicQuestions(2, 1)),
        ("a:0", keyboards.FullText(0)),
        ("q:Chair", None),
        ("q:a b", None),
        ("tl:01", None),
        ("t:1", None),
        ("fb:chair:meh", None),
        ("q:" + "a" * 25, None),
        (None, None),
        ("", None),
    ],
)
def test_callback_data_parse(data: str | None, expected: object) -> None:
    assert keyboards.parse(data) == expected


def test_answers_render_as_valid_html_within_the_limit(engine: Engine) -> None:
    for entry in engine.knowledge.facts:
        for text in [
            *render_answer_html(entry, engine.knowledge),
            render_compact_html(entry, engine.knowledge),
        ]:
            assert utf16_len(parse_html(text)) <= TELEGRAM_LIMIT
            assert telegram_len(text) <= TELEGRAM_LIMIT


def test_pack_breaks_between_blocks_and_escapes() -> None:
    blocks = [Block(f"第{n}段<&>" + "字" * 900) for n in range(10)]
    parts = pack(blocks)
    assert len(parts) == 3
    for part in parts:
        assert telegram_len(part) <= TELEGRAM_LIMIT
        assert part.startswith("第") and "&lt;&amp;&gt;" in part
    assert "".join(parse_html(p).replace("\n\n", "") for p in parts) == "".join(
        b.text for b in blocks
    )


def test_pack_cuts_an_oversized_block_at_sentence_ends() -> None:
    text = "。".join("句" * 100 for _ in range(60)) + "。"
    parts = pack([Block(text, "blockquote expandable")])
    assert len(parts) >= 2
    for part in parts:
        assert telegram_len(part) <= TELEGRAM_LIMIT
        body = parse_html(part)
        assert body.endswith("。")
        assert part.startswith("<blockquote expandable>") and part.endswith("</blockquote>")


def test_pack_cuts_an_unbreakable_block_anywhere() -> None:
    parts = pack([Block("&" * 10000, "b")])
    assert all(telegram_len(p) <= TELEGRAM_LIMIT for p in parts)
    assert "".join(parse_html(p) for p in parts) == "&" * 10000


def test_article_html_numbers_paragraphs(engine: Engine) -> None:
    for article in engine.knowledge.articles.values():
        parts = render_article_html(article)
        text = parse_html("\n\n".join(parts))
        for number, paragraph in enumerate(article.paragraphs, 1):
            if paragraph.strip():
                assert f"〔{number}〕{paragraph.strip()}" in text


def test_escape_quotes_everything_telegram_parses() -> None:
    assert parse_html(escape('<a href="x">&amp;\'')) == '<a href="x">&amp;\''


def test_file_url_for_a_self_hosted_server() -> None:
    assert file_url("http://localhost:8081/bot") == "http://localhost:8081/file/bot"
    assert file_url("http://h/api/bot{token}/x") == "http://h/api/file/bot{token}/x"


def test_webhook_secret_is_stable_and_allowed() -> None:
    settings = Settings(token="1:abc")
    secret = webhook_secret(settings)
    assert secret == webhook_secret(settings) and secret.isalnum() and "abc" not in secret
    assert webhook_secret(Settings(token="1:abc", webhook_secret="s3cret")) == "s3cret"


def test_compact_answer_shortens_a_passage_longer_than_a_message(engine: Engine) -> None:
    from dataclasses import replace

    entry = engine.knowledge.facts[0]
    long_passage = replace(entry.passages[0], text="作风<&>" * 2000)
    long_entry = replace(entry, passages=(long_passage,))
    text = render_compact_html(long_entry, engine.knowledge)
    assert telegram_len(text) <= TELEGRAM_LIMIT
    shown = parse_html(text)
    assert shown.startswith(entry.answer) and "…" in shown and "作风<&>" in shown
    assert len(render_answer_html(long_entry, engine.knowledge)) >= 3
