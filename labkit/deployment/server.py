"""Run the service in this process with uvicorn: what ``labkit serve`` and :func:`labkit.deploy` start."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from labkit._files import write_atomic
from labkit.errors import DeploymentError
from labkit.deployment.service import ServiceSettings, create_app

__all__ = ["run"]

# How long a server whose parent died may take to finish its requests before it is ended.
_GRACE_SECONDS = 5.0


def run(
    settings: ServiceSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    port_file: str | os.PathLike[str] | None = None,
    exit_with_parent: bool = False,
) -> int:
    """Serve ``settings`` on ``host:port`` until stopped; return the process exit status.

    Parameters
    ----------
    settings
        What to serve.
    host, port
        Where to listen; port 0 picks a free port.
    port_file
        If given, the port actually bound is written there once listening starts, so a
        parent that asked for port 0 learns which one it got.
    exit_with_parent
        Stop when standard input closes. A parent keeps a pipe to the server's standard
        input open; when the parent exits or is killed, the system closes the pipe, so
        the server never outlives the notebook kernel that started it.

    Returns
    -------
    int
        0 after a clean shutdown, 3 if the app failed to start (for example, an unknown model).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if sys.platform != "win32":
        # On POSIX this only allows reuse after a recent close; on Windows it would let two
        # servers share a port, so it stays off there.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except socket.gaierror as error:
        sock.close()
        raise DeploymentError(
            f"expected an address of this machine to listen on; got {host!r} ({error.strerror or error}); "
            "fix: use 127.0.0.1 (this machine only) or 0.0.0.0 (every network interface)"
        ) from None
    except OSError as error:
        sock.close()
        raise DeploymentError(
            f"expected to listen on {host}:{port}; got {error.strerror or error}; "
            "fix: choose another port, or stop the program using this one"
        ) from None
    # No access log (predictions are the record worth keeping) and no proxy-header
    # rewriting: the service listens directly, not behind a proxy.
    config = uvicorn.Config(
        create_app(settings), log_level="info", access_log=False, proxy_headers=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    if exit_with_parent:
        threading.Thread(target=_exit_when_stdin_closes, args=(server,), daemon=True).start()
    bound = sock.getsockname()[1]
    if port_file is not None:
        write_atomic(Path(port_file), str(bound).encode())
    where = f"[{host}]" if ":" in host else host
    print(f"labkit serve: {settings.name} on http://{where}:{bound} (docs at /docs; Ctrl+C to stop)", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has already shut down gracefully and re-raised Ctrl+C for us
    except SystemExit as exit:
        # uvicorn exits with 3 when the app fails to start, e.g. an unknown model; its
        # log already says why, and the caller decides what the process does next.
        return int(exit.code or 0)
    return 0 if server.started else 3


def _exit_when_stdin_closes(server: uvicorn.Server) -> None:
    # os.read, not sys.stdin: a buffered reader blocked in a daemon thread holds a lock
    # that makes interpreter shutdown abort when the server stops for another reason.
    try:
        while os.read(sys.stdin.fileno(), 1024):
            pass
    except (OSError, ValueError):
        pass
    server.should_exit = True
    time.sleep(_GRACE_SECONDS)
    os._exit(0)
