"""Run one notebook as the batch runner does: papermill's engine, a sandboxed kernel, hard limits.

Each run gets a fresh temporary folder that is the kernel's working directory, ``HOME``
and ``TMPDIR``; an environment with only what a kernel needs (none of the instructor's
tokens); a kernel started under :mod:`labkit.course.sandbox` (its own session, a memory
cap); a deadline for the whole notebook, after which the kernel's process group is
killed; and a cap on the output it may produce. A cell that raises does not stop the
run (like nbgrader's autograder), so one broken exercise costs only its own checkpoints.

Every process a run starts carries a random ``LABKIT_RUN`` marker in its environment;
when the run ends, every process of this user that carries it is killed, so a student's
background process does not outlive the run. A process that clears its environment and
leaves the session escapes this; only a container or a separate user stops that.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = ["Limits", "Execution", "execute", "kill_marked", "clean_up_after"]

_log = logging.getLogger(__name__)

_SANDBOX = str(Path(__file__).with_name("sandbox.py"))
# What a kernel needs from the instructor's environment to find Python and labkit.
_PASSED_THROUGH = (
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "SYSTEMROOT",
)


@dataclass(frozen=True)
class Limits:
    """What one run may use.

    Parameters
    ----------
    timeout_s
        Seconds the notebook's cells may take together (kernel start-up not counted).
    memory_mb
        The kernel's address-space cap in MB (each process it starts gets the same cap).
    max_output_mb
        MB of output the notebook may produce before the run is stopped.
    """

    timeout_s: float = 600.0
    memory_mb: int = 4096
    max_output_mb: float = 10.0


@dataclass(frozen=True)
class Execution:
    """How one run ended.

    Attributes
    ----------
    status
        ``"completed"`` (every cell ran, some may have raised), ``"timeout"``, ``"killed"``
        (stopped for too much output, or the kernel died from a signal) or ``"error"``
        (the kernel could not start, or exited on its own).
    notebook
        The executed notebook, with every output collected up to the end.
    error
        Why the run stopped early; empty when it completed.
    cell
        The index of the cell that was running when it stopped; ``None`` when it completed.
    runtime_s
        Seconds from the first cell to the end.
    """

    status: str
    notebook: nbformat.NotebookNode
    error: str = ""
    cell: int | None = None
    runtime_s: float = 0.0


@dataclass
class _Watch:
    """What the client and the watchdog share about one run."""

    limits: Limits
    marker: str
    process: object = None
    cell: int | None = None
    started: float | None = None
    output_bytes: int = 0
    timed_out: bool = False
    output_cut: bool = False
    cut_cell: int | None = None  # where the runner stopped the run, once it has

    def kill(self) -> None:
        process = self.process
        # Only while the kernel lives: once it is reaped its pid may belong to another
        # process; whatever it left behind carries the marker.
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (OSError, AttributeError):  # no process groups (Windows), or already gone
                try:
                    process.kill()
                except OSError:
                    pass
        kill_marked(self.marker)


def clean_up_after(marker: str) -> None:
    """Kill the processes and remove the folder of a run whose runner died before it could.

    Examples
    --------
    >>> clean_up_after("no-such-run")
    """
    kill_marked(marker)
    for folder in Path(tempfile.gettempdir()).glob(f"labkit-run-{marker}-*"):
        shutil.rmtree(folder, ignore_errors=True)


def kill_marked(marker: str) -> None:
    """Kill every process of this user whose environment carries the run's marker."""
    import psutil

    for process in psutil.process_iter(["uids"]):
        try:
            if process.info["uids"] is not None and process.info["uids"].real != os.getuid():
                continue
            if process.environ().get("LABKIT_RUN") == marker:
                process.kill()
        except (psutil.Error, OSError):
            continue


def _client_class():
    # papermill and nbclient are imported when a run starts, not when labkit is imported.
    from jupyter_client.manager import AsyncKernelManager
    from nbformat.v4 import new_output
    from papermill.clientwrap import PapermillNotebookClient
    from traitlets import Instance, Integer, Unicode

    class SandboxedKernelManager(AsyncKernelManager):
        """A kernel manager that starts the kernel under labkit's sandbox wrapper."""

        memory_mb = Integer(0)
        log_path = Unicode("")

        def format_kernel_cmd(self, extra_arguments=None):
            command = super().format_kernel_cmd(extra_arguments)
            return [sys.executable, "-I", _SANDBOX, "--memory-mb", str(self.memory_mb), "--log", self.log_path,
                    "--", *command]

    class SandboxedClient(PapermillNotebookClient):
        """Papermill's client, watched: it records where it is and stops at the output cap."""

        watch = Instance(_Watch)

        def papermill_execute_cells(self):
            self.watch.process = self.km.provisioner.process
            self.watch.started = time.monotonic()
            return super().papermill_execute_cells()

        def output(self, outs, msg, display_id, cell_index):
            watch = self.watch
            if watch.output_cut:
                return None
            watch.output_bytes += len(json.dumps(msg.get("content", {}), default=str))
            if watch.output_bytes > watch.limits.max_output_mb * 1024 * 1024:
                watch.output_cut = True
                # The reply may have come before the flood was read, so the next cell
                # may start before the kill is noticed: remember which cell it was.
                watch.cut_cell = cell_index
                watch.kill()
                outs.append(new_output(
                    "stream", name="stderr",
                    text=f"\nlabkit batch: output stopped here, past the {watch.limits.max_output_mb:g} MB limit\n",
                ))
                return None
            return super().output(outs, msg, display_id, cell_index)

    return SandboxedKernelManager, SandboxedClient


