"""A fake Telegram Bot API server on 127.0.0.1 that validates what Telegram validates.

The real PTB Application talks to it through `base_url`, so the real request encoding, parse
modes and limits are exercised. It refuses, with HTTP 400 and {"ok": false, "description"},
what Telegram refuses: malformed or unsupported HTML, texts over 4096 characters once the
entities are parsed, empty texts, callback data over 64 bytes, badly shaped keyboards, replies
to unknown messages, edits that change nothing, callback and inline queries answered twice
or never issued, more than 50 inline results, result ids over 64 bytes, unknown chats.

Every call is recorded (`calls`); tests inject updates (`push`), which the bot fetches with
getUpdates (long polling, for real), or `register` updates they deliver some other way.

Faults, for the next N calls of a method (`fail`): a 429 with retry_after, a 502 (as JSON, or
as an HTML page that echoes the request URL, token included, as some proxies do), an answer
later than the client waits, a connection dropped before or after the request is carried out.
`outage_after_updates` makes the server unreachable (connections refused) for a while right
after it hands out updates. A faulted call is recorded with its `fault`; `errors()` lists only
what Telegram itself would have refused.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "123456789:AAH-fake-token-for-tests_0123456789"
BOT_ID = 123456789
BOT_USERNAME = "meeting_qa_test_bot"
TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
CALLBACK_ANSWER_LIMIT = 200
INLINE_RESULTS_LIMIT = 50
RESULT_ID_LIMIT = 64
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
# what `fail` can do to a call:
FAULTS = {
    "429",  # Too Many Requests with retry_after; not carried out
    "502",  # Bad Gateway (JSON, as the Bot API answers); not carried out
    "502-html",  # Bad Gateway as an HTML page echoing the request URL; not carried out
    "timeout",  # carried out, but answered only after `delay` seconds (the client gave up)
    "drop",  # the connection is closed before the request is carried out: it is lost
    "lost-answer",  # carried out, then the connection is closed without an answer
}

# the parameters PTB sends JSON-encoded (everything else arrives as plain form strings)
JSON_PARAMS = {
    "reply_markup",
    "reply_parameters",
    "link_preview_options",
    "results",
    "commands",
    "scope",
    "button",
    "allowed_updates",
    "entities",
    "caption_entities",
}
INT_PARAMS = {
    "chat_id",
    "message_id",
    "message_thread_id",
    "offset",
    "limit",
    "timeout",
    "cache_time",
    "max_connections",
}
BOOL_PARAMS = {"show_alert", "is_personal", "drop_pending_updates", "disable_notification"}

# Telegram's HTML: these tags, these attributes, nothing else
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
}
_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z-]+(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'<>]+))?)*)\s*>"
)
_ATTR = re.compile(r"([A-Za-z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'<>]+)))?")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9_]{5,32}")
_BOT_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BUTTON_ACTIONS = {
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
}
SCOPES = {
    "default",
    "all_private_chats",
    "all_group_chats",
    "all_chat_administrators",
    "chat",
    "chat_administrators",
    "chat_member",
}


class ApiError(Exception):
    """A request Telegram would refuse; the message is its description."""

    def __init__(self, description: str, code: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.code = code


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The text Telegram shows for an HTML message, or ApiError where Telegram fails."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            if m is None:
                raise ApiError(
                    f"Bad Request: can't parse entities: Unsupported start tag at byte offset {i}"
                )
            closing, name, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
            if name not in ALLOWED_TAGS:
                raise ApiError(
                    f'Bad Request: can\'t parse entities: Unsupported start tag "{name}"'
                )
            if closing:
                if attrs.strip():
                    raise ApiError("Bad Request: can't parse entities: end tag with attributes")
                if not stack or stack[-1] != name:
                    raise ApiError(
                        f'Bad Request: can\'t parse entities: Unmatched end tag "{name}"'
                    )
                stack.pop()
            else:
                _check_tag(name, _attributes(attrs), stack)
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, i)
            if m is None:
                raise ApiError(
                    f"Bad Request: can't parse entities: bare '&' at byte offset {i} (write &amp;)"
                )
            out.append(html.unescape(m.group(0)))
            i = m.end()
        elif ch == ">":
            raise ApiError(f"Bad Request: can't parse entities: bare '>' at offset {i}")
        else:
            out.append(ch)
            i += 1
    if stack:
        raise ApiError(
            "Bad Request: can't parse entities: "
            f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
        )
    return "".join(out)


def _attributes(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        value = next((g for g in m.groups()[1:] if g is not None), "")
        found[m.group(1).lower()] = html.unescape(value)
    return found


def _check_tag(name: str, attrs: dict[str, str], stack: list[str]) -> None:
    def bad(why: str) -> ApiError:
        return ApiError(f"Bad Request: can't parse entities: {why}")

    if stack and stack[-1] in ("code", "pre") and not (stack[-1] == "pre" and name == "code"):
        raise bad(f'tag "{name}" inside "{stack[-1]}"')
    if name == "blockquote" and "blockquote" in stack:
        raise bad("nested blockquote")
    if name == "a" and "a" in stack:
        raise bad("nested link")
    allowed: set[str] = set()
    if name == "a":
        href = attrs.get("href")
        if not href or urlsplit(href).scheme not in ("http", "https", "tg", "mailto"):
            raise bad(f"bad link href {href!r}")
        allowed = {"href"}
    elif name == "span":
        if attrs.get("class") != "tg-spoiler":
            raise bad('span needs class="tg-spoiler"')
        allowed = {"class"}
    elif name == "blockquote":
        allowed = {"expandable"}
    elif name == "code":
        allowed = {"class"}
    elif name == "pre":
        allowed = set()
    elif name == "tg-emoji":
        allowed = {"emoji-id"}
    extra = set(attrs) - allowed
    if extra:
        raise bad(f'unsupported attribute {sorted(extra)} in tag "{name}"')


def message_text(params: dict[str, Any], key: str = "text") -> str:
    """Validate a message text with its parse mode; return the text as shown."""
    raw = params.get(key)
    if not isinstance(raw, str):
        raise ApiError("Bad Request: message text is empty")
    mode = params.get("parse_mode")
    if mode in (None, ""):
        shown = raw
    elif mode == "HTML":
        shown = parse_html(raw)
    else:
        raise ApiError(f"Bad Request: unsupported parse_mode {mode!r} (the bot uses HTML only)")
    shown = shown.strip()
    if not shown:
        raise ApiError("Bad Request: message text is empty")
    if utf16_len(shown) > TEXT_LIMIT:
        raise ApiError("Bad Request: message is too long")
    return shown


def check_markup(markup: Any, *, inline_only: bool = False) -> None:
    """The reply_markup shapes Telegram accepts (inline keyboards in detail)."""
    if not isinstance(markup, dict):
        raise ApiError("Bad Request: can't parse reply keyboard markup JSON object")
    kinds = {"inline_keyboard", "keyboard", "remove_keyboard", "force_reply"} & set(markup)
    if len(kinds) != 1:
        raise ApiError("Bad Request: reply markup must have exactly one kind")
    if inline_only and "inline_keyboard" not in markup:
        raise ApiError("Bad Request: only inline keyboards are allowed here")
    if "inline_keyboard" not in markup:
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list):
        raise ApiError("Bad Request: inline keyboard must be an array of arrays")
    total = 0
    for row in rows:
        if not isinstance(row, list) or not row:
            raise ApiError("Bad Request: inline keyboard rows must be non-empty arrays")
        if len(row) > 8:
            raise ApiError("Bad Request: too many buttons in a row")
        for button in row:
            total += 1
            check_button(button)
    if total > 100:
        raise ApiError("Bad Request: reply markup is too long")


def check_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise ApiError("Bad Request: can't parse inline keyboard button: object expected")
    text = button.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError("Bad Request: can't parse inline keyboard button: text must be non-empty")
    actions = BUTTON_ACTIONS & set(button)
    if len(actions) != 1:
        raise ApiError(
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
            raise ApiError("Bad Request: BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if (
            parts is None
            or parts.scheme not in ("http", "https", "tg")
            or not (parts.netloc or parts.scheme == "tg")
        ):
            raise ApiError("Bad Request: BUTTON_URL_INVALID")
        if parts.netloc == "t.me" and "start=" in parts.query:
            start = parse_qs(parts.query).get("start", [""])[0]
            if not _START_PARAMETER.match(start):
                raise ApiError("Bad Request: BUTTON_URL_INVALID (start parameter)")


@dataclass
class Call:
    """One request the bot made, and what the server said."""

    method: str
    params: dict[str, Any]
    ok: bool = True
    description: str = ""
    result: Any = None
    started: float = field(default_factory=time.monotonic)
    fault: str | None = None  # the injected fault, if any (see `FakeBotApi.fail`)


@dataclass
class Fault:
    """A fault to inject into the next `times` calls of one method."""

    kind: str
    times: int
    retry_after: int = 1
    delay: float = 2.0


class FakeBotApi:
    """The server: start() it, give the bot `base_url`, push() updates, inspect `calls`."""

    def __init__(self, token: str = TOKEN, username: str = BOT_USERNAME) -> None:
        self.token = token
        self.bot = {"id": BOT_ID, "is_bot": True, "first_name": "会议问答", "username": username}
        self.calls: list[Call] = []
        self.delays: dict[str, float] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._outage_after_updates: float | None = None
        self._connections: set[socket.socket] = set()
        self._handler: type[BaseHTTPRequestHandler] | None = None
        self._port = 0
        self._lock = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._next_id: dict[int, int] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._callbacks: dict[str, bool] = {}
        self._inline: dict[str, bool] = {}
        self._ids = itertools.count(1)
        self._closing = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- life cycle ---------------------------------------------------------------------------

    def start(self) -> FakeBotApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out separately: without this each reply on a kept-alive
            # connection waits ~40 ms for the client's delayed ACK
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with api._lock:
                    api._connections.add(self.connection)

            def finish(self) -> None:
                with api._lock:
                    api._connections.discard(self.connection)
                # a connection the server dropped on purpose cannot be flushed
                with contextlib.suppress(OSError):
                    super().finish()

            def do_POST(self) -> None:
                api._serve(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._handler = Handler
        self._listen(0)
        return self

    def _listen(self, port: int) -> None:
        assert self._handler is not None
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)
        server.daemon_threads = True
        self._port = int(server.server_address[1])
        self._server = server
        # a short poll interval: an outage takes effect at once
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # ----- what tests use -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the recorded calls (the chats, messages and queries stay known)."""
        with self._lock:
            self.calls.clear()

    def errors(self) -> list[Call]:
        """The calls Telegram would have refused (injected faults aside)."""
        with self._lock:
            return [c for c in self.calls if not c.ok and c.fault is None]

    def faulted(self, method: str | None = None) -> list[Call]:
        """The calls that met an injected fault (of `method`, if given)."""
        with self._lock:
            return [c for c in self.calls if c.fault and method in (None, c.method)]

    def fail(
        self, method: str, kind: str, times: int = 1, *, retry_after: int = 1, delay: float = 2.0
    ) -> None:
        """Make the next `times` calls of `method` meet `kind` (one of FAULTS), after any
        faults already queued for it."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.setdefault(method, []).append(Fault(kind, times, retry_after, delay))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._outage_after_updates = None

    def outage_after_updates(self, seconds: float) -> None:
        """The next getUpdates that hands out updates is the last call to get through for
        `seconds`: every connection is closed and new ones are refused (before its answer
        leaves, so the bot meets the outage with its very next request)."""
        with self._lock:
            self._outage_after_updates = seconds

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            queued = self._faults.get(method)
            if not queued:
                return None
            fault = queued[0]
            fault.times -= 1
            if fault.times <= 0:
                queued.pop(0)
            return fault

    def _outage(self, seconds: float, keep: socket.socket) -> None:
        """Refuse connections for `seconds`: close the listener and every connection but `keep`
        (the caller answers on it and closes it), then listen again on the same port."""
        server = self._server
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            open_ = [c for c in self._connections if c is not keep]
        for connection in open_:
            _drop(connection)

        def reopen() -> None:
            if not self._closing:
                self._listen(self._port)

        timer = threading.Timer(seconds, reopen)
        timer.daemon = True
        timer.start()

    def calls_to(self, *methods: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method in methods]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendMessage calls (to `chat_id`, if given)."""
        return [
            c
            for c in self.calls_to("sendMessage")
            if c.ok and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._messages[(chat_id, message_id)]))

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """A message someone deleted: replies to it and edits of it now fail."""
        with self._lock:
            del self._messages[(chat_id, message_id)]

    def unanswered_callbacks(self) -> list[str]:
        with self._lock:
            return [k for k, answered in self._callbacks.items() if not answered]

    def next_message_id(self, chat_id: int) -> int:
        with self._lock:
            number = self._next_id.get(chat_id, 1)
            self._next_id[chat_id] = number + 1
            return number

    def know_chat(self, chat: dict[str, Any]) -> None:
        """Make a chat known, as if its user had opened the bot (or added it to the group)."""
        with self._lock:
            self._chats[chat["id"]] = chat

    def register(self, update: dict[str, Any]) -> dict[str, Any]:
        """Learn the chats, messages and queries of an update delivered some other way."""
        with self._lock:
            update.setdefault("update_id", next(self._update_ids))
            self._learn(update)
        return update

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for the bot's next getUpdates."""
        with self._lock:
            update.setdefault("update_id", next(self._update_ids))
            self._learn(update)
            self._updates.append(update)
            self._lock.notify_all()
        return update

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Block (in a plain thread, not the event loop) until predicate() holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    # ----- update builders (what a Telegram client would produce) ----------------------------

    def text_message(
        self,
        chat: dict[str, Any],
        user: dict[str, Any] | None,
        text: str,
        *,
        reply_to: dict[str, Any] | None = None,
        thread: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "text": text,
        }
        if user is not None:
            message["from"] = user
        found = entities if entities is not None else auto_entities(text)
        if found:
            message["entities"] = found
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        if extra:
            message.update(extra)
        return {"message": message}

    def media_message(
        self, chat: dict[str, Any], user: dict[str, Any], kind: str, payload: Any
    ) -> dict[str, Any]:
        message = {
            "message_id": self.next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            kind: payload,
        }
        return {"message": message}

    def callback(
        self, user: dict[str, Any], message: dict[str, Any] | None, data: str | None
    ) -> dict[str, Any]:
        query: dict[str, Any] = {
            "id": f"cb{next(self._ids)}",
            "from": user,
            "chat_instance": "ci-1",
        }
        if data is not None:
            query["data"] = data
        if message is not None:
            query["message"] = message
        else:
            query["inline_message_id"] = "inline-1"
        return {"callback_query": query}

    def inline_query(self, user: dict[str, Any], text: str) -> dict[str, Any]:
        return {
            "inline_query": {
                "id": f"iq{next(self._ids)}",
                "from": user,
                "query": text,
                "offset": "",
            }
        }

    # ----- the HTTP side --------------------------------------------------------------------------

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path).path
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            self._respond(
                request, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
            return
        method = path[len(prefix) :]
        ctype = request.headers.get("Content-Type") or ""
        try:
            params = self._params(body, ctype)
        except ApiError as exc:
            self._respond(
                request,
                exc.code,
                {"ok": False, "error_code": exc.code, "description": exc.description},
            )
            return
        call = Call(method, params)
        fault = self._take_fault(method)
        with self._lock:
            call.fault = fault.kind if fault else None
            self.calls.append(call)
        if fault is not None and fault.kind in ("429", "502", "502-html", "drop"):
            with self._lock:
                call.ok, call.description = False, f"injected fault: {fault.kind}"
            self._inject(request, fault)
            return
        delay = self.delays.get(method)
        if delay:
            time.sleep(delay)
        try:
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError("Not Found", 404)
            result = handler(params)
        except ApiError as exc:
            with self._lock:
                call.ok, call.description = False, exc.description
            self._respond(
                request,
                exc.code,
                {"ok": False, "error_code": exc.code, "description": exc.description},
            )
            return
        with self._lock:
            call.result = result
            outage = self._outage_after_updates if method == "getUpdates" and result else None
            if outage is not None:
                self._outage_after_updates = None
        if fault is not None and fault.kind == "lost-answer":
            _drop(request.connection)
            request.close_connection = True
            return
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay)  # the client has given up by now
        if outage is not None:
            self._outage(outage, keep=request.connection)
            request.close_connection = True
        self._respond(request, 200, {"ok": True, "result": result})

    def _inject(self, request: BaseHTTPRequestHandler, fault: Fault) -> None:
        """Answer (or not) as the fault says, without carrying the request out."""
        if fault.kind == "drop":
            _drop(request.connection)
            request.close_connection = True
        elif fault.kind == "429":
            description = f"Too Many Requests: retry after {fault.retry_after}"
            self._respond(
                request,
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": description,
                    "parameters": {"retry_after": fault.retry_after},
                },
            )
        elif fault.kind == "502":
            self._respond(
                request, 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            )
        else:  # "502-html": a proxy's error page, naming the URL (and so the token)
            page = f"<html><body><h1>502 Bad Gateway</h1><p>POST {request.path}</p></body></html>"
            self._respond_raw(request, 502, page.encode(), "text/html")

    @classmethod
    def _respond(
        cls, request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]
    ) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        cls._respond_raw(request, status, data, "application/json")

    @staticmethod
    def _respond_raw(
        request: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str
    ) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(data)))
            if request.close_connection:
                request.send_header("Connection", "close")
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the client gave up (a cancelled long poll, a timed-out request)

    @staticmethod
    def _params(body: bytes, ctype: str) -> dict[str, Any]:
        if ctype.startswith("multipart/"):
            raise ApiError("Bad Request: the fake server takes no uploads")
        if ctype.startswith("application/json"):
            return dict(json.loads(body or b"{}"))
        raw = parse_qs(body.decode(), keep_blank_values=True)
        params: dict[str, Any] = {}
        for key, values in raw.items():
            value: Any = values[-1]
            try:
                if key in JSON_PARAMS:
                    value = json.loads(value)
                elif key in INT_PARAMS:
                    value = int(value)
                elif key in BOOL_PARAMS:
                    value = json.loads(value)
            except ValueError as exc:
                raise ApiError(f"Bad Request: can't parse {key}: {exc}") from exc
            params[key] = value
        return params

    # ----- state ------------------------------------------------------------------------------

    def _learn(self, update: dict[str, Any]) -> None:
        """Record chats, messages and queries of an update (lock held)."""
        message = update.get("message") or update.get("edited_message")
        if message:
            self._learn_message(message)
        query = update.get("callback_query")
        if query:
            self._callbacks[query["id"]] = False
            if query.get("message"):
                self._learn_message(query["message"])
        inline = update.get("inline_query")
        if inline:
            self._inline[inline["id"]] = False
        member = update.get("my_chat_member")
        if member:
            self._chats[member["chat"]["id"]] = member["chat"]

    def _learn_message(self, message: dict[str, Any]) -> None:
        chat = message["chat"]
        self._chats[chat["id"]] = chat
        # keep the counter ahead of ids chosen elsewhere
        self._next_id[chat["id"]] = max(self._next_id.get(chat["id"], 1), message["message_id"] + 1)
        self._messages.setdefault((chat["id"], message["message_id"]), message)
        if message.get("reply_to_message"):
            self._learn_message(message["reply_to_message"])

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        with self._lock:
            chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise ApiError("Bad Request: chat not found")
        return chat

    def _stored(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        key = (chat["id"], params.get("message_id"))
        with self._lock:
            message = self._messages.get(key)  # type: ignore[arg-type]
        if message is None:
            raise ApiError("Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != BOT_ID:
            raise ApiError("Bad Request: message can't be edited")
        return message

    # ----- the Bot API methods the bot uses ----------------------------------------------------

    def _api_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot

    def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url", "")
        if not url.startswith("https://"):
            raise ApiError("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError("Bad Request: bad webhook: secret token contains unallowed characters")
        return True

    def _api_close(self, params: dict[str, Any]) -> Any:
        return True

    def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = params.get("offset") or 0
        limit = params.get("limit") or 100
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                # updates below the offset are confirmed: Telegram forgets them
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or self._closing:
                    return self._updates[:limit]
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._lock.wait(min(left, 0.5))

    def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError("Bad Request: commands must be a list of at most 100")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not _BOT_COMMAND_NAME.match(name):
                raise ApiError("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError("Bad Request: command description must be 1-256 characters")
        scope = params.get("scope") or {"type": "default"}
        if scope.get("type") not in SCOPES:
            raise ApiError("Bad Request: unsupported scope")
        if scope["type"] in ("chat", "chat_administrators", "chat_member"):
            self._chat(scope)
        return True

    def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params)
        shown = message_text(params)
        markup = params.get("reply_markup")
        if markup is not None:
            check_markup(markup)
        reply = params.get("reply_parameters")
        replied: dict[str, Any] | None = None
        if reply is not None:
            if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
                raise ApiError("Bad Request: can't parse reply parameters")
            with self._lock:
                replied = self._messages.get((chat["id"], reply["message_id"]))
            if replied is None and not reply.get("allow_sending_without_reply"):
                raise ApiError("Bad Request: message to be replied not found")
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot,
            "text": shown,
        }
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        if replied is not None:
            message["reply_to_message"] = {
                k: v for k, v in replied.items() if k != "reply_to_message"
            }
        with self._lock:
            self._messages[(chat["id"], message["message_id"])] = message
        return message

    def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            message_text(params)
            return True
        message = self._stored(params)
        shown = message_text(params)
        markup = params.get("reply_markup")
        if markup is not None:
            check_markup(markup, inline_only=True)
        if shown == message.get("text") and markup == message.get("reply_markup"):
            raise ApiError(
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message"
            )
        with self._lock:
            message["text"] = shown
            if markup is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = markup
        return message

    def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        message = self._stored(params)
        markup = params.get("reply_markup")
        if markup is not None:
            check_markup(markup, inline_only=True)
            if not markup["inline_keyboard"]:
                markup = None
        if markup == message.get("reply_markup"):
            raise ApiError(
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message"
            )
        with self._lock:
            if markup is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = markup
        return message

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = params.get("callback_query_id")
        with self._lock:
            answered = self._callbacks.get(query_id)  # type: ignore[arg-type]
            if answered is None or answered:
                raise ApiError(QUERY_TOO_OLD)
            self._callbacks[query_id] = True  # type: ignore[index]
        text = params.get("text")
        if text is not None and len(text) > CALLBACK_ANSWER_LIMIT:
            raise ApiError("Bad Request: MESSAGE_TOO_LONG (callback answer)")
        return True

    def _api_answerInlineQuery(self, params: dict[str, Any]) -> Any:
        query_id = params.get("inline_query_id")
        with self._lock:
            answered = self._inline.get(query_id)  # type: ignore[arg-type]
            if answered is None or answered:
                raise ApiError(QUERY_TOO_OLD)
            self._inline[query_id] = True  # type: ignore[index]
        results = params.get("results")
        if not isinstance(results, list):
            raise ApiError("Bad Request: results must be an array")
        if len(results) > INLINE_RESULTS_LIMIT:
            raise ApiError("Bad Request: RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            result_id = result.get("id")
            if (
                not isinstance(result_id, str)
                or not 1 <= len(result_id.encode()) <= RESULT_ID_LIMIT
            ):
                raise ApiError("Bad Request: RESULT_ID_INVALID")
            if result_id in seen:
                raise ApiError("Bad Request: RESULT_ID_DUPLICATE")
            seen.add(result_id)
            if result.get("type") != "article":
                raise ApiError("Bad Request: the fake server knows article results only")
            if not isinstance(result.get("title"), str) or not result["title"].strip():
                raise ApiError("Bad Request: RESULT_TITLE_EMPTY")
            content = result.get("input_message_content")
            if not isinstance(content, dict):
                raise ApiError("Bad Request: input_message_content required")
            message_text(content, "message_text")
            if result.get("reply_markup") is not None:
                check_markup(result["reply_markup"], inline_only=True)
        button = params.get("button")
        if button is not None:
            if not isinstance(button.get("text"), str) or not button["text"].strip():
                raise ApiError("Bad Request: button text is empty")
            start = button.get("start_parameter")
            if start is not None and not _START_PARAMETER.match(start):
                raise ApiError("Bad Request: START_PARAM_INVALID")
        return True

    def _api_sendChatAction(self, params: dict[str, Any]) -> Any:
        self._chat(params)
        return True


def _drop(connection: socket.socket) -> None:
    """Close a connection from the server's side at once, whatever is in flight on it."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities a Telegram client would attach: a leading bot command, @mentions."""
    found: list[dict[str, Any]] = []
    m = _COMMAND.match(text)
    if m:
        found.append({"type": "bot_command", "offset": 0, "length": utf16_len(m.group())})
    for m in _MENTION.finditer(text):
        found.append(
            {
                "type": "mention",
                "offset": utf16_len(text[: m.start()]),
                "length": utf16_len(m.group()),
            }
        )
    return found


def private_chat(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def make_user(user_id: int, first_name: str = "小李", **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, **extra}


def make_group(chat_id: int, *, supergroup: bool = True, forum: bool = False) -> dict[str, Any]:
    chat: dict[str, Any] = {
        "id": chat_id,
        "type": "supergroup" if supergroup else "group",
        "title": "作风建设学习群",
    }
    if forum:
        chat["is_forum"] = True
    return chat
