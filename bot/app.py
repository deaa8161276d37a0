"""The composition root: builds the PTB Application, its services and every handler, and runs it.

Nothing happens at import time; `python -m bot` calls `run_bot` when TELEGRAM_BOT_TOKEN is set.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import Settings, webhook_secret
from bot.delivery import Delivery, PollingRequest
from bot.handlers import admin, callbacks, commands, errors, gate, group, inline, private
from bot.handlers.context import BotContext, BotData, ChatData, QaApplication, Services
from bot.knowledge import KnowledgeError
from bot.library import Library
from bot.logs import quiet_http_logs
from bot.segment import Segmenter, default_cache_dir
from bot.store import AsyncStore
from bot.watch import watch

log = logging.getLogger(__name__)

# the update types the bot handles; Telegram does not send the others at all
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
    Update.MY_CHAT_MEMBER,
]


# how long shutdown waits for the knowledge watcher to notice it should stop
WATCHER_STOP_SECONDS = 5.0

# updates handled at once; answers take milliseconds, the waits are Telegram's flood limits
CONCURRENT_UPDATES = 16

# the handler group of the gate (bot/handlers/gate.py): lower groups run first, so every
# update passes it before any handler of group 0, and it can stop the update there
GATE_GROUP = -1

# the signals that stop the bot cleanly (bot/delivery.py gives its waits a grace period)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def handlers() -> list[BaseHandler[Any, BotContext, Any]]:
    """Every handler, in the order PTB tries them (all in group 0: the first match wins)."""
    private_chat = filters.ChatType.PRIVATE
    # a forward in a group was written for someone else: it never addresses the bot
    groups = filters.ChatType.GROUPS & ~filters.FORWARDED
    # new messages only: an edited question is not asked again
    new = filters.UpdateType.MESSAGE
    return [
        # commands come before text, so that a command is never taken as a question;
        # CommandHandler already ignores /cmd@some_other_bot
        CommandHandler("start", commands.start, private_chat & new),
        CommandHandler("help", commands.help_private, private_chat & new),
        CommandHandler("topics", commands.topics, private_chat & new),
        CommandHandler("source", commands.source, private_chat & new),
        CommandHandler("ask", commands.ask_private, private_chat & new),
        # admin commands: registered for everyone so that others get a polite refusal
        # (bot/handlers/admin.py checks ADMIN_IDS); in the menu of admins only
        CommandHandler("reload", admin.reload, private_chat & new),
        CommandHandler("stats", admin.stats, private_chat & new),
        CommandHandler("unanswered", admin.unanswered, private_chat & new),
        CommandHandler("teach", admin.teach_command, private_chat & new),
        CommandHandler("ask", commands.ask_group, groups & new),
        CommandHandler(["start", "help"], commands.help_group, groups & new),
        CommandHandler(["topics", "source"], commands.browse_group, groups & new),
        # private chats: any other text is a question; any other command is unknown
        MessageHandler(private_chat & new & filters.TEXT & ~filters.COMMAND, private.on_text),
        MessageHandler(private_chat & new & filters.COMMAND, commands.unknown),
        MessageHandler(
            private_chat & new & ~filters.TEXT & ~filters.StatusUpdate.ALL, private.on_media
        ),
        # groups: text is answered only when it addresses the bot (group.addressed)
        MessageHandler(groups & new & filters.TEXT & ~filters.COMMAND, group.on_text),
        ChatMemberHandler(group.on_added, ChatMemberHandler.MY_CHAT_MEMBER),
        InlineQueryHandler(inline.on_query),
        # buttons, by callback-data prefix (bot/handlers/keyboards.py); the last one catches
        # everything else (forged data, games), so that every query is answered
        CallbackQueryHandler(callbacks.on_ask, pattern=r"^q:"),
        CallbackQueryHandler(callbacks.on_feedback, pattern=r"^fb:"),
        CallbackQueryHandler(callbacks.on_none_of_these, pattern=r"^nq$"),
        CallbackQueryHandler(callbacks.on_topics, pattern=r"^tl?:"),
        CallbackQueryHandler(callbacks.on_full_text, pattern=r"^a:"),
        CallbackQueryHandler(admin.on_teach_button, pattern=r"^ut:"),
        CallbackQueryHandler(admin.on_ignore_button, pattern=r"^ui:"),
        CallbackQueryHandler(callbacks.on_unknown),
    ]


def build_application(
    settings: Settings, knowledge_dir: Path, *, segmenter: Segmenter | None = None
) -> QaApplication:
    """The Application with its services bound and every handler registered; not started."""
    if not settings.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    quiet_http_logs()
    segmenter = segmenter or Segmenter(default_cache_dir())
    # the store opens its database on its own thread, in post_init
    store = AsyncStore(settings.db_path, retention_days=settings.log_retention_days)
    index_dir = segmenter.cache_dir / "index" if segmenter.cache_dir is not None else None
    library = Library(knowledge_dir, segmenter, index_dir)
    services = Services(settings, library, segmenter, store)
    timeout = settings.request_timeout
    builder = (
        Application.builder()
        .token(settings.token)
        .context_types(ContextTypes(context=BotContext, chat_data=ChatData, bot_data=BotData))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        # Telegram's flood limits (queued, not dropped) and the retry policy: bot/delivery.py
        .rate_limiter(Delivery())
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout)
        # getUpdates backs off by itself, in a way a stop cuts short
        .get_updates_request(PollingRequest(timeout))
        # a chat held up by its flood limit must not hold up every other chat
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if settings.base_url:
        builder = builder.base_url(settings.base_url).base_file_url(file_url(settings.base_url))
    application: QaApplication = builder.build()
    application.bot_data.bind(services)
    application.add_handler(TypeHandler(Update, gate.check), group=GATE_GROUP)
    application.add_handlers(handlers())
    application.add_error_handler(errors.on_error)
    return application


async def post_init(application: QaApplication) -> None:
    """Warm everything before the first update: jieba's dictionary, the knowledge, the menus."""
    services = application.bot_data.services
    await asyncio.to_thread(services.segmenter.warm_up)
    result = await asyncio.to_thread(services.library.reload)
    if not result.ok:
        raise KnowledgeError(list(result.problems))
    engine = services.engine
    services.catalog(engine)
    log.info(
        "serving %d entries from %d article(s) as @%s",
        len(engine.knowledge.entries),
        len(engine.knowledge.articles),
        application.bot.username,
    )
    await services.store.start()
    await set_command_menus(application, services)
    start_watching(application, services)


