"""Operating Haven from the command line: the ``haven`` command and its operator commands.

- ``cli``: ``haven run``, ``init``, ``audit``, ``export``, ``verify``, ``erase``, …;
- ``operator``: opening the store the way ``haven run`` does, for one operator command;
- ``demo``: ``haven demo``, a short scripted incident on the real console and storage;
- ``startup``: what ``haven run`` refuses, warns about and summarises at start;
- ``progress``: progress bars of the long operator commands, on a terminal.

The top layer: it may use everything below; nothing imports it.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["cli"]
