"""Batch scoring: a model over a CSV file of any size, in chunks, resumable after any stop.

:func:`score_file` is what a nightly job runs. It reads the input a chunk of lines at a
time, checks every row against the model's schema, scores the rows that pass (in this
process, or through a :class:`labkit.ModelClient` and the model's service) and appends
them to the output. Memory depends on the chunk size, never on the size of the file.

The output holds every input column, exactly as the input wrote it, then ``prediction``,
one ``proba_<class>`` per class and ``model_version``, in the input's row order. Rows the
schema refuses, and lines that are not a record of the header's width, go to an errors
file with their line number in the input and the reason. Nothing is dropped silently:
rows read = rows scored + rows refused.

Where the model runs changes nothing in the output. Each chunk is checked here with
:meth:`labkit.Schema.frame_from_columns`, the check the service itself runs, and the frame
it builds is what the model sees: in this process, or sent as JSON to the service, which
rebuilds the same frame. The same input gives the same bytes either way.

Resuming. After each chunk, both files are flushed to the disk (``fsync``); only then is
the job's progress file replaced, atomically, by one that records what is now committed:
how far into the input, how many bytes of each file, and the counts. A run that finds a
progress file cuts both files back to the committed bytes and goes on with the next
chunk. So a kill at any moment, even halfway through a write, costs at most the chunk in
flight, and a job finished after any number of interruptions holds the same bytes as one
that never stopped. The progress file also records the input's identity and the model
version, so a run with another input or version refuses to mix them into one output.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np, pandas as pd
>>> from sklearn.linear_model import LogisticRegression
>>> import labkit as lk
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"wind": rng.normal(size=40)})
>>> reg = lk.Registry(tempfile.mkdtemp())
>>> entry = reg.register(LogisticRegression().fit(X, X.wind > 0), name="demo", X=X, y=X.wind > 0)
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "days.csv").write_text("day,wind\\nmon,2.0\\ntue,calm\\nwed,-2.0\\n")
>>> report = score_file(folder / "days.csv", folder / "scored.csv", model=entry, progress=False)
>>> print((folder / "scored.csv").read_text(), end="")  # doctest: +ELLIPSIS
day,wind,prediction,proba_False,proba_True,model_version
mon,2.0,True,0.00396...,0.99603...,1
wed,-2.0,False,0.99602...,0.00397...,1
>>> print((folder / "scored.errors.csv").read_text(), end="")
line,reason,input
3,"column 'wind': expected a JSON number; got ""calm"" (a string); fix: send a JSON number","tue,calm"
>>> report.rows_read, report.rows_scored, report.rows_refused
(3, 2, 1)
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd
from tqdm.auto import tqdm

from labkit._files import write_atomic
from labkit.deployment.client import ModelClient
from labkit.deployment.predictor import Predictor
from labkit.errors import DataError, SchemaError, ScoringJobError, ServiceError, ServiceUnavailableError
from labkit.registry import ModelVersion, Registry
from labkit.schema import Problem, Schema

__all__ = ["ScoringReport", "score_file"]

# Bumped when the progress file changes shape, so an old one is refused rather than misread.
_PROGRESS_FORMAT = 1
_ERRORS_HEADER = b"line,reason,input\n"
# The columns the output adds; an input that already has one would make the output ambiguous.
_ADDED = ("prediction", "model_version")
_ADDED_PREFIX = "proba_"
# The input's identity includes a hash of its first bytes: enough to tell two files of the
# same size apart, cheap for a file of any size.
_HEAD_BYTES = 1 << 16
# How a CSV file writes booleans; anything else reaches the schema as text, which refuses it.
_BOOLEANS = {"True": True, "true": True, "TRUE": True, "1": True, "False": False, "false": False, "FALSE": False, "0": False}
# Text that parses as a number but not a finite one: it reaches the schema as that number,
# and the schema refuses it as the service would (an empty cell is a missing value).
_NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
# read_csv converts these kinds itself, fast; a chunk with a value it cannot convert is
# read again as text and converted value by value, so the schema can name the row.
_FAST_DTYPES = {"float": "float64", "integer": "Int64"}


@dataclass(frozen=True)
class ScoringReport:
    """What one call of :func:`score_file` did, and what the job's output now holds.

    Parameters
    ----------
    rows_read
        Records read from the input since the job began, over every run: ``rows_scored +
        rows_refused``.
    rows_scored
        Rows written to the output with their prediction.
    rows_refused
        Rows written to the errors file instead: refused by the schema, or not a CSV
        record of the header's width.
    seconds
        Wall time of this call.
    output, errors
        The output file, and the errors file listing each refused row.
    model, model_version
        The model's name and the version that scored every row.
    resumed_after
        Rows already read by earlier, interrupted runs when this call began.
    already_complete
        The job had finished before this call, which scored nothing.

    Examples
    --------
    >>> report = ScoringReport(rows_read=10, rows_scored=9, rows_refused=1, seconds=0.5,
    ...     output=Path("scored.csv"), errors=Path("scored.errors.csv"), model="weather", model_version=3)
    >>> print(report)
    scored 9 of 10 rows with model 'weather' version 3 in 0.5 s (20 rows/s); 1 refused, listed in scored.errors.csv
    >>> report.exit_status
    1
    """

    rows_read: int
    rows_scored: int
    rows_refused: int
    seconds: float
    output: Path
    errors: Path
    model: str
    model_version: int
    resumed_after: int = 0
    already_complete: bool = False

    @property
    def exit_status(self) -> int:
        """0 when every row was scored, 1 when some were refused: what ``labkit score`` exits with."""
        return 1 if self.rows_refused else 0

    def __str__(self) -> str:
        what = f"{self.rows_scored:,} of {self.rows_read:,} rows with model {self.model!r} version {self.model_version}"
        if self.already_complete:
            text = f"already complete: {self.output} holds {what}; nothing to do"
        else:
            resumed = f", resumed after {self.resumed_after:,} rows" if self.resumed_after else ""
            rate = (self.rows_read - self.resumed_after) / self.seconds if self.seconds > 0 else 0.0
            text = f"scored {what} in {self.seconds:.1f} s ({rate:,.0f} rows/s){resumed}"
        refused = f"{self.rows_refused:,} refused, listed in {self.errors}" if self.rows_refused else "none refused"
        return f"{text}; {refused}"


def score_file(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    client: ModelClient | None = None,
    model: ModelVersion | None = None,
    chunk_size: int = 10_000,
    errors: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> ScoringReport:
    """Score every row of a CSV file, a chunk at a time; run it again to resume after any stop.

    Parameters
    ----------
    input
        A CSV file with a header line naming (at least) the model's input columns. An empty
        cell is a missing value.
    output
        The CSV file to write: the input's columns, then ``prediction``, one
        ``proba_<class>`` per class and ``model_version``. It must not exist yet, unless
        an earlier run of this same job wrote it.
    client
        Score through this model service.
    model
        Or score in this process with this registered version, such as
        ``reg.get("weather", alias="champion")``; it is loaded through its registry, with
        its checksum and types checked as a service would.
    chunk_size
        Lines per chunk: what is read, checked, scored and committed at once. Memory grows
        with it; a resumed job must use the same.
    errors
        Where refused rows go, one per line: the input line number, the reason and the
        line itself. By default ``output`` with the suffix ``.errors.csv``.
    progress
        Show a progress bar (on standard error, or as a widget in a notebook).

    Returns
    -------
    ScoringReport
        Rows read, scored and refused over the whole job, and where they went.

    Raises
    ------
    DataError
        The input is missing, empty, or lacks a column the model needs.
    ScoringJobError
        ``output`` holds another job's rows (another input, model version or chunk size),
        or is a file no scoring job wrote. The message says how to start over.
    ServiceError, ServiceUnavailableError
        The service refused the job, or could not be reached; progress up to the last
        complete chunk is kept, and running the same call again continues from there.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> import labkit as lk
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"wind": rng.normal(size=40)})
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> entry = reg.register(LogisticRegression().fit(X, X.wind > 0), name="demo", X=X, y=X.wind > 0)
    >>> _ = reg.promote("demo", version=1, alias="champion")
    >>> folder = Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"wind": rng.normal(size=25_000)}).to_csv(folder / "days.csv", index=False)
    >>> with lk.deploy(reg, "demo") as dep:  # doctest: +ELLIPSIS
    ...     print(score_file(folder / "days.csv", folder / "scored.csv", client=dep.client, progress=False))
    scored 25,000 of 25,000 rows with model 'demo' version 1 in ... s (... rows/s); none refused
    >>> print(score_file(folder / "days.csv", folder / "scored.csv", model=entry, progress=False))  # doctest: +ELLIPSIS
    already complete: ...scored.csv holds 25,000 of 25,000 rows with model 'demo' version 1; nothing to do; none refused
    """
    started = time.monotonic()
    source, target = Path(input), Path(output)
    errors_path = Path(errors) if errors is not None else target.with_suffix(".errors.csv")
    progress_path = target.with_suffix(".progress.json")
    _check_arguments(source, target, errors_path, progress_path, client, model, chunk_size)
    identity = _identity(source)
    scorer: _Scorer = _InProcess(model) if model is not None else _OverHTTP(client)  # type: ignore[arg-type]
    with open(source, "rb") as reader:
        layout = _layout(reader.readline(), scorer.schema, source)
        job = _Job.open(progress_path, target, errors_path, source, identity, scorer, chunk_size, layout)
        if job.complete:
            return job.report(time.monotonic() - started, resumed_after=job.rows_read, already_complete=True)
        resumed_after = job.rows_read
        reader.seek(job.input_offset)
        try:
            with _heap_frozen(), job.committer() as committer, tqdm(
                total=identity["size"], initial=job.input_offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"scoring {source.name}", disable=not progress, dynamic_ncols=True,
            ) as bar:
                chunks = (_check(chunk, layout) for chunk in _read_chunks(reader, chunk_size, job.next_line))
                for checked, answer in _scored(chunks, scorer):
                    job.commit(committer, checked, answer, scorer)
                    bar.update(checked.size)
                    bar.set_postfix_str(f"{job.rows_scored:,} scored, {job.rows_refused:,} refused", refresh=False)
                job.finish(committer, scorer)
        except ServiceError as error:
            # Raised once the committer has written what came before: say that it is kept.
            raise _progress_kept(error, job) from None
    return job.report(time.monotonic() - started, resumed_after=resumed_after)


def _progress_kept(error: ServiceError, job: _Job) -> ServiceError:
    note = (
        f"; the job keeps the {job.rows_read:,} rows it read before that: once the service answers, "
        "run the same command again to continue"
    )
    if isinstance(error, ServiceUnavailableError):
        return ServiceUnavailableError(f"{error}{note}", status=error.status)
    return ServiceError(f"{error}{note}", status=error.status, detail=error.detail)


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Leave the objects that exist before the job out of the garbage collector's walks.

    Each chunk makes tens of thousands of short-lived lists and dicts (an answer's JSON,
    a request's records), which set off collections, and each full one walks every object
    the process holds: pandas, scikit-learn, httpx, about a million. Frozen for the job,
    those are skipped; what is freed, and when the job's own objects are, is unchanged.
    Over HTTP this took a third of the client's time (see docs/benchmarks.md).
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _check_arguments(
    source: Path, target: Path, errors: Path, progress: Path, client: Any, model: Any, chunk_size: Any
) -> None:
    if (client is None) == (model is None):
        raise TypeError(
            f"expected exactly one of client= (score through a service) or model= (score in this process); "
            f"got {'both' if client is not None else 'neither'}; "
            "fix: pass client=lk.ModelClient(url) or model=reg.get(name, alias='champion')"
        )
    if client is not None and not isinstance(client, ModelClient):
        raise TypeError(
            f"expected client to be a labkit.ModelClient; got {type(client).__name__}; fix: pass lk.ModelClient(url)"
        )
    if model is not None and not isinstance(model, ModelVersion):
        raise TypeError(
            f"expected model to be a registered version (labkit.ModelVersion); got {type(model).__name__}; "
            "fix: pass reg.get(name, alias='champion')"
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"expected chunk_size to be a whole number of lines, at least 1; got {chunk_size!r}; fix: pass chunk_size=10_000")
    paths = {"input": source, "output": target, "errors": errors, "progress file": progress}
    resolved = {name: path.resolve() for name, path in paths.items()}
    if len(set(resolved.values())) < len(resolved):
        same = [name for name, path in resolved.items() if list(resolved.values()).count(path) > 1]
        raise DataError(
            f"expected the {', '.join(paths)} to be four different files; got {' and '.join(same)} at the same path; "
            "fix: choose another output or errors path"
        )
    if not target.parent.is_dir():
        raise DataError(
            f"expected the folder of the output {str(target)!r} to exist; got no such folder; fix: create it first"
        )


def _identity(source: Path) -> dict[str, Any]:
    """Size, modification time and a hash of the first bytes: what tells this input from another."""
    if not source.is_file():
        raise DataError(
            f"expected a CSV file to score at {str(source)!r}; got {'a folder' if source.is_dir() else 'no such file'}; "
            "fix: check the path"
        )
    stat = source.stat()
    with open(source, "rb") as file:
        head = file.read(_HEAD_BYTES)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head_sha256": hashlib.sha256(head).hexdigest()}


@dataclass(frozen=True)
class _Layout:
    """Where the model's columns are in each input record: read once, from the header."""

    header: bytes  # the header line as written, without its line break
    size: int  # bytes of the header line, with its line break
    width: int
    positions: tuple[int, ...]
    schema: Schema