def start_watching(application: QaApplication, services: Services) -> None:
    """Reload (and tell the admins) whenever the knowledge folder changes, until shutdown."""
    stop = asyncio.Event()

    async def changed(paths: set[Path]) -> None:
        await admin.reload_after_change(application.bot, services, paths)

    services.watcher_stop = stop
    services.watcher = asyncio.create_task(
        watch(services.library.root, changed, stop=stop), name="knowledge-watcher"
    )


async def post_shutdown(application: QaApplication) -> None:
    """Stop watching the knowledge folder, then commit what the store still holds and close it."""
    services = application.bot_data.services
    if services.watcher is not None and services.watcher_stop is not None:
        services.watcher_stop.set()
        try:
            await asyncio.wait_for(services.watcher, WATCHER_STOP_SECONDS)
        except TimeoutError:
            log.warning("the knowledge watcher did not stop in time")  # wait_for cancelled it
        except Exception:
            log.exception("the knowledge watcher failed")
        services.watcher = None
    await services.store.close()


async def set_command_menus(application: QaApplication, services: Services) -> None:
    """The command menus per scope: private chats, groups, and each admin's own chat."""
    bot = application.bot
    await bot.set_my_commands(commands.PRIVATE_MENU, scope=BotCommandScopeAllPrivateChats())
    await bot.set_my_commands(commands.GROUP_MENU, scope=BotCommandScopeAllGroupChats())
    for admin_id in sorted(services.settings.admin_ids):
        try:
            await bot.set_my_commands(commands.ADMIN_MENU, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:
            # Telegram knows a private chat only once the admin has opened the bot
            log.warning("no admin menu for %s (has the admin started the bot?): %s", admin_id, exc)


def file_url(base_url: str) -> str:
    """A self-hosted Bot API server's file URL: .../bot -> .../file/bot."""
    head, sep, tail = base_url.rpartition("/bot")
    return f"{head}/file/bot{tail}" if sep else base_url


def run_bot(settings: Settings, knowledge_dir: Path) -> int:
    """Run until SIGINT or SIGTERM: then stop taking updates, finish the replies in flight
    (waits get a few seconds' grace), close the store and return 0."""
    application = build_application(settings, knowledge_dir)
    # PTB's own stop signals raise SystemExit in the loop; ours first tell bot/delivery.py to
    # cut its waits short, then ask PTB to stop the same way (Application.stop_running)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, request_stop, application)
    if settings.webhook_url:
        log.info("webhook mode: listening on port %d", settings.port)
        application.run_webhook(
            listen="0.0.0.0",
            port=settings.port,
            url_path=urlsplit(settings.webhook_url).path.strip("/"),
            webhook_url=settings.webhook_url,
            secret_token=webhook_secret(settings),
            allowed_updates=ALLOWED_UPDATES,
            stop_signals=None,
        )
    else:
        log.info("polling for updates")
        application.run_polling(allowed_updates=ALLOWED_UPDATES, stop_signals=None)
    log.info("stopped")
    return 0


def request_stop(application: QaApplication) -> None:
    """(Signal handler) Stop the bot: give the waiting requests a grace period, stop PTB."""
    delivery = application.bot.rate_limiter
    if isinstance(delivery, Delivery):
        delivery.stop_soon()
    if application.running:
        log.info("stopping: finishing the replies in flight")
        application.stop_running()
        return
    # not running yet (still starting) or no more: PTB takes the request when post_init ends,
    # else ask again until it runs (the loop closes, and this ends, once the bot has stopped)
    application.stop_running()
    asyncio.get_running_loop().call_later(0.1, request_stop, application)
