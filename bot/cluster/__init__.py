"""Several Haven instances on one PostgreSQL database: one sender per chat, one receiver
for the platforms that allow only one (Telegram polling, Slack Socket Mode), the
wake-ups that tell the other instances when work was queued, duties one instance runs
at a time (``duty_turns``: the daily retention round), and the take-over of evidence a
gone instance had journaled (``journal_watch``). With SQLite (one instance per data
directory) none of this runs."""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["chat_locks", "duty_turns", "election", "journal_watch", "wakeups"]
