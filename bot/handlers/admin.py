"""Admin tools: /stats, /unanswered with its buttons, /teach, /reload, and the admins' notes
after the knowledge folder changed. Admins are the numeric ids in ADMIN_IDS, nobody else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from telegram import Bot, CallbackQuery, Message, Update, User
from telegram.error import TelegramError

from bot import messages, teach
from bot.handlers import keyboards
from bot.handlers.commands import command_argument
from bot.handlers.context import BotContext, Services
from bot.knowledge import Problem
from bot.library import ReloadResult
from bot.render import Block, escape, pack
from bot.store import Stats, StoreError

ActionT = TypeVar("ActionT", keyboards.TeachVariant, keyboards.IgnoreQuestion)

log = logging.getLogger(__name__)

# at most this many knowledge errors are listed in one report (each a `file:line: what`)
PROBLEMS_SHOWN = 30
# question groups /unanswered shows, and close entries offered for each
UNANSWERED_SHOWN = 8
CLOSEST_SHOWN = 3
TOP_SHOWN = 10


async def _refused(context: BotContext, user: User | None, chat_id: int) -> bool:
    """Tell a non-admin politely that the command is not theirs; True if refused."""
    if context.services.is_admin(user.id if user else None):
        return False
    await context.bot.send_message(chat_id, escape(messages.ADMIN_ONLY))
    return True


async def _record(services: Services, admin: int, action: str, detail: str = "") -> None:
    try:
        await services.store.record_admin_action(admin_id=admin, action=action, detail=detail)
    except StoreError:
        log.exception("could not record the admin action %s", action)


# ----- /stats ------------------------------------------------------------------------------------


async def stats(update: Update, context: BotContext) -> None:
    """Show questions of the last day and week by outcome, top entries and their feedback."""
    message = update.effective_message
    if message is None or await _refused(context, message.from_user, message.chat_id):
        return
    result = await context.services.store.stats()
    for text in stats_texts(result, context.services):
        await context.bot.send_message(message.chat_id, text)


def stats_texts(result: Stats, services: Services) -> list[str]:
    by_id = services.engine.knowledge.by_id
    blocks = [Block(messages.STATS_HEADER, raw=True)]
    for name, period in ((messages.STATS_DAY, result.day), (messages.STATS_WEEK, result.week)):
        blocks.append(
            Block(
                messages.STATS_PERIOD.format(
                    period=name,
                    total=period.total,
                    **{k: f"{period.share(k):.0%}" for k in ("answer", "clarify", "none")},
                    chitchat=f"{period.share('chitchat'):.0%}",
                )
            )
        )
    top = [
        messages.STATS_TOP_LINE.format(
            n=n, entry=entry, question=by_id[entry].question if entry in by_id else "?"
        )
        for entry, n in result.top_entries[:TOP_SHOWN]
    ]
    blocks.append(Block(messages.STATS_TOP, raw=True))
    blocks.append(Block("\n".join(top) or messages.STATS_NONE))
    votes = [
        messages.STATS_FEEDBACK_LINE.format(entry=v.entry, up=v.up, down=v.down)
        for v in result.feedback
    ]
    blocks.append(Block(messages.STATS_FEEDBACK, raw=True))
    blocks.append(Block("\n".join(votes) or messages.STATS_NONE))
    return pack(blocks)


# ----- /unanswered and its buttons --------------------------------------------------------------


async def unanswered(update: Update, context: BotContext) -> None:
    """List the most frequent unanswered questions, each with buttons to teach or ignore it."""
    message = update.effective_message
    if message is None or await _refused(context, message.from_user, message.chat_id):
        return
    services = context.services
    groups = await services.store.unanswered(UNANSWERED_SHOWN)
    if not groups:
        await context.bot.send_message(message.chat_id, escape(messages.UNANSWERED_EMPTY))
        return
    await context.bot.send_message(
        message.chat_id, messages.UNANSWERED_HEADER.format(count=len(groups))
    )
    engine = services.engine
    for group in groups:
        closest = tuple(s.entry for s in engine.rank(group.example) if s.entry.kind == "fact")[
            :CLOSEST_SHOWN
        ]
        lines = [messages.UNANSWERED_GROUP.format(example=group.example, count=group.count)]
        others = [t for t in group.texts if t != group.example][:3]
        if others:
            lines.append(messages.UNANSWERED_ALSO.format(texts="；".join(others)))
        if not closest:
            lines.append(messages.UNANSWERED_NO_CLOSE)
        await context.bot.send_message(
            message.chat_id,
            escape("\n".join(lines)),
            reply_markup=keyboards.unanswered_keyboard(services.board.add(group.example), closest),
        )


async def on_teach_button(update: Update, context: BotContext) -> None:
    """(Button) Add the unanswered question as a variant of the chosen entry, then reload."""
    pressed = await _board_button(update, context, keyboards.TeachVariant)
    if pressed is None:
        return
    query, action, question = pressed
    await query.answer(messages.TEACHING)
    await _drop_buttons(query.message)
    chat_id = query.message.chat.id if query.message else query.from_user.id
    await teach_and_report(context, chat_id, query.from_user.id, action.entry_id, question)


async def on_ignore_button(update: Update, context: BotContext) -> None:
    """(Button) Leave the unanswered question out of /unanswered from now on."""
    pressed = await _board_button(update, context, keyboards.IgnoreQuestion)
    if pressed is None:
        return
    query, _, question = pressed
    services = context.services
    await query.answer(messages.IGNORED)
    await services.store.ignore(question)
    await _record(services, query.from_user.id, "ignore", question)
    await _drop_buttons(query.message)


async def _board_button(
    update: Update, context: BotContext, kind: type[ActionT]
) -> tuple[CallbackQuery, ActionT, str] | None:
    """The press of an /unanswered button by an admin, with the question it stands for; any
    other press is answered here (refused, or expired) and gives None."""
    query = update.callback_query
    if query is None:
        return None
    services = context.services
    if not services.is_admin(query.from_user.id):
        await query.answer(messages.ADMIN_ONLY)
        return None
    action = keyboards.parse(query.data)
    question = services.board.get(action.group) if isinstance(action, kind) else None
    if question is None or query.message is None or not isinstance(action, kind):
        await query.answer(messages.BUTTON_EXPIRED)
        return None
    return query, action, question


async def _drop_buttons(message: object) -> None:
    """Take the teach/ignore buttons off an /unanswered message, so it is not acted on twice."""
    if isinstance(message, Message) and message.is_accessible and message.reply_markup:
        try:
            await message.edit_reply_markup(None)
        except TelegramError as exc:
            log.info("could not remove the buttons: %s", exc)


# ----- /teach ------------------------------------------------------------------------------------


async def teach_command(update: Update, context: BotContext) -> None:
    """Add a question variant to an entry: /teach <entry-id> <question>."""
    message = update.effective_message
    if message is None or await _refused(context, message.from_user, message.chat_id):
        return
    parts = command_argument(message).split(maxsplit=1)
    if len(parts) < 2:
        await context.bot.send_message(message.chat_id, escape(messages.TEACH_USAGE))
        return
    assert message.from_user is not None  # an admin, checked above
    await teach_and_report(context, message.chat_id, message.from_user.id, parts[0], parts[1])


async def teach_and_report(
    context: BotContext, chat_id: int, admin: int, entry_id: str, question: str
) -> None:
    """Write the variant into the entry's YAML file, reload, and tell the admin both results."""
    services = context.services
    result = await asyncio.to_thread(teach.add_variant, services.library.root, entry_id, question)
    await _record(services, admin, "teach", f"{entry_id}: {result.question} ({result.outcome})")
    texts = [escape(result.message)]
    if result.ok:
        reloaded = await asyncio.to_thread(services.library.reload)
        texts = pack(
            [Block(result.message), *reload_blocks(reloaded, services)]
            + (
                [Block(messages.TEACH_ASK_AGAIN.format(question=result.question))]
                if reloaded.ok
                else []
            )
        )
    for text in texts:
        await context.bot.send_message(chat_id, text)


