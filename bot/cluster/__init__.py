"""Several Haven instances on one PostgreSQL database: one sender per chat, one receiver
for the platforms that allow only one (Telegram polling, Slack Socket Mode), and the
wake-ups that tell the other instances when work was queued. With SQLite (one instance
per data directory) none of this runs."""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["chat_locks", "election", "wakeups"]