def _layout(header: bytes, schema: Schema, source: Path) -> _Layout:
    if not header.strip():
        raise DataError(
            f"expected {str(source)!r} to start with a header line naming its columns; got an empty first line; "
            "fix: add the header, such as " + ",".join(schema.names)
        )
    try:
        # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name.
        names = next(csv.reader([header.decode("utf-8-sig").rstrip("\r\n")]))
    except UnicodeDecodeError as error:
        raise DataError(
            f"expected a UTF-8 header line in {str(source)!r}; got bytes that are not ({error}); "
            "fix: save the file as UTF-8"
        ) from None
    missing = [name for name in schema.names if name not in names]
    if missing:
        raise DataError(
            f"expected the header of {str(source)!r} to name the model's columns {list(schema.names)!r}; "
            f"got {names!r}, without {missing!r}; fix: add those columns, or rename yours to match"
        )
    twice = sorted({name for name in schema.names if names.count(name) > 1})
    taken = [name for name in names if name in _ADDED or name.startswith(_ADDED_PREFIX)]
    if twice or taken:
        what = f"{twice!r} more than once" if twice else f"{taken!r}, which the output adds"
        raise DataError(
            f"expected each of the header's columns once, none named {' or '.join(_ADDED)} or {_ADDED_PREFIX}...; "
            f"got {what}, in {str(source)!r}; fix: rename those columns"
        )
    return _Layout(
        header=header.rstrip(b"\r\n"),
        size=len(header),
        width=len(names),
        positions=tuple(names.index(name) for name in schema.names),
        schema=schema,
    )


