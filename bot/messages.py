"""All user-facing text, in Simplified Chinese, in one place.

The Telegram texts are HTML (the bot sends everything with parse mode HTML): none of them
contains a bare `<`, `>` or `&`; `{placeholders}` are filled with already escaped values.
"""

from __future__ import annotations

BOT_NAME = "会议问答"

# ----- answers (shared by the terminal and Telegram) ----------------------------------------

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
    "直接输入问题并回车；输入列表前的数字可直接问那个问题；输入 /quit 或按 Ctrl-D 退出。"
)
TERMINAL_BYE = "再见！"

# ----- Telegram: private chat ----------------------------------------------------------------

WELCOME = (
    "你好！我是<b>{bot}</b>，专门回答关于{articles}的问题。\n\n"
    "直接发一句话问我就行，比如下面这些问题。我的回答都摘自报道原文，并注明出处。\n"
    "发送 /topics 按话题浏览，/source 查看报道原文，/help 查看全部用法。"
)
WELCOME_EXAMPLES = "可以先试试："
HELP = (
    "<b>怎么用{bot}</b>\n\n"
    "<b>私聊</b>：直接发送问题，例如“谁主持了大会？”。我会给出简短回答、报道原文和出处；"
    "拿不准时会请你从几个问题中选一个。\n\n"
    "<b>命令</b>\n"
    "/start 开始，看看示例问题\n"
    "/help 查看本说明\n"
    "/topics 按话题浏览能回答的问题\n"
    "/source 报道的标题、日期、发布单位和全文\n"
    "/ask 问题 在私聊或群里提问\n\n"
    "<b>群聊</b>：把我加进群后，用 /ask 问题、@{username} 问题，或回复我的消息来提问；"
    "其他消息我不会回应。\n\n"
    "<b>任意聊天</b>：输入 @{username} 加问题，可以把答案直接发到当前对话。\n\n"
    "我只回答这篇报道里写到的内容，不会猜测或补充报道以外的信息。"
)
HELP_ADMIN = (
    "\n\n<b>管理员</b>\n"
    "/stats 最近一天和一周的提问统计与反馈\n"
    "/unanswered 没答上或没把握的问题，可一键加为问法或忽略\n"
    "/teach 条目id 问法 把一个问法加到条目里\n"
    "/reload 重新加载知识文件（改动知识文件后也会自动加载）"
)
CHITCHAT_TRY = "你可以这样问："
EMPTY_QUESTION = "请用文字提个问题，例如："
MEDIA_ONLY_TEXT = "我只读得懂文字问题，请直接打字提问，例如："
UNKNOWN_COMMAND = "没有这个命令。发送 /help 查看可用的命令。"
ASK_USAGE = "请在 /ask 后面写上问题，例如：/ask 谁主持了大会？"
NONE_OF_THESE = "好的。换个说法再问一次试试，或者按话题浏览报道里写到的内容。"
BROWSE_TOPICS = "📚 按话题浏览"
ALL_TOPICS = "📚 全部话题"
FEEDBACK_UP = "👍"
FEEDBACK_DOWN = "👎"
FEEDBACK_THANKS = "谢谢你的反馈！"
FEEDBACK_DOWN_THANKS = "谢谢反馈，我们会改进这个回答。"
BUTTON_EXPIRED = "这个按钮已失效，请重新提问。"
ENTRY_GONE = "这个问题已不在资料里了，请重新提问。"
DEEP_LINK_GONE = "这个链接指向的问题已不在资料里了。"
SORRY = "抱歉，处理你的消息时出了点问题，请稍后再试。"
SLOW_DOWN = "你问得有点快，我先歇一分钟。请一分钟后再接着问。"
SLOW_DOWN_BUTTON = "点得有点快，请一分钟后再试。"

# ----- Telegram: topics and source ---------------------------------------------------------

TOPICS = "<b>按话题浏览</b>（第 {page}/{pages} 页）\n选一个话题，看看能问什么。"
TOPIC = "<b>{topic}</b>（第 {page}/{pages} 页）\n点一个问题查看回答。"
OTHER_TOPIC = "其他"
TOPIC_COUNT = "{topic}（{n}）"
TOPIC_BUTTON = "📂 {topic}"
THIS_REPORT = "这份报道"
NUMBERED_PARAGRAPH = "〔{n}〕{text}"
NO_TOPICS = "资料里还没有可以浏览的问题。"
PREVIOUS = "◀ 上一页"
NEXT = "下一页 ▶"
BACK_TO_TOPICS = "« 返回话题列表"
SOURCE_HEADER = "<b>报道原文</b>"
SOURCE_TITLE = "标题：{title}"
SOURCE_PUBLISHER = "发布：{publisher}"
SOURCE_DATE = "日期：{date}"
SOURCE_SIZE = "篇幅：共 {paragraphs} 段，约 {chars} 字"
SOURCE_NO_PUBLISHER = "报道未注明"
SOURCE_NO_DATE = "报道未注明"
READ_FULL_TEXT = "📄 阅读全文"
READ_FULL_TEXT_OF = "📄 全文：{title}"
FULL_TEXT_SENDING = "正在发送全文……"
ARTICLE_GONE = "这篇报道已不在资料里了。"

