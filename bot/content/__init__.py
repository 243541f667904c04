"""The playbook and every word Haven says to a victim, in every locale.

- ``playbook``: the TOML files beside this module read into data — triage questions,
  severity rules, steps, checklist items, citations, signals and texts per locale;
- ``prompts``: what the victim sees for each state of a case, texts and buttons;
- ``phone``: what fits a phone's screen (about 400 Chinese or 600 Latin characters);
- ``deadlines``: durations, working days, quiet hours and their local wording.

Everything else in ``bot`` reads content through these; nothing here imports a capability.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["deadlines", "playbook", "prompts"]
