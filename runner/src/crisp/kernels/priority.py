"""Speculative work of a run yields the CPU to everything else.

Importing ahead what later phases will need runs beside the phase's kernel at a lower CPU priority
(a higher nice value), so it uses what is left free. Only work nobody waits for may: the priority
cannot be raised again without privileges, and on a machine busy with other work a lowered thread
gets almost no CPU (figure renderers and report exports, which the run waits for at its end, were
lowered once, and a run on a loaded machine then waited minutes for them).
"""

from __future__ import annotations

import contextlib
import os
import sys

BACKGROUND_NICE = 10


def lower() -> None:
    """Lower the CPU priority of the calling thread (Linux, where priority is per thread).

    Elsewhere it would lower the whole process, so it does nothing. The priority cannot be
    raised again without privileges: call it only in a thread or process that does background
    work and nothing else.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.nice(BACKGROUND_NICE)
