"""Serve the prediction form as a web page, for people who never open a notebook.

``labkit app`` runs Voilà on a notebook that ships inside labkit (``labkit/apps``): Voilà
executes it and shows only its widgets, so a user sees a form and a model card, no code.
The notebook learns which service to call from the environment Voilà passes to its kernel.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import socket
import subprocess
import sys
from collections.abc import Iterable

from labkit.deployment import ModelClient, deploy
from labkit.errors import DeploymentError
from labkit.registry import Registry

__all__ = ["serve_app"]


def serve_app(
    *,
    url: str | None = None,
    token: str | None = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    name: str | None = None,
    alias: str | None = None,
    version: int | None = None,
    trusted: Iterable[str] = (),
    host: str = "127.0.0.1",
    port: int = 8866,
) -> int:
    """Serve the prediction form with Voilà until interrupted; return the exit status.

    Give either the ``url`` of a running labkit service, or a ``registry`` and model
    ``name`` to deploy (stopped again when the app stops).

    Parameters
    ----------
    url, token
        A running service and its token, if it has one.
    registry, name, alias, version, trusted
        What to deploy instead, as for :func:`labkit.deploy`.
    host, port
        Where the page is served: http://127.0.0.1:8866 by default.

    Returns
    -------
    int
        Voilà's exit status: 0 after Ctrl+C.

    Raises
    ------
    ValueError
        Neither or both of ``url`` and ``registry`` were given.
    ServiceUnavailableError
        Nothing answers at ``url``.
    DeploymentError
        The page's port is taken.
    """
    if (url is None) == (registry is None):
        raise ValueError(
            f"expected either url= (a running service) or registry= and name= (a model to deploy); "
            f"got url={url!r}, registry={registry!r}; fix: pass one of them"
        )
    # Checked before anything starts or is announced: Voilà would only say so after both.
    _require_free(host, port)
    with contextlib.ExitStack() as stack:
        if registry is not None:
            if name is None:
                raise ValueError("expected name= with registry=; got none; fix: name the registered model")
            dep = stack.enter_context(
                deploy(registry, name, alias=alias, version=version, token=token, trusted=tuple(trusted))
            )
            url = dep.url
        else:
            # Said here, in the terminal, rather than as an error inside the page.
            ModelClient(url, token=token, retries=1).health()
        notebook = stack.enter_context(importlib.resources.as_file(importlib.resources.files("labkit.apps") / "predict_form.ipynb"))
        environment = {**os.environ, "LABKIT_APP_URL": url}
        if token is not None:
            environment["LABKIT_TOKEN"] = token  # the environment, not argv, which other users can list
        command = [
            sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
            f"--Voila.ip={host}", "--Voila.port_retries=0", "--VoilaConfiguration.show_tracebacks=False",
        ]
        print(f"labkit app: the form for {url} on http://{host}:{port} (Ctrl+C to stop)", flush=True)
        try:
            return subprocess.call(command, env=environment)
        except KeyboardInterrupt:
            return 0


def _require_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise DeploymentError(
                f"expected to serve the page on {host}:{port}; got {error.strerror or error}; "
                "fix: pass another --port (port=), or stop the program using this one"
            ) from None
