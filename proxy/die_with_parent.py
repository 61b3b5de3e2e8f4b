"""Become a command that the kernel signals when the process that started it dies (Linux only).

``python -I -S die_with_parent.py PARENT_PID SIGNAL COMMAND [ARG ...]``, as :class:`proxy.processes.
ManagedProcess` runs it: arm ``prctl(PR_SET_PDEATHSIG, SIGNAL)``, then exec ``COMMAND`` in this same
process. The setting survives the exec (except into a set-user-ID program), so ``COMMAND`` is signalled
even when its parent is killed with SIGKILL and cannot stop it, and no stale LiteLLM proxy keeps its port.

Why a wrapper rather than ``preexec_fn``: Python run between fork and exec can deadlock in a parent that has
threads (subprocess warns about it); here it runs in a fresh single-threaded interpreter. ``-I -S`` keep that
interpreter quick and independent of the child's environment (only the standard library is used).

The kernel clears the setting in children of ``COMMAND``; they are reached through ``COMMAND``'s own handling
of SIGNAL (hence SIGTERM: uvicorn, and LiteLLM through it, stop their workers on it).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["main"]

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    parent, signum, command = int(argv[0]), int(argv[1]), argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    if os.getppid() != parent:  # it died before the signal was armed, so the signal will never come
        return 1
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc.strerror}", file=sys.stderr, flush=True)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