@dataclass(frozen=True)
class _Answer:
    """A model's answer for the rows of one chunk, wherever it ran."""

    predictions: list[Any]
    probabilities: np.ndarray | None
    labels: list[str]
    version: Any  # the version that answered; a list if several did


class _Scorer:
    """Where the model runs: its name, version and schema, and one verb, ``score``."""

    name: str
    version: int
    schema: Schema
    labels: list[str] | None  # the class labels the registry recorded; None if it did not
    in_flight = 1  # chunks scored at once

    def score(self, frame: pd.DataFrame) -> _Answer:
        raise NotImplementedError


class _InProcess(_Scorer):
    def __init__(self, entry: ModelVersion) -> None:
        # A version lives in <root>/<name>/versions/<N> (see labkit.registry): loading it
        # through its registry checks its checksum and types, as a service's start does.
        model = Registry(entry.directory.parents[2]).load(entry.name, version=entry.version)
        self.name, self.version, self.schema = entry.name, entry.version, entry.schema
        self.labels = _labels(entry.meta.get("target"))
        # As the service does: NaN and infinity cannot pass the schema unless a column was
        # nullable in training, and then scikit-learn's own scan for them can be skipped.
        finite = not any(column.nullable for column in self.schema.columns)
        self._predictor = Predictor(model, assume_finite=finite)

    def score(self, frame: pd.DataFrame) -> _Answer:
        out = self._predictor.predict(frame)
        labels = [str(label) for label in out.get("classes", [])]
        return _Answer(out["predictions"].tolist(), out.get("probabilities"), labels, self.version)


