"""The staff side: who the staff are, what reaches them, and what they may read.

- ``access``: staff roles and what each may do;
- ``escalation``: a serious case reaches a person, level by level, until one acknowledges;
- ``briefing``: the daily briefing; ``progress_notes``: daily notes to victims who asked;
- ``unanswered``: a direct question about a danger signal left unanswered alerts the staff;
- ``retrieval``: reading a victim's evidence takes two people, a reason and a window;
- ``desk``: staff commands and alert buttons, checked against roles (``ask``: one
  command as the handlers receive it); ``texts``: words for the staff channel;
- ``talk``: a staff member and the victim talking through Haven once a case is taken.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = [
    "access",
    "briefing",
    "desk",
    "escalation",
    "progress_notes",
    "retrieval",
    "talk",
    "texts",
    "unanswered",
]