def _environment(workdir: Path, marker: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    (workdir / "tmp").mkdir()
    env.update(
        HOME=str(workdir),
        USERPROFILE=str(workdir),
        TMPDIR=str(workdir / "tmp"),
        LABKIT_RUN=marker,
        MPLBACKEND="Agg",
        TQDM_DISABLE="1",  # progress bars off: they are noise in a graded notebook
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONDONTWRITEBYTECODE="1",
        # One thread per numerical library and two malloc arenas: runs side by side do
        # not fight over cores, and the address-space cap measures memory, not reservations.
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        MALLOC_ARENA_MAX="2",
    )
    return env


def _prepared(notebook: nbformat.NotebookNode, parameters: dict | None) -> nbformat.NotebookNode:
    from papermill.parameterize import parameterize_notebook

    nb = nbformat.reads(nbformat.writes(notebook), as_version=4)
    nb.metadata["papermill"] = {"parameters": {}, "environment_variables": {}}
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata["papermill"] = {}
    if parameters:
        nb = parameterize_notebook(nb, dict(parameters), kernel_name="python3", language="python")
    return nb


def execute(
    notebook: nbformat.NotebookNode,
    *,
    parameters: dict | None = None,
    limits: Limits = Limits(),
    marker: str | None = None,
) -> Execution:
    """Run a notebook in a sandboxed kernel, within limits; never raise because of what it does.

    Parameters
    ----------
    notebook
        The notebook to run (not changed; the executed copy is returned).
    parameters
        Values for papermill to inject after the cell tagged ``parameters``.
    limits
        Time, memory and output the run may use.
    marker
        The ``LABKIT_RUN`` value every process of the run carries (default: a random
        one), so that a caller can still kill them if the process calling this dies.

    Returns
    -------
    Execution
        The status, the executed notebook and, if it stopped early, why and where.
    """
    from nbclient.exceptions import DeadKernelError
    from papermill.engines import NotebookExecutionManager

    manager_class, client_class = _client_class()
    nb = _prepared(notebook, parameters)
    watch = _Watch(limits=limits, marker=marker or secrets.token_hex(16))
    workdir = Path(tempfile.mkdtemp(prefix=f"labkit-run-{watch.marker}-"))
    manager = manager_class(
        kernel_name="python3",
        memory_mb=limits.memory_mb,
        log_path=str(workdir / "kernel.log"),
        connection_file=str(workdir / "kernel.json"),
    )
    nb_man = NotebookExecutionManager(nb, output_path=None, progress_bar=False)
    client = client_class(
        nb_man, km=manager, watch=watch, kernel_name="python3", allow_errors=True, timeout=None,
        startup_timeout=120, raise_on_iopub_timeout=False, log=_log,
        # Wait for all of a cell's output before the next cell starts, however much it
        # floods: the watchdog's deadline bounds the wait, and output is never misfiled.
        iopub_timeout=int(limits.timeout_s) + 1,
        on_cell_execute=lambda cell, cell_index: setattr(watch, "cell", cell_index),
    )
    done = threading.Event()

    def watchdog() -> None:
        while not done.wait(0.2):
            if watch.started is not None and time.monotonic() - watch.started > limits.timeout_s:
                watch.timed_out = True
                watch.cut_cell = watch.cell
                watch.kill()
                return

    threading.Thread(target=watchdog, name="labkit-run-watchdog", daemon=True).start()
    failure: BaseException | None = None
    nb_man.notebook_start()
    try:
        client.execute(env=_environment(workdir, marker=watch.marker), cwd=str(workdir), cleanup_kc=True)
    except DeadKernelError as error:
        failure = error
    except Exception as error:  # a kernel that does not start, or a client that gives up
        failure = error
    finally:
        done.set()
        watch.kill()
        runtime = time.monotonic() - watch.started if watch.started is not None else 0.0
        try:
            nb_man.notebook_complete()
        except Exception:  # papermill's bookkeeping must not hide how the run ended
            pass
        shutil.rmtree(workdir, ignore_errors=True)
    executed = nb_man.nb
    stopped = watch.output_cut or watch.timed_out
    cell = watch.cut_cell if stopped else watch.cell if failure is not None else None
    where = f" in cell {cell + 1}" if cell is not None else ""
    if watch.timed_out:
        return Execution("timeout", executed, f"timed out after {limits.timeout_s:g} s{where}", cell, runtime)
    if watch.output_cut:
        return Execution(
            "killed", executed, f"stopped: output past the {limits.max_output_mb:g} MB limit{where}", cell, runtime
        )
    if failure is None:
        return Execution("completed", executed, "", None, runtime)
    code = watch.process.poll() if watch.process is not None else None
    if watch.process is None:
        return Execution("error", executed, f"the kernel did not start: {failure}", None, runtime)
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return Execution("killed", executed, f"the kernel was killed by {name}{where}", cell, runtime)
    return Execution("error", executed, f"the kernel exited with status {code}{where}", cell, runtime)