# ----- /reload and the watcher's notes ---------------------------------------------------------


async def reload(update: Update, context: BotContext) -> None:
    """Reload the knowledge files (admins only) and report what changed or what is wrong."""
    message = update.effective_message
    if message is None or await _refused(context, message.from_user, message.chat_id):
        return
    services = context.services
    result = await asyncio.to_thread(services.library.reload)
    assert message.from_user is not None
    log.info("reload by admin %s: ok=%s", message.from_user.id, result.ok)
    await _record(services, message.from_user.id, "reload", "ok" if result.ok else "failed")
    for text in pack(reload_blocks(result, services)):
        await context.bot.send_message(message.chat_id, text)


def reload_blocks(result: ReloadResult, services: Services) -> list[Block]:
    """A reload's outcome: entry counts and changed ids, or every error as `file:line: what`."""
    if not result.ok:
        shown = [_relative(p, services.library.root) for p in result.errors[:PROBLEMS_SHOWN]]
        blocks = [Block(messages.RELOAD_FAILED.format(count=len(result.errors)))]
        blocks += [Block(str(p), "code") for p in shown]
        if len(result.errors) > PROBLEMS_SHOWN:
            more = len(result.errors) - PROBLEMS_SHOWN
            blocks.append(Block(messages.RELOAD_MORE_PROBLEMS.format(count=more)))
        return blocks
    lines = [messages.RELOAD_OK.format(entries=len(services.engine.knowledge.entries))]
    if result.added or result.changed or result.removed:
        lines.append(
            messages.RELOAD_CHANGES.format(
                added=len(result.added), changed=len(result.changed), removed=len(result.removed)
            )
        )
        for template, ids in (
            (messages.RELOAD_ADDED, result.added),
            (messages.RELOAD_CHANGED, result.changed),
            (messages.RELOAD_REMOVED, result.removed),
        ):
            if ids:
                lines.append(template.format(ids=", ".join(ids)))
    if result.uncovered:
        lines.append(messages.RELOAD_UNCOVERED.format(count=result.uncovered))
    warnings = len(result.problems) - len(result.errors)
    if warnings:
        lines.append(messages.RELOAD_WARNINGS.format(count=warnings))
    return [Block("\n".join(lines))]


