"""Telegram handlers, one module per surface; bot/app.py registers them all in one table."""
