"""All user-facing text, in Simplified Chinese, in one place."""

from __future__ import annotations

BOT_NAME = "会议问答"

NONE = "这份报道里没有提到这一点。"
NONE_TRY = "你可以问问报道里写到的内容，例如："
CLARIFY = "你是想问……"
CLARIFY_NONE_OF_THESE = "都不是"
RELATED = "相关问题："
SOURCE = "出处"
PARAGRAPH = "第{n}段"

TERMINAL_WELCOME = (
    "会议问答 · 终端对话模式\n"
    "没有设置 TELEGRAM_BOT_TOKEN，所以在终端里对话（与 Telegram 机器人用同一套问答引擎）。\n"
    "直接输入问题并回车；输入 /quit 或按 Ctrl-D 退出。"
)
TERMINAL_BYE = "再见！"
