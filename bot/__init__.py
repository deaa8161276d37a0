"""会议问答: answers questions about a meeting from its news report, in Telegram and a terminal."""

__version__ = "0.1.0"
