"""What Haven builds at start lives as long as the process; the garbage collector is told.

The content, the compiled statements, the imported libraries: each full collection would
walk all of them again (about 0.15 s with this heap, measured with bench/journey.py), and
every conversation waits meanwhile. ``gc.freeze()`` takes them out of the collector's
sight for good; a collection first, so that no garbage is frozen with them.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()
