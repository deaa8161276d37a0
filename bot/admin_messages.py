"""User-facing text of the admin tools (teaching variants), in Simplified Chinese.

Plain text with the admin's own words inside: escape the whole message before sending it as HTML.
"""

from __future__ import annotations

TEACH_ADDED = "已把“{question}”加为条目 {entry} 的问法（{file}）。"
TEACH_EMPTY = "问法不能为空，也不能只有标点或表情。请发一句完整的问题。"
TEACH_TOO_LONG = "问法太长了（最多 {limit} 个字），请换一个更短的说法。"
TEACH_UNKNOWN_ENTRY = "没有 id 为 {entry} 的条目，请检查 id 是否写对。"
TEACH_DUPLICATE_SAME = "“{question}”已经是条目 {entry} 的问法，不用再加。"
TEACH_DUPLICATE_OTHER = (
    "“{question}”已经是条目 {other} 的问法，不能同时加给 {entry}。"
    "如要改归属，请先在 {file} 里删掉它。"
)
TEACH_KNOWLEDGE_BROKEN = "知识库目前有错误，请先修好再加问法：\n{problems}"
TEACH_INVALID = "加入后知识库校验不通过，文件没有改动：\n{problems}"
TEACH_CHANGED = "{file} 在加入期间被别人改动了，文件没有改动，请再试一次。"
TEACH_WRITE_FAILED = "写入 {file} 失败（{error}），文件没有改动。"
TEACH_LAYOUT = "这个文件的格式无法只加一行而不改动其他内容，文件没有改动。请直接编辑 {file}。"
