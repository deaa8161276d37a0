"""Hostile input: any text, any update, a flood. Never a crash, never a request the Bot API
refuses (400), never user text echoed unescaped; floods answered within the limits.

The bot runs for real against the fake Bot API (which refuses what Telegram refuses).
Property tests draw texts with hypothesis (a bounded number of examples each); the flood
test sends a few hundred messages from dozens of users and groups at once.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import messages
from bot.flood import GROUP_PER_MINUTE, USER_PER_MINUTE
from bot.normalise import normalise
from bot.render import render_answer_html
from bot.segment import Segmenter
from bot.store import STORED_TEXT_CHARS, Store
from tests.conftest import refusals_checked
from tests.fake_bot_api import (
    BOT_USERNAME,
    Call,
    FakeBotApi,
    make_user,
    parse_html,
    private_chat,
    utf16_len,
)
from tests.running_bot import RunningBot, start_bot

ADMIN_ID = 900004
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    database=None,
    # the module's bot is shared on purpose; the autouse check runs once per test
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

# pieces that break naive code: markup of every kind, SQL, invisible and reordering
# characters, emoji sequences, other scripts, our own callback data and commands
FRAGMENTS = [
    "<b>",
    "</b>",
    "<a href='javascript:alert(1)'>",
    "</blockquote>",
    "<tg-spoiler>",
    "&",
    "&amp;",
    "&#0;",
    "&lt;",
    ">",
    '"',
    "'",
    "*bold*",
    "_it_",
    "`code`",
    "```pre```",
    "[link](tg://user?id=1)",
    "||spoiler||",
    "\\",
    "'; DROP TABLE questions; --",
    "1 OR 1=1",
    "%s%d{0}{}",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u202e",
    "\u2066",
    "\u200f",
    "\x00",
    "\x1b[31m",
    "\n",
    "\t",
    "😀",
    "👨‍👩‍👧‍👦",
    "👍🏽",
    "🇨🇳",
    "مرحبا",
    "Привет",
    "こんにちは",
    "한국어",
    "עברית",
    "谁主持了大会",
    "會議",
    "ｆｕｌｌｗｉｄｔｈ",
    "@meeting_qa_test_bot",
    "@someone_else",
    "/start",
    "/ask@other_bot",
    "q:chair",
    "fb:x:up",
    " ",
]
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # Telegram never sends lone surrogates
TEXT = st.characters(blacklist_categories=SURROGATES)
hostile_text = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map("".join),
    st.text(TEXT, min_size=1, max_size=200),
    st.text(TEXT, min_size=3900, max_size=4096),
).map(lambda t: t[:4096])


@pytest.fixture(scope="module")
def bot(
    api: FakeBotApi, segmenter: Segmenter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBot]:
    with start_bot(api, segmenter, tmp_path_factory, ADMIN_ID) as running:
        yield running


@pytest.fixture(autouse=True)
def nothing_refused(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test: no request the Bot API refused, no callback query left unanswered."""
    with refusals_checked(request, callbacks=True):
        yield


def refused(calls: list[Call]) -> list[tuple[str, str]]:
    return [(c.method, c.description) for c in calls if not c.ok and c.fault is None]


def sent(calls: list[Call], chat_id: int | None = None) -> list[Call]:
    return [
        c
        for c in calls
        if c.method == "sendMessage" and c.ok and chat_id in (None, c.params["chat_id"])
    ]


def check_replies(calls: list[Call], text: str) -> None:
    """Nothing refused, every reply within the limit, the user's markup never echoed raw."""
    assert refused(calls) == []
    for call in sent(calls):
        html = call.params["text"]
        assert utf16_len(parse_html(html)) <= 4096
        # (long enough not to occur in the bot's own HTML by chance)
        if re.search(r"[<>&]", text) and len(text) >= 8:
            assert text not in html, "user text echoed unescaped"


# ----- any text ----------------------------------------------------------------------------------


@EXAMPLES
@given(text=hostile_text)
def test_any_text_in_private_gets_a_valid_reply(bot: RunningBot, text: str) -> None:
    user = bot.user()
    calls = bot.say(user, text)
    assert sent(calls, user["id"]), "no reply"
    check_replies(calls, text)


@settings(EXAMPLES, max_examples=12)
@given(text=hostile_text)
def test_any_text_in_a_group_is_safe(bot: RunningBot, text: str) -> None:
    user, group = bot.user(), bot.group()
    for asked in (f"/ask {text}", f"@{BOT_USERNAME} {text}", text):
        calls = bot.say(user, asked[:4096], chat=group)
        check_replies(calls, text)
        assert len(sent(calls)) <= 1  # one compact reply, or silence


