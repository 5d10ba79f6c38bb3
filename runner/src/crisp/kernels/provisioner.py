"""A jupyter_client provisioner for a kernel process forked by the fork server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from jupyter_client.provisioning import KernelProvisionerBase


class ForkedProvisioner(KernelProvisionerBase):  # type: ignore[misc]
    """Tracks a kernel process forked by the server (the server reaps it)."""

    pid: int = 0

    @property
    def has_process(self) -> bool:
        return self.pid > 0

    async def poll(self) -> int | None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return 1
        except PermissionError:  # the pid was reused by another user's process
            return 1
        return None

    async def wait(self) -> int | None:
        while await self.poll() is None:
            await asyncio.sleep(0.02)
        return 0

    async def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    async def _signal_group(self, signum: int) -> None:
        """`signum` to the kernel's whole process group (it is a session leader: forkserver.py),
        so processes it started (joblib's worker processes, a local Dask cluster) go with it,
        as jupyter_client does for the kernels it spawns."""
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            await self.send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        await self._signal_group(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self._signal_group(signal.SIGTERM)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        raise NotImplementedError("forked kernels are started by the fork server")

    async def cleanup(self, restart: bool = False) -> None:
        if await self.poll() is not None:
            self.pid = 0  # nothing left to manage
