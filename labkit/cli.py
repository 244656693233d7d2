"""The ``labkit`` command: parses arguments and hands them to the API.

``labkit serve`` runs a model service in the foreground, ``labkit score`` scores a CSV
file (through a service or in process, resumable), ``labkit app`` serves a prediction form
to end users, ``labkit lab`` opens JupyterLab on the course notebooks, ``labkit doctor``
checks the installed stack, ``labkit release`` writes student versions of the notebooks and
``labkit batch`` runs and grades them for a whole class.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``labkit`` command line; return the exit status.

    Examples
    --------
    >>> main(["--help"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 2
    return arguments.run(arguments)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="Deploy, integrate, monitor and maintain models.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve a registered model over HTTP (in the foreground)")
    serve.add_argument("--registry", required=True, help="the registry folder")
    serve.add_argument("--model", required=True, help="the registered model's name")
    which = serve.add_mutually_exclusive_group()
    which.add_argument("--alias", help="serve the version this alias points at (default: champion)")
    which.add_argument("--version", type=int, help="serve this version number")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    serve.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' (or set LABKIT_TOKEN)")
    serve.add_argument("--max-rows", type=_positive, default=10_000, help="largest batch accepted (default: 10000)")
    serve.add_argument(
        "--trust", action="append", default=[], metavar="TYPE",
        help="also trust this exact type name in the model file (repeat for several)",
    )
    serve.add_argument("--store", default=None, metavar="PATH", help="log every prediction to this SQLite file")
    serve.add_argument(
        "--shadow", default=None, metavar="ALIAS",
        help="also run the version of this alias (e.g. challenger) in shadow on every request; needs --store",
    )
    serve.add_argument(
        "--no-follow", action="store_true",
        help="keep serving the version the alias held at start, even when it is promoted or rolled back",
    )
    serve.add_argument("--port-file", help=argparse.SUPPRESS)
    serve.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    score = commands.add_parser(
        "score", help="score every row of a CSV file, through a service or in process; rerun to resume",
        description="Score every row of INPUT with a model and write OUTPUT: the input's columns, then prediction, "
        "proba_<class> and model_version. Refused rows go to the errors file. If a run is interrupted, the same "
        "command continues where it stopped. Exit status: 0 all rows scored, 1 some refused, 2 usage error.",
    )
    score.add_argument("input", metavar="INPUT", help="the CSV file to score, with a header line")
    score.add_argument("output", metavar="OUTPUT", help="the CSV file to write (it must not exist, unless a run of this job wrote it)")
    where = score.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="score through the model service at this URL")
    where.add_argument("--registry", help="or score in this process with a model from this registry folder")
    score.add_argument("--token", default=None, help="the service's token, with --url (or set LABKIT_TOKEN)")
    score.add_argument("--model", help="the registered model's name, with --registry")
    version = score.add_mutually_exclusive_group()
    version.add_argument("--alias", help="with --registry: the version this alias points at (default: champion)")
    version.add_argument("--version", type=int, help="with --registry: this version number")
    score.add_argument("--chunk-size", type=_positive, default=10_000, help="lines per chunk (default: 10000)")
    score.add_argument("--errors", default=None, help="where refused rows go (default: OUTPUT with suffix .errors.csv)")
    score.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    score.set_defaults(run=_score)

    lab = commands.add_parser("lab", help="open JupyterLab on the course notebooks")
    lab.add_argument("--notebooks", default=None, help="the notebooks folder (default: the kit's notebooks/)")
    lab.add_argument("--port", type=_port, default=8888, help="JupyterLab's port (default: 8888)")
    lab.set_defaults(run=_lab)

    app = commands.add_parser("app", help="serve the prediction form as a web page for end users (Voila)")
    source = app.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="a running labkit service")
    source.add_argument("--registry", help="deploy a model from this registry folder (with --model)")
    app.add_argument("--model", help="the registered model's name (with --registry)")
    which = app.add_mutually_exclusive_group()
    which.add_argument("--alias", help="deploy the version this alias points at (default: champion)")
    which.add_argument("--version", type=int, help="deploy this version number")
    app.add_argument("--token", default=None, help="the service's token (or set LABKIT_TOKEN)")
    app.add_argument("--trust", action="append", default=[], metavar="TYPE", help="also trust this exact type name")
    app.add_argument("--host", default="127.0.0.1", help="address to serve the page on (default: 127.0.0.1)")
    app.add_argument("--port", type=_port, default=8866, help="port of the page (default: 8866)")
    app.set_defaults(run=_app)

    doctor = commands.add_parser("doctor", help="check the installed versions of labkit's stack")
    doctor.set_defaults(run=_doctor)

    release = commands.add_parser(
        "release", help="write student versions of the course's notebooks (solutions out, checkpoints locked)",
        description="Write the student version of every notebook under SRC_DIR into OUT_DIR: code between "
        "### BEGIN SOLUTION and ### END SOLUTION becomes '# YOUR CODE HERE' and 'raise NotImplementedError()', "
        "outputs are cleared, checkpoint cells are kept and locked.",
    )
    release.add_argument("source", metavar="SRC_DIR", help="the instructor's notebooks (never changed)")
    release.add_argument("out", metavar="OUT_DIR", help="where the student versions go (outside SRC_DIR)")
    release.add_argument("--force", action="store_true", help="replace student versions already in OUT_DIR")
    release.set_defaults(run=_release)

    batch = commands.add_parser(
        "batch", help="run notebooks, or every student's submission, headless and in parallel; grade them",
        description="Run each NOTEBOOK (for each parameter set of --params), or with --submissions each student's "
        "copy of it, every run in its own folder and kernel with time, memory and output limits. Writes "
        "OUT/gradebook.csv, OUT/report.html, OUT/results.json and the executed notebooks under OUT/notebooks/. "
        "Exit status: 0 every run passed, 1 some did not, 2 usage error.",
    )
    batch.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="the instructor's notebooks")
    batch.add_argument("--out", required=True, metavar="DIR", help="the output folder")
    batch.add_argument("--submissions", metavar="DIR", help="one subfolder per student, holding their notebooks")
    batch.add_argument("--params", metavar="FILE", help="a YAML or JSON parameter grid; each notebook runs per set")
    batch.add_argument("--workers", type=_positive, default=None, metavar="N", help="runs at a time (default: the number of cores)")
    batch.add_argument("--timeout", type=_positive, default=600, metavar="S", help="seconds per notebook (default: 600)")
    batch.add_argument("--memory", type=_positive, default=4096, metavar="MB", help="memory per kernel (default: 4096)")
    batch.add_argument("--max-output", type=_positive, default=10, metavar="MB", help="output per notebook (default: 10)")
    batch.add_argument("--scheduler", metavar="ADDRESS", help="run on this Dask scheduler (tcp://host:8786)")
    batch.add_argument("--retry-failed", action="store_true", help="rerun only the runs in OUT that did not finish")
    batch.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    batch.set_defaults(run=_batch)
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535 (0 picks a free one); got {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1; got {text!r}")
    return int(text)


def _serve(arguments: argparse.Namespace) -> int:
    from labkit.errors import DeploymentError, RegistryError
    from labkit.registry import Registry
    from labkit.deployment.server import run
    from labkit.deployment.service import ServiceSettings

    alias = arguments.alias if arguments.alias is not None or arguments.version is not None else "champion"
    settings = ServiceSettings(
        registry=str(Path(arguments.registry).resolve()),
        name=arguments.model,
        alias=alias,
        version=arguments.version,
        token=arguments.token or os.environ.get("LABKIT_TOKEN") or None,
        max_rows=arguments.max_rows,
        trusted=tuple(arguments.trust),
        store=str(Path(arguments.store).resolve()) if arguments.store else None,
        follow=not arguments.no_follow,
        shadow=arguments.shadow,
    )
    if settings.shadow is not None and settings.store is None:
        print("labkit serve: expected --store with --shadow (the shadow's predictions go there); got none; "
              "fix: add --store PATH", file=sys.stderr)
        return 2
    try:
        # Refuse an unknown model, a changed file or an untrusted type before binding the port.
        Registry(settings.registry).verify(
            settings.name, alias=settings.alias, version=settings.version, trusted=settings.trusted
        )
    except RegistryError as error:
        print(f"labkit serve: {error}", file=sys.stderr)
        return 1
    try:
        return run(
            settings,
            host=arguments.host,
            port=arguments.port,
            port_file=arguments.port_file,
            exit_with_parent=arguments.exit_with_parent,
        )
    except DeploymentError as error:
        print(f"labkit serve: {error}", file=sys.stderr)
        return 1


def _app(arguments: argparse.Namespace) -> int:
    from labkit.errors import LabkitError
    from labkit.integration.webapp import serve_app

    if arguments.registry is not None and arguments.model is None:
        print("labkit app: expected --model NAME with --registry; got none; fix: add --model weather", file=sys.stderr)
        return 2
    try:
        return serve_app(
            url=arguments.url,
            token=arguments.token or os.environ.get("LABKIT_TOKEN") or None,
            registry=arguments.registry,
            name=arguments.model,
            alias=arguments.alias,
            version=arguments.version,
            trusted=arguments.trust,
            host=arguments.host,
            port=arguments.port,
        )
    except LabkitError as error:
        print(f"labkit app: {error}", file=sys.stderr)
        return 1
def _score(arguments: argparse.Namespace) -> int:
    from labkit.deployment.client import ModelClient
    from labkit.errors import LabkitError
    from labkit.integration.scoring import score_file
    from labkit.registry import Registry

    if arguments.url is not None and (arguments.model or arguments.alias or arguments.version is not None):
        return _usage("score", "expected no --model, --alias or --version with --url (the service decides what it "
                      "serves); got some; fix: drop them, or score in process with --registry DIR --model NAME")
    if arguments.registry is not None and (arguments.model is None or arguments.token is not None):
        return _usage("score", "expected --model NAME with --registry, and no --token (a token is for a service); "
                      f"got --model {arguments.model!r}, --token {'set' if arguments.token else 'unset'}; "
                      "fix: add --model NAME, drop --token")
    client = None
    if arguments.url is not None:
        # A 10,000-row chunk can take seconds on a busy machine: wait for it rather than retry it.
        token = arguments.token or os.environ.get("LABKIT_TOKEN") or None
        client = ModelClient(arguments.url, token=token, timeout=120.0)
    try:
        model = None
        if arguments.registry is not None:
            alias = arguments.alias if arguments.alias is not None or arguments.version is not None else "champion"
            model = Registry(arguments.registry).get(arguments.model, alias=alias, version=arguments.version)
        report = score_file(
            arguments.input, arguments.output, client=client, model=model, chunk_size=arguments.chunk_size,
            errors=arguments.errors, progress=not arguments.no_progress,
        )
    except KeyboardInterrupt:
        print(
            "labkit score: interrupted; every chunk written so far is kept; run the same command again to continue",
            file=sys.stderr,
        )
        return 130
    except (LabkitError, OSError) as error:
        return _usage("score", str(error))
    finally:
        if client is not None:
            client.close()
    print(report)
    return report.exit_status


def _usage(command: str, message: str) -> int:
    print(f"labkit {command}: {message}", file=sys.stderr)
    return 2


def _lab(arguments: argparse.Namespace) -> int:
    notebooks = Path(arguments.notebooks) if arguments.notebooks else Path(__file__).resolve().parents[1] / "notebooks"
    if not notebooks.is_dir():
        print(
            f"labkit lab: expected a notebooks folder; got {str(notebooks)!r}, which does not exist; "
            "fix: pass --notebooks DIR, or install labkit from its source folder with pip install -e .",
            file=sys.stderr,
        )
        return 2
    command = [
        sys.executable, "-m", "jupyterlab",
        f"--notebook-dir={notebooks}", "--ip=127.0.0.1", f"--port={arguments.port}",
    ]
    # JupyterLab refuses to run as root unless told to; containers and CI often are root.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return subprocess.call(command)


def _release(arguments: argparse.Namespace) -> int:
    from labkit.course.release import release
    from labkit.errors import LabkitError

    try:
        written = release(arguments.source, arguments.out, overwrite=arguments.force)
    except LabkitError as error:
        return _usage("release", str(error))
    for path in written:
        print(path)
    return 0


def _batch(arguments: argparse.Namespace) -> int:
    from labkit.course.batch import batch
    from labkit.course.engine import Limits
    from labkit.course.grid import read_grid
    from labkit.errors import LabkitError

    try:
        book = batch(
            arguments.notebooks,
            out=arguments.out,
            submissions=arguments.submissions,
            params=read_grid(arguments.params) if arguments.params else None,
            workers=arguments.workers,
            limits=Limits(timeout_s=arguments.timeout, memory_mb=arguments.memory, max_output_mb=arguments.max_output),
            scheduler=arguments.scheduler,
            retry_failed=arguments.retry_failed,
            progress=not arguments.no_progress,
        )
    except LabkitError as error:
        return _usage("batch", str(error))
    passed = sum(row.status == "passed" for row in book.rows)
    print(f"{passed} of {len(book.rows)} runs passed; gradebook: {Path(arguments.out) / 'gradebook.csv'}, "
          f"report: {Path(arguments.out) / 'report.html'}")
    return 0 if passed == len(book.rows) else 1


def _doctor(arguments: argparse.Namespace) -> int:
    from labkit.doctor import diagnose

    report = diagnose()
    print(report)
    return 0 if report.ok else 1
