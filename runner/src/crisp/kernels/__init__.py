"""Jupyter kernels for the phases: started ahead of time (forked from a server that imported the
libraries once, or spawned fresh), made ready, and killed when their phase is done.

pool (what the runner uses), forkserver (the server process and its client), ready (the kernel
client that knows when a kernel answers), provisioner (a forked kernel for jupyter_client),
figures (figures rendered beside the kernel), imports (what a forked kernel imported itself),
priority (background work at a lower CPU priority).
"""

from .pool import (
    DEFAULT_MODE,
    MODES,
    KernelPool,
    KernelStartError,
    PhaseImports,
    import_jupyter_client,
    import_order,
    loaded_modules,
)

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "KernelPool",
    "KernelStartError",
    "PhaseImports",
    "import_jupyter_client",
    "import_order",
    "loaded_modules",
]
