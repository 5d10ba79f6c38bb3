"""Background work of a run yields the CPU to the phase that is running.

Rendering figures, importing ahead for later phases and exporting reports run beside the phase's
kernel; on a machine with few cores they would slow it down as much as they help. They run at a
lower CPU priority (a higher nice value), so they use what the kernel leaves free.
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