@EXAMPLES
@given(text=hostile_text)
def test_any_inline_query_is_answered(bot: RunningBot, text: str) -> None:
    calls = bot.send(bot.api.inline_query(bot.user(), text[:256]))
    assert [(c.method, c.ok) for c in calls] == [("answerInlineQuery", True)]


@settings(EXAMPLES, max_examples=15)
@given(data=st.text(TEXT, max_size=64).filter(lambda d: 0 < len(d.encode()) <= 64))
def test_any_callback_data_is_answered_once(bot: RunningBot, data: str) -> None:
    """Forged or stale button data: answered (once: a second answer would be refused)."""
    user = bot.user()
    (reply,) = sent(bot.say(user, "谁主持了大会"), user["id"])
    message = bot.api.message(user["id"], reply.result["message_id"])
    calls = bot.send(bot.api.callback(user, message, data))
    assert calls[0].method == "answerCallbackQuery"
    assert refused(calls) == []


# ----- any update ------------------------------------------------------------------------------


def _message(chat: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"message_id": 1, "date": int(time.time()), "chat": chat, **fields}


def test_updates_that_get_no_reply(bot: RunningBot) -> None:
    user, group = bot.user(), bot.group()
    other_bot = make_user(777777, "另一个机器人", is_bot=True, username="other_bot")
    mention = f"@{BOT_USERNAME} 谁主持了大会"
    channel = {"id": -1009999999999, "type": "channel", "title": "频道"}
    forward = {"type": "user", "date": 0, "sender_user": make_user(4242, "别人")}
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
    for update in [
        {"channel_post": _message(channel, text=mention, sender_chat=channel)},
        {"edited_channel_post": {**_message(channel, text=mention), "edit_date": 1}},
        bot.api.text_message(group, other_bot, mention),
        bot.api.text_message(private_chat(user), other_bot, "谁主持了大会"),
        bot.api.text_message(group, user, mention, extra={"forward_origin": forward}),
        bot.api.text_message(group, user, "/ask 谁主持了大会", extra={"forward_origin": forward}),
        {"message": _message(group, **{"from": user}, new_chat_members=[make_user(4343)])},
        {"message": _message(group, **{"from": user}, left_chat_member=make_user(4343))},
        {"message": _message(group, **{"from": user}, new_chat_title="新群名")},
        {"message": _message(group, **{"from": user}, photo=photo, caption=mention)},
        {
            "message": _message(
                private_chat(user),
                **{"from": user},
                pinned_message=_message(private_chat(user), text="旧消息", date=0),
            )
        },
        {
            "my_chat_member": {
                "chat": channel,
                "from": user,
                "date": int(time.time()),
                "old_chat_member": {"status": "left", "user": bot.api.bot},
                "new_chat_member": {
                    "status": "administrator",
                    "user": bot.api.bot,
                    **dict.fromkeys(
                        [
                            "can_be_edited",
                            "is_anonymous",
                            "can_manage_chat",
                            "can_delete_messages",
                            "can_manage_video_chats",
                            "can_restrict_members",
                            "can_promote_members",
                            "can_change_info",
                            "can_invite_users",
                            "can_post_stories",
                            "can_edit_stories",
                            "can_delete_stories",
                        ],
                        False,
                    ),
                },
            }
        },
    ]:
        calls = bot.send(update)
        assert [c.method for c in calls] == [], update


def test_updates_that_do_get_a_reply(bot: RunningBot) -> None:
    user, group = bot.user(), bot.group()
    anonymous_admin = make_user(1087968824, "Group", is_bot=True, username="GroupAnonymousBot")
    forward = {"type": "user", "date": 0, "sender_user": make_user(4242, "别人")}
    mention = f"@{BOT_USERNAME} 谁主持了大会"
    # an anonymous admin posts as a bot, with the group as sender chat: a person
    calls = bot.say(anonymous_admin, mention, chat=group, extra={"sender_chat": group})
    assert len(sent(calls, group["id"])) == 1
    # a forward in private is a question put to the bot
    calls = bot.say(user, "谁主持了大会", extra={"forward_origin": forward})
    assert "王健" in parse_html(sent(calls, user["id"])[0].params["text"])
    # an inline query of Telegram's full 256 characters
    calls = bot.send(bot.api.inline_query(user, "谁主持了大会" * 42 + "大会会议"))
    assert [(c.method, c.ok) for c in calls] == [("answerInlineQuery", True)]


