"""Personal data and how it is kept out of sight: what staff see unless access was approved.

- ``masking``: phone numbers, Chinese ID numbers, bank cards and e-mail addresses masked
  out of staff-facing text (alerts, case summaries, search snippets);
- ``id_numbers``: the check digits that tell a real ID or card number from other digits;
- ``word_digest``: free text (a search, a staff note) committed to in the log by a hash
  keyed by the case, which erasure makes untestable.

A privacy primitive under both search and the staff side; it imports nothing of theirs.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["masking", "word_digest"]
