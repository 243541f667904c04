"""The conversation with a victim: the flow engine and what it reads in what people write.

- ``flow``: interprets the playbook for one case, one input at a time (``Turn``);
- ``triage``: severity, reasons and tags from the answers and danger signals;
- ``signals``: danger signals in free text, in two layers: curated phrases and a
  classifier over character n-grams (``signal_text``: what it sees of a message;
  ``signal_model``: its weights, scored in pure Python; ``signal_corpus``: the labelled
  messages it learns from; ``signal_training``: the scikit-learn script that makes the
  weights, a development tool the running bot never imports);
- ``inputs`` and ``char_filter``: cleaning what people type;
- ``flood``: a per-person budget for ordinary chatter;
- ``evidence_pace``: a per-person budget for evidence, which paces and never drops;
- ``inbound_log``: whether an inbound event was handled already;
- ``intake_journal``: evidence events kept before their files are fetched, resumed at start.

The per-command desks (evidence, reminders, search, …) build on ``Turn``; the router that
picks a desk for each message is ``bot.dispatch``.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = [
    "desk_answer",
    "evidence_pace",
    "flood",
    "flow",
    "inbound_log",
    "inputs",
    "intake_journal",
    "signal_model",
]