class _OverHTTP(_Scorer):
    # Two requests at once: the service works on one while this process sends the next
    # or reads the answer to the last, so neither side waits for the other.
    in_flight = 2

    def __init__(self, client: ModelClient) -> None:
        info = client.model_info()
        self.name, self.version, self.schema = info["name"], info["version"], Schema.from_dict(info["schema"])
        self.labels = _labels(info.get("target"))
        self._client = client

    def score(self, frame: pd.DataFrame) -> _Answer:
        result = self._client.predict(frame)
        columns = [name for name in result.columns if name.startswith(_ADDED_PREFIX)]
        versions = result["model_version"].unique().tolist()
        probabilities = result[columns].to_numpy(dtype=np.float64) if columns else None
        version = versions[0] if len(versions) == 1 else versions
        return _Answer(result["prediction"].tolist(), probabilities, [name[len(_ADDED_PREFIX):] for name in columns], version)


def _labels(target: Any) -> list[str] | None:
    classes = target.get("classes") if isinstance(target, dict) else None
    return None if classes is None else [str(label) for label in classes]


@dataclass(frozen=True)
class _Chunk:
    """Records as read: each one's bytes (without its line break) and first line number."""

    records: list[bytes]
    text: bytes | None  # the records joined by line breaks, when that is what was read
    lines: list[int]
    widths: np.ndarray  # fields in each record
    unclosed: bool  # the last record opens a quoted field that never closes
    size: int  # bytes of input read
    line_count: int  # physical lines read


def _read_chunks(reader: IO[bytes], max_lines: int, first_line: int) -> Iterator[_Chunk]:
    while (chunk := _read_chunk(reader, max_lines, first_line)) is not None:
        first_line += chunk.line_count
        yield chunk


def _read_chunk(reader: IO[bytes], max_lines: int, first_line: int) -> _Chunk | None:
    lines = list(islice(reader, max_lines))
    if not lines:
        return None
    block = b"".join(lines)
    quoted = b'"' in block
    if quoted and block.count(b'"') % 2:
        # A quoted field may hold line breaks: read on until it closes, but at most as many
        # lines again, so that a stray quote cannot pull the rest of the file into memory.
        for line in islice(reader, max_lines):
            lines.append(line)
            if line.count(b'"') % 2:
                break
        block = b"".join(lines)
    size = len(block)
    if not block.endswith(b"\n"):
        block += b"\n"  # the file's last line may have no line break
    ends, commas, breaks, unclosed = _record_ends(block, quoted)
    if unclosed:
        # The line that opens the quote that never closes is the one at fault: it becomes
        # a record of its own (refused), and reading goes on from the line after it.
        opener = ends[-1] + 1 if len(ends) else 0
        cut = int(breaks[np.searchsorted(breaks, opener)]) + 1
        reader.seek(min(cut, size) - size, os.SEEK_CUR)
        block, size = block[:cut], min(cut, size)
        ends, commas, breaks, _ = _record_ends(block, quoted)
        ends = np.append(ends, cut - 1)
    starts = np.concatenate(([0], ends[:-1] + 1))
    widths = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
    numbers = first_line + np.searchsorted(breaks, starts)
    if quoted or b"\r" in block:
        records = [block[start:end] for start, end in zip(starts.tolist(), ends.tolist())]
        records = [record[:-1] if record.endswith(b"\r") else record for record in records]
        return _Chunk(records, None, numbers.tolist(), widths, unclosed, size, len(breaks))
    return _Chunk(block.split(b"\n")[:-1], block, numbers.tolist(), widths, unclosed, size, len(breaks))