def test_hostile_questions_reach_the_admin_escaped(bot: RunningBot) -> None:
    hostile = "<script>探针甲乙丙丁</script> & '; DROP TABLE questions; --"
    for _ in range(4):  # the most frequent unanswered question, so it is listed
        bot.say(bot.user(), hostile)
    calls = bot.say(make_user(ADMIN_ID, "管理员"), "/unanswered")
    listed = [c for c in sent(calls, ADMIN_ID) if "探针甲乙丙丁" in c.params["text"]]
    assert listed and "&lt;script&gt;" in listed[0].params["text"]
    assert "<script>" not in listed[0].params["text"]


def test_stored_text_is_capped(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.sqlite3")
    store.record_question(chat_type="private", user_id=1, text="谁" * 4096, kind="none")
    store.record_admin_action(admin_id=1, action="teach", detail="x" * 4096)
    (group,) = store.unanswered()
    assert len(group.example) == STORED_TEXT_CHARS
    assert len(store.recent_admin_actions()[0][3]) == STORED_TEXT_CHARS
    store.close()


# ----- a flood -----------------------------------------------------------------------------------

NOT_COVERED = "明天杭州的天气怎么样"  # one message in reply, always


def messages_for(bot: RunningBot, text: str) -> int:
    """How many messages the private reply to `text` takes (a long answer takes several)."""
    if not normalise(text):
        return 1
    engine = bot.services.engine
    answer = engine.ask(text)
    if answer.kind == "answer" and answer.entry is not None:
        return len(render_answer_html(answer.entry, engine.knowledge))
    return 1


def test_a_flood_is_answered_within_the_limits(bot: RunningBot) -> None:
    """Hundreds of messages at once, real and hostile, from dozens of users and groups: the
    bot stays up, every question within its sender's limit is answered exactly once, the
    senders over it are told once, nothing is refused."""
    rng = random.Random(5)
    services = bot.services
    saved_clock = services.clock
    services.clock = lambda: 50_000.0  # the burst happens in an instant: no refill
    real = [e.question for e in services.engine.knowledge.facts]
    hostile = [f for f in FRAGMENTS if len(f) > 1] + ["\u200b", "   ", "😀" * 2048, "A" * 4096]
    members = [make_user(600_000 + n, f"群友{n}") for n in range(10)]
    users = [bot.user() for _ in range(20)]
    flooders = [bot.user() for _ in range(3)]
    groups = [bot.group() for _ in range(2)]
    plan: list[tuple[dict[str, Any], dict[str, Any], str]] = []  # chat, sender, text
    for user in users:
        for _ in range(4):
            text = rng.choice(real) if rng.random() < 0.6 else rng.choice(hostile)
            plan.append((private_chat(user), user, text))
    for user in flooders:
        plan += [(private_chat(user), user, NOT_COVERED)] * (USER_PER_MINUTE * 2)
    for group in groups:
        for _ in range(GROUP_PER_MINUTE + 5):
            plan.append((group, rng.choice(members), f"/ask {rng.choice(real)}"))
        for _ in range(30):  # chatter, not for the bot: costs nothing, gets nothing
            plan.append((group, rng.choice(members), rng.choice(real)))
    rng.shuffle(plan)

    started = time.monotonic()
    try:
        ids = [bot.push(bot.api.text_message(chat, user, text)) for chat, user, text in plan]
        bot.wait_handled(ids, timeout=60)
    finally:
        services.clock = saved_clock
    took = time.monotonic() - started

    calls = list(bot.api.calls)
    assert refused(calls) == []
    for user in users:
        expected = sum(messages_for(bot, t) for c, u, t in plan if u is user)
        assert len(sent(calls, user["id"])) == expected, user
    for user in flooders:
        replies = [parse_html(c.params["text"]) for c in sent(calls, user["id"])]
        assert len(replies) == USER_PER_MINUTE + 1 and replies.count(messages.SLOW_DOWN) == 1
    for group in groups:
        replies = [parse_html(c.params["text"]) for c in sent(calls, group["id"])]
        assert len(replies) == GROUP_PER_MINUTE + 1
        assert replies.count(messages.GROUP_SLOW_DOWN) == 1
    # the bot is still up and answering
    user = bot.user()
    assert sent(bot.say(user, "谁主持了大会"), user["id"])
    # Telegram's limits: queued, not exceeded (a bucket of 30 that refills at 30 a second
    # lets at most 60 through in any one second; 10% more for the jitter on the way)
    times = sorted(c.started for c in sent(calls))
    busiest = max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))
    assert busiest <= 66
    print(
        f"\nflood: {len(plan)} messages from {len(users) + len(flooders)} users in private and "
        f"{len(groups)} groups ({len(members)} members) -> {len(times)} replies in {took:.1f} s "
        f"({len(times) / took:.1f}/s, busiest second {busiest}), 0 refused"
    )
