"""Finding things in a case: search, its query syntax, and the victim's own notes.

- ``searcher``: one case's evidence by words, original sender, time window and kind;
- ``query``: the ``/search`` syntax; ``results``: what a search found, as chat lines;
- ``text_match``: matching the way a person means it (width, case, traditional forms);
- ``desk``: the victim's ``/search``; ``memo_desk``: ``/memo`` and ``/timeline``;
- ``stated_time``: the date and time a note says, as people write them (JioNLP for
  Chinese, dateparser for English).
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["desk", "memo_desk", "query", "results", "searcher"]