def _record_ends(block: bytes, quoted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Where records end, where their separating commas are, where lines end, and whether a quote is left open."""
    data = np.frombuffer(block, dtype=np.uint8)
    breaks = np.flatnonzero(data == 10)
    if not quoted:
        return breaks, np.flatnonzero(data == 44), breaks, False
    # Inside a quoted field, a comma or a line break is data: a character is inside when
    # an odd number of quotes came before it in the chunk. Parity is all that matters, so
    # a uint8 running count that wraps around is enough.
    outside = (np.cumsum(data == 34, dtype=np.uint8) & 1) == 0
    ends = np.flatnonzero((data == 10) & outside)
    commas = np.flatnonzero((data == 44) & outside)
    return ends, commas, breaks, not bool(outside[-1])


@dataclass(frozen=True)
class _Checked:
    """A chunk after the checks: the rows to score, as the model's frame, and the refusals."""

    records: list[bytes]
    lines: list[int]
    scored: list[int]  # positions in the chunk of the rows in ``frame``
    frame: pd.DataFrame | None
    refused: list[tuple[int, str]]  # (position, reason), in the input's order
    size: int
    line_count: int


def _check(chunk: _Chunk, layout: _Layout) -> _Checked:
    records = chunk.records
    refused: dict[int, str] = {}
    for position in np.flatnonzero(chunk.widths != layout.width).tolist():
        got = "an empty line" if not records[position] else str(chunk.widths[position])
        refused[position] = (
            f"expected {layout.width} comma-separated fields, as in the header; got {got}; "
            'fix: quote a value that holds a comma ("a,b"), or give the line its missing fields'
        )
    if chunk.unclosed:
        refused[len(records) - 1] = (
            "expected the quote this line opens to be closed by another; got none; "
            'fix: close the quoted field, and write a quote inside one as two ("")'
        )
    candidates = list(range(len(records)))
    text = chunk.text if chunk.text is not None else b"\n".join(records) + b"\n"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        for position, text in enumerate(records):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as error:
                refused.setdefault(
                    position, f"expected UTF-8 text; got {error.reason} at byte {error.start}; fix: save the file as UTF-8"
                )
    if refused:
        candidates = [i for i in candidates if i not in refused]
    if refused:
        text = b"".join(records[i] + b"\n" for i in candidates)
    frame, passed, problems = None, [], {}
    if candidates:
        frame, passed, problems = _checked_frame(layout.schema, _values(text, layout), len(candidates))
    refused.update((candidates[i], reason) for i, reason in problems.items())
    return _Checked(
        records=records,
        lines=chunk.lines,
        scored=candidates if len(passed) == len(candidates) else [candidates[i] for i in passed],
        frame=frame,
        refused=sorted(refused.items()),
        size=chunk.size,
        line_count=chunk.line_count,
    )


def _values(data: bytes, layout: _Layout) -> dict[str, list[Any]]:
    """The model's columns in ``data`` (records, each ending with a line break) as lists of
    JSON-like values: what a service's request would carry."""
    options: dict[str, Any] = {
        "header": None, "usecols": list(layout.positions), "keep_default_na": False, "na_values": [""],
        "skip_blank_lines": False, "encoding": "utf-8",
    }
    dtypes = {
        position: _FAST_DTYPES.get(column.kind, object) for position, column in zip(layout.positions, layout.schema.columns)
    }
    try:
        frame, fast = pd.read_csv(io.BytesIO(data), dtype=dtypes, **options), True
    except ValueError:
        frame, fast = pd.read_csv(io.BytesIO(data), dtype=object, **options), False
    return {
        column.name: _column_values(column.kind, frame[position], fast)
        for position, column in zip(layout.positions, layout.schema.columns)
    }


def _column_values(kind: str, series: pd.Series, fast: bool) -> list[Any]:
    """One column as Python values, ``None`` for an empty cell; text that is no value of the
    column's kind stays text, so the schema refuses it with the service's own words."""
    if fast and kind == "float":
        array = series.to_numpy()
        values = array.tolist()
        for i in np.flatnonzero(np.isnan(array)).tolist():
            values[i] = None
        return values
    if fast and kind == "integer":
        return series.to_numpy(dtype=object, na_value=None).tolist()
    texts = series.tolist()
    missing = np.flatnonzero(series.isna().to_numpy()).tolist()
    if kind in ("float", "integer"):
        numbers = pd.to_numeric(series, errors="coerce")
        values = numbers.tolist()
        for i in np.flatnonzero(numbers.isna().to_numpy()).tolist():
            text = texts[i]
            values[i] = float(text) if isinstance(text, str) and text.strip().lower() in _NON_FINITE else text
    elif kind == "boolean":
        values = [_BOOLEANS.get(text, text) if isinstance(text, str) else text for text in texts]
    else:
        values = texts
    for i in missing:
        values[i] = None
    return values


def _checked_frame(schema: Schema, values: dict[str, list[Any]], n_rows: int) -> tuple[pd.DataFrame | None, list[int], dict[int, str]]:
    """Check rows with the schema; return the frame of those that pass, their positions, and why the others failed.

    A schema error names the first offending row of each column, not every one, so a
    chunk that fails is checked again in halves, without the rows already named: a
    chunk with no bad row costs one check, one with a few costs a few more.
    """
    refused: dict[int, list[str]] = {}
    pending = [list(range(n_rows))]
    while pending:
        rows = pending.pop()
        part = values if len(rows) == n_rows else {name: [column[i] for i in rows] for name, column in values.items()}
        try:
            frame = schema.frame_from_columns(part, n_rows=len(rows))
        except SchemaError as error:
            named = set()
            for problem in error.problems:
                if problem.row is None:
                    raise  # a whole column is wrong: no row is to blame (the header was checked)
                refused.setdefault(rows[problem.row], []).append(_reason(problem))
                named.add(problem.row)
            rest = [row for i, row in enumerate(rows) if i not in named]
            if len(rest) > 1:
                pending += [rest[len(rest) // 2 :], rest[: len(rest) // 2]]
            elif rest:
                pending.append(rest)
        else:
            if len(rows) == n_rows:
                return frame, rows, {}  # the usual case: every row passed the first check
    passed = [row for row in range(n_rows) if row not in refused]
    part = {name: [column[i] for i in passed] for name, column in values.items()}
    frame = schema.frame_from_columns(part, n_rows=len(passed)) if passed else None
    return frame, passed, {row: "; ".join(reasons) for row, reasons in refused.items()}


def _reason(problem: Problem) -> str:
    return f"column {problem.column!r}: {problem.message}" if problem.column is not None else problem.message


def _scored(chunks: Iterator[_Checked], scorer: _Scorer) -> Iterator[tuple[_Checked, _Answer | None]]:
    """Each checked chunk with its answer, in order; later chunks are read while earlier ones are scored.

    The model runs in worker threads: while the service (or the model's native code)
    works on a chunk, this thread writes the chunk before it and reads the one after, so
    on two cores neither waits for the other. At most ``scorer.in_flight + 1`` chunks
    are in memory here.
    """
    with ThreadPoolExecutor(max_workers=scorer.in_flight, thread_name_prefix="labkit-score") as pool:
        pending: deque[tuple[_Checked, Future[_Answer] | None]] = deque()
        for checked in chunks:
            pending.append((checked, pool.submit(scorer.score, checked.frame) if checked.frame is not None else None))
            if len(pending) > scorer.in_flight:
                yield _answered(pending.popleft())
        while pending:
            yield _answered(pending.popleft())


def _answered(item: tuple[_Checked, Future[_Answer] | None]) -> tuple[_Checked, _Answer | None]:
    checked, future = item
    return checked, future.result() if future is not None else None


class _Job:
    """The job's progress file: what the output and errors files hold, committed chunk by chunk."""

    def __init__(self, path: Path, output: Path, errors: Path, header: bytes, state: dict[str, Any]) -> None:
        self._path, self._output, self._errors, self._header_line, self._state = path, output, errors, header, state

    @classmethod
    def open(
        cls, path: Path, output: Path, errors: Path, source: Path, identity: dict[str, Any], scorer: _Scorer,
        chunk_size: int, layout: _Layout,
    ) -> _Job:
        errors_name = os.path.relpath(errors, output.parent)
        if not path.exists():
            for existing in (output, errors):
                if existing.exists():
                    raise ScoringJobError(
                        f"expected {str(existing)!r} not to exist, or a progress file {str(path)!r} from the run that "
                        "wrote it; got the file without one, so it is not a job to continue; "
                        "fix: delete or move it, or choose another output",
                        progress_file=str(path),
                    )
            state = {
                "format": _PROGRESS_FORMAT, "input": {"path": str(source.resolve()), **identity},
                "model": {"name": scorer.name, "version": scorer.version}, "chunk_size": chunk_size,
                "errors": errors_name, "columns": None, "input_offset": layout.size, "next_line": 2,
                "rows_read": 0, "rows_scored": 0, "rows_refused": 0, "output_bytes": 0, "errors_bytes": 0,
                "complete": False,
            }
            job = cls(path, output, errors, layout.header, state)
            # Recorded before either file is created: a run that dies in between leaves a
            # job that has committed nothing, which the next run simply continues.
            job._save()
            return job
        try:
            state = orjson.loads(path.read_bytes())
            if not isinstance(state, dict) or state.get("format") != _PROGRESS_FORMAT:
                raise ValueError(f"format {state.get('format') if isinstance(state, dict) else None!r}")
        except (ValueError, OSError) as error:
            raise ScoringJobError(
                f"expected {str(path)!r} to be a labkit scoring progress file (format {_PROGRESS_FORMAT}); got one "
                f"that cannot be read ({error}); fix: {_start_over(output, errors, path)}",
                progress_file=str(path),
            ) from None
        job = cls(path, output, errors, layout.header, state)
        job._check_same(source, identity, scorer, chunk_size, errors_name)
        return job

    def _check_same(self, source: Path, identity: dict[str, Any], scorer: _Scorer, chunk_size: int, errors_name: str) -> None:
        state, so_far = self._state, f"the {self._state['rows_read']:,} rows {self._output} holds so far"
        recorded = state["input"]
        if any(recorded[key] != identity[key] for key in identity):
            raise ScoringJobError(
                f"expected the input that {so_far} came from ({recorded['path']}, {recorded['size']:,} bytes, "
                f"modified {_when(recorded['mtime_ns'])}); got {source} ({identity['size']:,} bytes, modified "
                f"{_when(identity['mtime_ns'])}), another file or a changed one; fix: run again with the original "
                f"input unchanged, or {_start_over(self._output, self._errors, self._path)}",
                progress_file=str(self._path),
            )
        if state["model"] != {"name": scorer.name, "version": scorer.version}:
            model = state["model"]
            raise ScoringJobError(
                f"expected model {model['name']!r} version {model['version']}, which scored {so_far}; got "
                f"{scorer.name!r} version {scorer.version}, and one output never mixes two versions; fix: score with "
                f"version {model['version']} (--version {model['version']}, or a service that serves it), or "
                f"{_start_over(self._output, self._errors, self._path)}",
                progress_file=str(self._path),
            )
        if state["chunk_size"] != chunk_size and not state["complete"]:
            raise ScoringJobError(
                f"expected chunk size {state['chunk_size']}, which {so_far} were scored with; got {chunk_size}; "
                f"fix: run again with --chunk-size {state['chunk_size']} (chunk_size={state['chunk_size']})",
                progress_file=str(self._path),
            )
        if state["errors"] != errors_name:
            recorded_errors = self._output.parent / state["errors"]
            raise ScoringJobError(
                f"expected the errors file {str(recorded_errors)!r}, which holds the refusals so far; got "
                f"{str(self._errors)!r}; fix: run again with --errors {recorded_errors} (errors=...)",
                progress_file=str(self._path),
            )

    @property
    def complete(self) -> bool:
        return bool(self._state["complete"])

    @property
    def input_offset(self) -> int:
        return int(self._state["input_offset"])

    @property
    def next_line(self) -> int:
        return int(self._state["next_line"])

    @property
    def rows_read(self) -> int:
        return int(self._state["rows_read"])

    @property
    def rows_scored(self) -> int:
        return int(self._state["rows_scored"])

    @property
    def rows_refused(self) -> int:
        return int(self._state["rows_refused"])

    def committer(self) -> _Committer:
        """The output and errors files, cut back to what the job committed, ready to append to."""
        output = _open_at(self._output, self._state["output_bytes"], self)
        try:
            errors = _open_at(self._errors, self._state["errors_bytes"], self)
        except BaseException:
            output.close()
            raise
        return _Committer(output, errors, self._path)

    def commit(self, committer: _Committer, checked: _Checked, answer: _Answer | None, scorer: _Scorer) -> None:
        """Count one chunk's rows and refusals, and hand them to the committer with the new progress."""
        state = self._state
        output = b""
        if answer is not None:
            if answer.version != state["model"]["version"]:
                model = state["model"]
                raise ScoringJobError(
                    f"expected answers from model {model['name']!r} version {model['version']}, which scored the rows "
                    f"so far; got version {answer.version}: the service changed versions during the job; nothing of "
                    f"this chunk was written; fix: serve version {model['version']} again and rerun, or "
                    f"{_start_over(self._output, self._errors, self._path)}",
                    progress_file=str(self._path),
                )
            scored = checked.records if len(checked.scored) == len(checked.records) else [checked.records[i] for i in checked.scored]
            output = self._header(answer.labels) + _scored_lines(scored, answer)
        elif scorer.labels is not None:
            output = self._header(scorer.labels)
        refusals = _error_lines([(checked.lines[i], reason, checked.records[i]) for i, reason in checked.refused])
        if state["errors_bytes"] == 0:
            refusals = _ERRORS_HEADER + refusals
        state["input_offset"] += checked.size
        state["next_line"] += checked.line_count
        state["rows_read"] += len(checked.records)
        state["rows_scored"] += len(checked.scored)
        state["rows_refused"] += len(checked.refused)
        state["output_bytes"] += len(output)
        state["errors_bytes"] += len(refusals)
        committer.append(output, refusals, self._record())

    def finish(self, committer: _Committer, scorer: _Scorer) -> None:
        """Write what an empty job still needs (the headers), and record the job as complete."""
        state = self._state
        output = self._header(scorer.labels or []) if state["columns"] is None else b""
        refusals = _ERRORS_HEADER if state["errors_bytes"] == 0 else b""
        state["output_bytes"] += len(output)
        state["errors_bytes"] += len(refusals)
        state["complete"] = True
        committer.append(output, refusals, self._record())

    def report(self, seconds: float, *, resumed_after: int, already_complete: bool = False) -> ScoringReport:
        state = self._state
        return ScoringReport(
            rows_read=state["rows_read"], rows_scored=state["rows_scored"], rows_refused=state["rows_refused"],
            seconds=seconds, output=self._output, errors=self._errors, model=state["model"]["name"],
            model_version=state["model"]["version"], resumed_after=resumed_after, already_complete=already_complete,
        )

    def _header(self, labels: list[str]) -> bytes:
        """The output's header line the first time it is needed, checking the labels every time after."""
        columns = ["prediction", *(f"{_ADDED_PREFIX}{label}" for label in labels), "model_version"]
        if self._state["columns"] is None:
            self._state["columns"] = columns
            return self._header_line + b"," + b",".join(_cells(columns)) + b"\n"
        if self._state["columns"] != columns:
            raise ScoringJobError(
                f"expected the answers' columns {self._state['columns']!r}, as in the output's header; got {columns!r}; "
                f"fix: {_start_over(self._output, self._errors, self._path)}",
                progress_file=str(self._path),
            )
        return b""

    def _record(self) -> bytes:
        return orjson.dumps(self._state, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)

    def _save(self) -> None:
        write_atomic(self._path, self._record())


class _Committer:
    """Appends to the output and errors files and records progress, in order, in a thread of its own.

    ``fsync`` waits for the disk; done here, the next chunks are read and scored meanwhile.
    Each commit makes its bytes durable before its progress is recorded, and after a
    failed one nothing more is written, so the progress file never counts a byte that is
    not on the disk.
    """

    def __init__(self, output: IO[bytes], errors: IO[bytes], progress: Path) -> None:
        self._files = (output, errors)
        self._progress = progress
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labkit-commit")
        self._pending: deque[Future[None]] = deque()
        self._failed = False

    def __enter__(self) -> _Committer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        try:
            while self._pending:
                future = self._pending.popleft()
                # On the way out after an error, wait for the commits queued before it (they
                # save progress) without letting one of theirs hide the error that stopped us.
                future.result() if kind is None else future.exception()
        finally:
            self._pool.shutdown(wait=True)
            for file in self._files:
                file.close()

    def append(self, output: bytes, refusals: bytes, progress: bytes) -> None:
        """Queue one commit: append ``output`` and ``refusals``, make them durable, then write ``progress``."""
        # At most two commits wait their turn: memory stays bounded if the disk is slower than the model.
        while len(self._pending) >= 2:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, output, refusals, progress))

    def _write(self, output: bytes, refusals: bytes, progress: bytes) -> None:
        if self._failed:
            return
        try:
            for file, data in zip(self._files, (output, refusals)):
                if data:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
            write_atomic(self._progress, progress)
        except BaseException:
            self._failed = True
            raise


def _open_at(path: Path, committed: int, job: _Job) -> IO[bytes]:
    file = open(path, "ab")
    size = file.seek(0, os.SEEK_END)
    if size < committed:
        file.close()
        raise ScoringJobError(
            f"expected {str(path)!r} to hold at least the {committed:,} bytes the job committed; got {size:,}: it "
            f"was cut or replaced since; fix: {_start_over(job._output, job._errors, job._path)}",
            progress_file=str(job._path),
        )
    # What is past the committed bytes is a chunk that was being written when a run
    # stopped; it was never recorded, so it is cut off and written again.
    file.truncate(committed)
    return file


def _start_over(output: Path, errors: Path, progress: Path) -> str:
    return f"to start over, delete {str(output)!r}, {str(errors)!r} and {str(progress)!r}"


def _when(mtime_ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime_ns / 1e9))


