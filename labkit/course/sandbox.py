"""The wrapper every graded kernel starts under: its own session, a memory limit, no terminal.

The batch runner puts this file in front of the kernel's command line::

    python -I sandbox.py --memory-mb 2048 --log kernel.log -- python -m ipykernel_launcher -f ...

It starts a new session (so the kernel and every process it starts share one process
group, which the runner kills as one), caps the address space with ``RLIMIT_AS`` (an
allocation past it raises ``MemoryError`` in the student's cell; children inherit the
cap, each its own), turns off core dumps, sends the kernel's own stdout and stderr to a
log file, then replaces itself with the kernel. It runs as a script with ``python -I``
and imports only the standard library, so it starts in milliseconds.

Works where ``resource`` exists (Linux, macOS; macOS does not enforce ``RLIMIT_AS``).
"""

from __future__ import annotations

import argparse
import os

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Apply the limits, then exec the command after ``--`` (never returns)."""
    parser = argparse.ArgumentParser(prog="sandbox.py")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space cap in MB; 0 for none")
    parser.add_argument("--log", default=os.devnull, help="where the kernel's own stdout and stderr go")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    arguments = parser.parse_args(argv)
    command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
    if not command:
        parser.error("expected a command after --; got none")

    try:
        os.setsid()
    except (AttributeError, OSError):  # jupyter_client has already made it a session leader
        pass
    try:
        import resource
    except ImportError:  # Windows: no limits to set
        resource = None
    if resource is not None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if arguments.memory_mb > 0:
            cap = arguments.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    log = os.open(arguments.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