# ----- Telegram: groups and inline mode ------------------------------------------------------

OPEN_IN_PRIVATE = "💬 私聊查看完整回答"
OPEN_BOT = "💬 私聊打开{bot}"
GROUP_HELP = (
    "我是<b>{bot}</b>，只回答关于{articles}的问题。\n"
    "在群里用 /ask 问题、@{username} 问题，或回复我的消息来提问；其他消息我不会回应。"
)
GROUP_ASK_USAGE = "请在 /ask 后面写上问题，或 @{username} 加问题，例如：/ask 谁主持了大会？"
GROUP_USE_PRIVATE = "这个功能请在私聊里使用，点下面的按钮打开。"
GROUP_SLOW_DOWN = "这个群里的提问有点多，我先歇一分钟。请一分钟后再问，或者私聊我提问。"
GROUP_REPEAT = "{who}这个问题{ago}刚回答过，答案就在这条消息里 ↑"
GROUP_REPEAT_AGO_SECONDS = "几秒前"
GROUP_REPEAT_AGO_MINUTES = "{minutes} 分钟前"
GROUP_WELCOME = (
    "大家好，我是<b>{bot}</b>，可以回答关于{articles}的问题。\n"
    "用 /ask 问题、@{username} 问题，或回复我的消息来提问。"
)
INLINE_ASK_PRIVATELY = "在私聊中提问"
INLINE_NOTHING_FOUND = "没有找到，点此私聊提问"
INLINE_OPEN = "💬 在{bot}中查看"

# ----- Telegram: admins and errors ----------------------------------------------------------

ADMIN_ONLY = "这个命令只对管理员开放。"
RELOAD_OK = "✅ 知识已重新加载：{entries} 条问答。"
RELOAD_CHANGES = "新增 {added}，修改 {changed}，删除 {removed}。"
RELOAD_WARNINGS = "另有 {count} 条提醒（未覆盖的句子等），运行 python -m bot check 查看。"
RELOAD_FAILED = "❌ 知识文件有 {count} 处错误，仍在使用上一版："
ADMIN_ERROR = "⚠️ 处理一条更新时出错：\n<code>{error}</code>"
ADMIN_ERROR_HELD_BACK = "\n（此前另有 {count} 个重复的错误没有单独报告，详见日志。）"
RELOAD_ADDED = "新增：{ids}"
RELOAD_CHANGED = "修改：{ids}"
RELOAD_REMOVED = "删除：{ids}"
RELOAD_UNCOVERED = "报道中还有 {count} 句话没有问答覆盖。"
RELOAD_MORE_PROBLEMS = "……另有 {count} 处错误未列出。"
WATCH_CHANGED = "📂 检测到知识文件有改动。"

STATS_HEADER = "<b>提问统计</b>"
STATS_PERIOD = (
    "{period}：{total} 个问题，已回答 {answer}，请用户选择 {clarify}，"
    "未回答 {none}，闲聊 {chitchat}"
)
STATS_DAY = "最近一天"
STATS_WEEK = "最近一周"
STATS_TOP = "<b>最常问的条目（一周）</b>"
STATS_TOP_LINE = "{n} 次 · {entry}（{question}）"
STATS_FEEDBACK = "<b>反馈</b>"
STATS_FEEDBACK_LINE = "{entry}：👍 {up} · 👎 {down}"
STATS_NONE = "（暂无）"

UNANSWERED_HEADER = (
    "<b>没答上或没把握的问题</b>（共 {count} 组，按次数排列）\n"
    "点按钮把问题加为某个条目的问法，或忽略它。"
)
UNANSWERED_EMPTY = "最近没有没答上的问题。"
UNANSWERED_GROUP = "“{example}” × {count}"
UNANSWERED_ALSO = "类似说法：{texts}"
UNANSWERED_NO_CLOSE = "没有相近的条目，可以用 /teach 条目id 问法 手动添加。"
TEACH_BUTTON = "➕ 加为“{question}”的问法"
IGNORE_BUTTON = "🙈 忽略"
IGNORED = "已忽略，它不会再出现在 /unanswered 里。"
TEACH_USAGE = "用法：/teach 条目id 问法，例如：/teach chair 大会是谁主持的"
TEACH_ASK_AGAIN = "现在可以再问一次试试：{question}"
TEACHING = "正在添加……"

# ----- command menus (set per scope at start-up) --------------------------------------------

COMMAND_START = "开始，看看示例问题"
COMMAND_HELP = "使用说明"
COMMAND_TOPICS = "按话题浏览能回答的问题"
COMMAND_SOURCE = "报道原文：标题、日期、全文"
COMMAND_ASK = "提问，例如 /ask 谁主持了大会"
COMMAND_RELOAD = "重新加载知识文件（管理员）"
COMMAND_STATS = "提问统计与反馈（管理员）"
COMMAND_UNANSWERED = "没答上的问题（管理员）"
COMMAND_TEACH = "把问法加到条目，例如 /teach chair 谁主持的（管理员）"
