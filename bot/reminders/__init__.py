"""Reminders: deadlines and follow-ups that come once, never zero times, never twice.

- ``planning``: which reminders a turn creates or ends, and when each is sent;
- ``desk``: reminders as the victim meets them (``/reminders``, ``/quiet``, the buttons);
- ``texts``: what the victim reads about reminders, in their language and local time;
- ``scheduler``: the timer — APScheduler wakes Haven up, the database decides what fires.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["desk", "planning", "scheduler", "texts"]
