"""Deploy a registered model as a real HTTP service in its own process.

:func:`deploy` starts ``labkit serve`` (uvicorn serving :mod:`labkit.deployment.service`) as a child
process on 127.0.0.1, waits until ``/health`` answers, and returns a
:class:`Deployment` handle. The process ends on ``.stop()``, when the handle is
garbage-collected, when the interpreter exits, and, through a pipe the server watches,
when the parent process dies however it dies: no orphans are left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any

import httpx
import pandas as pd

from labkit.deployment.client import ModelClient
from labkit.errors import DeploymentError
from labkit.registry import Registry

__all__ = ["Deployment", "deploy"]


class Deployment:
    """A running deployment: one server process serving one model version.

    Made by :func:`deploy`; use it as a context manager, or call :meth:`stop`.

    Parameters
    ----------
    process
        The server process.
    url
        The service's base URL, such as ``http://127.0.0.1:54321``.
    name, version, alias
        What it serves.
    token
        The API token the service expects, if any.
    workdir
        A private folder holding the server's log; removed on stop.
    """

    def __init__(
        self,
        *,
        process: subprocess.Popen[bytes],
        url: str,
        name: str,
        version: int,
        alias: str | None,
        token: str | None,
        workdir: Path,
    ) -> None:
        self._process = process
        self._url = url
        self._name = name
        self._version = version
        self._alias = alias
        self._token = token
        self._workdir = workdir
        self._client: ModelClient | None = None
        # finalize holds no reference to self, so it runs when the handle is collected
        # or at interpreter exit, whichever comes first: the process never outlives us.
        self._finalizer = weakref.finalize(self, _shutdown, process, workdir, 10.0)

    @property
    def url(self) -> str:
        """The service's base URL."""
        return self._url

    @property
    def port(self) -> int:
        """The port the service listens on: pass it to :func:`deploy` to start it again at the same URL."""
        return int(urlsplit(self._url).port)

    @property
    def name(self) -> str:
        """The served model's name."""
        return self._name

    @property
    def version(self) -> int:
        """The version served now: a deployment that follows its alias changes version when the alias moves."""
        if self.running:
            try:
                answer = httpx.get(f"{self._url}/health", timeout=2.0)
                self._version = int(answer.json()["model_version"])
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass  # busy or stopping: the last version seen is the best answer there is
        return self._version

    def wait_for_version(self, version: int, *, timeout: float = 10.0) -> None:
        """Return once the service answers with ``version`` (after a promote or rollback moved its alias).

        Raises
        ------
        DeploymentError
            If it still serves another version after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.version != version:
            if time.monotonic() > deadline or not self.running:
                raise DeploymentError(
                    f"expected the service to serve version {version} within {timeout:g} s; it serves version "
                    f"{self._version}; fix: check that the alias points at it (reg.aliases(name)) and read dep.log, "
                    "which says why a version was refused"
                )
            time.sleep(0.05)

    @property
    def alias(self) -> str | None:
        """The alias the version was chosen by, if any."""
        return self._alias

    @property
    def pid(self) -> int:
        """The server process id."""
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self._process.poll() is None

    @property
    def log(self) -> str:
        """What the server has printed so far."""
        return _read_log(self._workdir)

    def __repr__(self) -> str:
        # No URL here: its port changes every run, and notebooks show this repr.
        state = "running" if self.running else "stopped"
        return f"Deployment(name={self._name!r}, version={self.version}, alias={self._alias!r}, {state})"

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def headers(self) -> dict[str, str]:
        """The headers a client needs: the token, when the service has one."""
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    @property
    def client(self) -> ModelClient:
        """A :class:`ModelClient` for this service, with its token: what other systems use."""
        if self._client is None:
            self._client = ModelClient(self._url, token=self._token, timeout=60.0)
        return self._client

    def health(self) -> dict[str, Any]:
        """Ask the service's ``/health`` endpoint."""
        self._require_running()
        return self.client.health()

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Send ``frame`` to ``/predict`` over HTTP and return the answers as a frame.

        Parameters
        ----------
        frame
            One row per record, with (at least) the model's input columns.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``frame``: ``prediction``, one ``proba_<class>`` column per class
            for classifiers, ``model_version`` and ``request_id``.

        Raises
        ------
        ServiceError
            The service refused the request; ``.status`` and ``.detail`` say why.
        DeploymentError
            The server process has stopped.
        """
        self._require_running()
        return self.client.predict(frame)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and wait for its process to end; safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._finalizer.alive:
            self._finalizer.detach()
            _shutdown(self._process, self._workdir, timeout)

    def _require_running(self) -> None:
        if not self.running:
            raise DeploymentError(
                f"expected a running deployment of {self._name!r}; its process has stopped "
                f"(exit status {self._process.returncode}); fix: deploy it again"
            )


def deploy(
    registry: Registry | str | os.PathLike[str],
    name: str,
    *,
    alias: str | None = None,
    version: int | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    max_rows: int = 10_000,
    trusted: tuple[str, ...] = (),
    store: str | os.PathLike[str] | None = None,
    follow: bool = True,
    shadow: str | None = None,
    timeout: float = 60.0,
) -> Deployment:
    """Serve a registered model over HTTP in a new process, and wait until it answers.

    Parameters
    ----------
    registry
        The registry, or its folder.
    name
        The registered model to serve.
    alias, version
        Which version: by alias or number; ``alias="champion"`` if neither is given.
    host
        Where to listen: 127.0.0.1 keeps the service private to this machine.
    port
        The port; 0 picks a free one (see ``.url``).
    token
        If set, clients must send ``Authorization: Bearer <token>``.
    max_rows
        The largest batch the service accepts.
    trusted
        Exact type names to allow beyond the trust list (see :mod:`labkit.trust`): the
        names the version was registered with, if it needed any.
    store
        A prediction store's file (see :class:`labkit.PredictionStore`): every prediction
        is committed there before it is answered, and ``/feedback`` attaches late labels;
        requests it refuses are kept there too (:meth:`labkit.PredictionStore.refusals`).
    follow
        With an alias: when ``reg.promote`` or ``reg.rollback`` moves the alias, the running
        service serves the version it now points at within about a second, without a
        restart and without failing a request; every answer names the version that made
        it. ``False`` keeps the version the service started with.
    shadow
        An alias (such as ``"challenger"``) to run in shadow: after each answer, its version
        scores the same records, and its predictions go to the store
        (:meth:`labkit.PredictionStore.shadow`), never to a client. It cannot change, delay
        or fail an answer. Needs ``store``.
    timeout
        Seconds to wait for the service to answer before giving up.

    Returns
    -------
    Deployment
        The running deployment.

    Raises
    ------
    NotFoundError, IntegrityError, UntrustedModelError
        The model cannot be served (unknown name, a changed file, a type outside the trust
        list): checked here, before any server starts.
    DeploymentError
        The server did not start (port taken, ...); the message ends with the server's
        own log.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> import labkit as lk
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"wind": rng.normal(size=40)})
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> _ = reg.register(LogisticRegression().fit(X, X.wind > 0), name="demo", X=X)
    >>> _ = reg.promote("demo", version=1, alias="champion")
    >>> with lk.deploy(reg, "demo") as dep:
    ...     dep.predict(pd.DataFrame({"wind": [2.0, -2.0]}))["prediction"].tolist()
    [True, False]
    """
    root = Path(registry.root if isinstance(registry, Registry) else registry).resolve()
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise DeploymentError(f"expected a port from 0 to 65535 (0 picks a free one); got {port!r}; fix: pass port=0")
    if alias is None and version is None:
        alias = "champion"
    # Check the model here, where the caller sees the error, before starting a server for it.
    Registry(root).verify(name, alias=alias, version=version, trusted=trusted)
    workdir = Path(tempfile.mkdtemp(prefix="labkit-deploy-"))
    command = [
        sys.executable, "-m", "labkit", "serve",
        "--registry", str(root), "--model", name,
        "--host", host, "--port", str(port),
        "--max-rows", str(max_rows),
        "--port-file", str(workdir / "port"), "--exit-with-parent",
    ]
    command += ["--alias", alias] if alias is not None else ["--version", str(version)]
    for type_name in trusted:
        command += ["--trust", type_name]
    if store is not None:
        command += ["--store", str(Path(store).resolve())]
    if not follow:
        command.append("--no-follow")
    if shadow is not None:
        if store is None:
            raise DeploymentError(
                f"expected store= with shadow={shadow!r}: the shadow's predictions are kept there; got no store; "
                "fix: pass store='workspace/monitor.db'"
            )
        Registry(root).get(name, alias=shadow)  # an unknown alias is the caller's mistake: say so here
        command += ["--shadow", shadow]
    environment = dict(os.environ)
    if token is not None:
        # Passed in the environment, not the command line, which other users can list.
        environment["LABKIT_TOKEN"] = token
    with open(workdir / "server.log", "wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=workdir
        )
    what = f"model {name!r} ({f'alias {alias!r}' if alias is not None else f'version {version}'})"
    try:
        url, health = _wait_until_ready(process, workdir, host, timeout, what)
    except DeploymentError as error:
        _end_process(process, 5.0)
        log_text = _read_log(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        raise DeploymentError(str(error), log=log_text) from None
    except BaseException:
        _shutdown(process, workdir, 5.0)
        raise
    return Deployment(
        process=process, url=url, name=name, version=health["model_version"], alias=alias, token=token,
        workdir=workdir,
    )


def _wait_until_ready(
    process: subprocess.Popen[bytes], workdir: Path, host: str, timeout: float, what: str
) -> tuple[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DeploymentError(
                f"expected the server for {what} to start; it exited with status {process.returncode}; "
                "fix: read the server log below (an unknown model or a port in use are the usual causes)"
            )
        if url is None and (workdir / "port").exists():
            url_host = f"[{host}]" if ":" in host else host
            url = f"http://{url_host}:{(workdir / 'port').read_text()}"
        if url is not None:
            try:
                response = httpx.get(f"{url}/health", timeout=1.0)
                if response.status_code == 200:
                    return url, response.json()
            except httpx.TransportError:
                pass  # not listening yet: the model is still loading
        time.sleep(0.05)
    raise DeploymentError(
        f"expected the server for {what} to answer /health within {timeout:g} s; it did not; "
        "fix: read the server log below, or pass a longer timeout="
    )


def _shutdown(process: subprocess.Popen[bytes], workdir: Path, timeout: float) -> None:
    """End the server process and remove its folder."""
    _end_process(process, timeout)
    shutil.rmtree(workdir, ignore_errors=True)


def _end_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Ask the server to stop, force it after ``timeout`` seconds, and reap it (no zombie)."""
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_log(workdir: Path) -> str:
    try:
        return (workdir / "server.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
