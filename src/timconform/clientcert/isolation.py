"""Run certify-client in a network namespace of its own, where loopback is the only network.

The adapter is someone else's program. The proxy variables steer a well-behaved client to the run's
emulator, but a client that ignores them would reach whatever the machine reaches, the real service
included. On Linux, an unprivileged user and network namespace (`unshare --user --map-root-user --net`)
gives the whole run (emulator, proxies and adapter) a network with loopback alone: nothing the adapter
does can leave the machine. Where the platform does not allow it, the run goes on unisolated and the
report says so.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence

INSIDE = "TIMCONFORM_ISOLATED"  # set in the re-executed command: it runs inside the namespace
UNSHARE = ("--user", "--map-root-user", "--net")
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def inside() -> bool:
    return os.environ.get(INSIDE) == "1"


def unavailable() -> str | None:
    """Why the run cannot be isolated here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux's, and this is {sys.platform}"
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    probe = subprocess.run(["unshare", *UNSHARE, "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"unshare was refused ({' '.join(probe.stderr.split())[:120] or f'exit {probe.returncode}'})"
    return None


def rerun_inside(argv: Sequence[str]) -> int:
    """Run this same command again inside a new namespace; forward SIGTERM and SIGINT; return its exit code."""
    from timconform.clientcert.runner import die_with_parent

    command = ["unshare", *UNSHARE, sys.executable, "-m", "timconform.cli", *argv]
    # The run inside dies with this process, whatever kills it (its adapter then dies with the run in turn).
    child = subprocess.Popen(command, env={**os.environ, INSIDE: "1"}, preexec_fn=die_with_parent)

    def forward(signum, frame):
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def loopback_up() -> None:
    """A new network namespace starts with its loopback down: bring it up (SIOCSIFFLAGS on "lo")."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