def _relative(problem: Problem, root: Path) -> Problem:
    """The problem with its file named from the knowledge folder, as the admin edits it."""
    try:
        return dataclasses.replace(problem, file=problem.file.resolve().relative_to(root.resolve()))
    except ValueError:
        return problem


async def reload_after_change(bot: Bot, services: Services, paths: Iterable[Path]) -> None:
    """What the watcher does after a burst of edits: reload, and tell the admins about it.

    A reload that changed nothing (say, /teach already reloaded) is not worth a message,
    unless it follows a failed one: then the admins learn that the files are good again.
    """
    result = await asyncio.to_thread(services.library.reload)
    log.info("reload after a change of %d file(s): ok=%s", len(set(paths)), result.ok)
    was_broken, services.knowledge_broken = services.knowledge_broken, not result.ok
    if result.ok and not (result.added or result.changed or result.removed or was_broken):
        return
    texts = pack([Block(messages.WATCH_CHANGED), *reload_blocks(result, services)])
    await notify_admins(bot, services, texts)


async def notify_admins(bot: Bot, services: Services, texts: list[str]) -> None:
    """Send every admin the texts in private; an admin who never opened the bot is skipped."""
    for admin in sorted(services.settings.admin_ids):
        try:
            for text in texts:
                await bot.send_message(admin, text)
        except TelegramError as exc:
            log.warning("could not tell admin %s about the reload: %s", admin, exc)
