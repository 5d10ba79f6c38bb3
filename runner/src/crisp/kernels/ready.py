"""When a kernel is ready: its ports bound, and answering. The kernel client the runner hands to
papermill/nbclient is ready as soon as the kernel answers.

Ports: a forked kernel gets a connection file with every port 0 (`write_unbound_connection_file`)
and binds free ports itself (ipykernel does so for port 0), then writes them into the file, where
`load_bound_ports` finds them. Ports chosen in advance by the runner and bound later by the kernel
could be taken meanwhile by any other process (on a busy machine the kernel then died at start).

jupyter_client's `wait_for_ready` ends by draining IOPub until it has been quiet for 0.2 s, which
with one kernel per phase costs 0.2 s per phase. Here a kernel is ready once it has answered a
kernel_info request on the shell channel and the status message of that request has arrived on
IOPub (so the IOPub subscription is live). Messages left on IOPub are harmless: nbclient only
reads messages whose parent is the request it sent.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from queue import Empty
from typing import TYPE_CHECKING, Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.blocking import BlockingKernelClient
from jupyter_core.utils import ensure_async, run_sync

if TYPE_CHECKING:
    from jupyter_client import KernelManager

PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


class KernelDiedError(RuntimeError):
    """The kernel process ended before it was ready."""


def write_unbound_connection_file(km: KernelManager) -> None:
    """Give `km` a connection file whose ports are all 0: the kernel picks free ones."""
    from jupyter_client.connect import secure_write
    from jupyter_core.paths import jupyter_runtime_dir

    if not km.connection_file:
        os.makedirs(jupyter_runtime_dir(), exist_ok=True)
        km.connection_file = os.path.join(jupyter_runtime_dir(), f"kernel-{uuid.uuid4()}.json")
    info = {
        "transport": km.transport,
        "ip": km.ip,
        "key": km.session.key.decode("ascii"),
        "signature_scheme": km.session.signature_scheme,
        "kernel_name": km.kernel_name,
        **dict.fromkeys(PORTS, 0),
    }
    with secure_write(km.connection_file) as handle:
        json.dump(info, handle)
    km._connection_file_written = True  # jupyter_client must not choose ports itself


def load_bound_ports(km: KernelManager, timeout: float) -> None:
    """Wait until the kernel has written the ports it bound into its connection file; load them.

    KernelDiedError when its process ends first, TimeoutError after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(km.connection_file, encoding="utf-8") as handle:
                info = json.load(handle)
        except (OSError, ValueError):  # being rewritten
            info = {}
        if all(info.get(name) for name in PORTS):
            km.load_connection_info(info)
            return
        if not km.is_alive():
            raise KernelDiedError("the kernel died while starting (before binding its ports)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the kernel did not bind its ports within {timeout:g} s")
        time.sleep(0.005)


# How long IOPub may take to deliver a request's status before kernel_info is sent again:
# messages published before the subscription reached the kernel are lost (ZeroMQ's slow
# joiner), which on loopback lasts a few milliseconds.
IOPUB_GRACE_S = 0.02


class _ReadyWait:
    """The readiness wait, for the asynchronous client and the blocking one alike."""

    def start_channels(
        self: Any,
        shell: bool = True,
        iopub: bool = True,
        stdin: bool = True,
        hb: bool = True,
        control: bool = True,
    ) -> None:
        """The channels without the heartbeat: the runner's clients belong to a KernelManager,
        which tells whether the kernel lives from its process. On a busy machine the heartbeat
        thread misses beats and re-creates its socket each time, and a run ended with
        `ZMQError: Too many open files` printed from that thread."""
        super().start_channels(  # type: ignore[misc]
            shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control
        )

    async def _wait_until_ready(self: Any, timeout: float | None = None) -> None:
        """Return once the kernel answered kernel_info on the shell channel and on IOPub."""
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        sent: set[str] = set()
        while True:
            msg_id = self.kernel_info()
            sent.add(msg_id)
            reply = await self._reply_to(msg_id, deadline)
            if reply is not None and await self._iopub_saw(sent, IOPUB_GRACE_S):
                self._handle_kernel_info_reply(reply)
                return
            if not await self._async_is_alive():
                raise KernelDiedError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _reply_to(self: Any, msg_id: str, deadline: float) -> dict[str, Any] | None:
        """The shell reply to `msg_id`, or None after a second (or at the deadline) without."""
        until = min(deadline, time.monotonic() + 1.0)
        while (left := until - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.shell_channel.get_msg(timeout=left))
            except Empty:
                return None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    async def _iopub_saw(self: Any, msg_ids: set[str], seconds: float) -> bool:
        """Whether IOPub delivers a message caused by one of `msg_ids` within `seconds`."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.iopub_channel.get_msg(timeout=left))
            except Empty:
                return False
            if msg["parent_header"].get("msg_id") in msg_ids:
                return True
        return False


class ReadyKernelClient(_ReadyWait, AsyncKernelClient):  # type: ignore[misc]
    """An AsyncKernelClient whose wait_for_ready does not wait for IOPub to fall quiet."""

    wait_for_ready = _ReadyWait._wait_until_ready
    # AsyncKernelClient binds wait_for_ready to the base class's function, not by name.
    _async_wait_for_ready = _ReadyWait._wait_until_ready


class ReadyBlockingKernelClient(_ReadyWait, BlockingKernelClient):  # type: ignore[misc]
    """The blocking flavour (the kernel pool waits with it in its own threads)."""

    wait_for_ready = run_sync(_ReadyWait._wait_until_ready)


def ready_blocking_client(km: KernelManager) -> ReadyBlockingKernelClient:
    """A blocking client of `km`'s kernel, as `km.blocking_client()` makes one."""
    client = ReadyBlockingKernelClient(parent=km)
    client.load_connection_info(km.get_connection_info())
    return client
