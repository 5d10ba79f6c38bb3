"""What a forked kernel imported itself, apart from what the fork server had imported for it.

The fork server marks the moment of the fork in the child (`mark_fork`); after the phase, the
runner asks the kernel for `imported_since_fork()`: the modules this phase needs that the server
did not import beforehand (what libraries import lazily, such as pyarrow when pandas reads
Parquet). In every later run, the server imports those before it forks that phase's kernel.
"""

from __future__ import annotations

import sys

_at_fork: frozenset[str] = frozenset()


def mark_fork() -> None:
    """Remember what this process has imported so far (called in the kernel after the fork)."""
    global _at_fork
    _at_fork = frozenset(sys.modules)


def imported_since_fork() -> str:
    """Names of the modules imported since `mark_fork`, space-separated and sorted."""
    return " ".join(sorted(name for name in sys.modules if name not in _at_fork))