def _scored_lines(records: list[bytes], answer: _Answer) -> bytes:
    """Each input record as it was, then the model's answer, for a chunk at once.

    The pieces of every line go into one list by slice assignment and are joined once:
    no Python loop over the rows, which would cost more than the model here.
    """
    n_rows = len(records)
    cells: list[list[bytes]] = [records, _cells(list(map(str, answer.predictions)))]
    if answer.probabilities is not None and answer.probabilities.shape[1] > 0:
        # orjson writes each float64 as the shortest text that reads back as the same
        # number (as repr does), and ten times faster than formatting them one by one.
        array = np.ascontiguousarray(answer.probabilities, dtype=np.float64)
        cells.append(orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2].split(b"],["))
    cells.append([b"%d\n" % answer.version] * n_rows)
    width = 2 * len(cells)
    pieces = [b","] * (width * n_rows)
    for j, column in enumerate(cells):
        pieces[2 * j :: width] = column
    # Each row is now: record , prediction , probabilities , version-and-line-break , ...
    # with the separator after the last piece standing where the next row begins: drop it.
    del pieces[width - 1 :: width]
    return b"".join(pieces)


def _cells(texts: list[str]) -> list[bytes]:
    """CSV cells: quoted only when a value holds a comma, a quote or a line break."""
    if not texts:
        return []
    joined = "\n".join(texts)
    if joined.count("\n") == len(texts) - 1 and not any(mark in joined for mark in ',"\r'):
        return joined.encode().split(b"\n")
    return [
        ('"' + text.replace('"', '""') + '"' if any(mark in text for mark in ',"\r\n') else text).encode()
        for text in texts
    ]


def _error_lines(rows: list[tuple[int, str, bytes]]) -> bytes:
    if not rows:
        return b""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows((line, reason, record.decode("utf-8", errors="replace")) for line, reason, record in rows)
    return buffer.getvalue().encode()
