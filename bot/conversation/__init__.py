"""The conversation with a victim: the flow engine and what it reads in what people write.

- ``flow``: interprets the playbook for one case, one input at a time (``Turn``);
- ``triage``: severity, reasons and tags from the answers and danger signals;
- ``signals``: danger signals in free text;
- ``inputs`` and ``char_filter``: cleaning what people type;
- ``flood``: a per-person message budget;
- ``inbound_log``: whether an inbound event was handled already.

The per-command desks (evidence, reminders, search, …) build on ``Turn``; the router that
picks a desk for each message is ``bot.dispatch``.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["desk_answer", "flood", "flow", "inbound_log", "inputs"]
