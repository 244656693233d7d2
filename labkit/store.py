"""The prediction store: every prediction a service answered, and the labels that come later.

A real database, SQLite, the embedded default: one file, no server, safe for several
processes at once. Write-ahead logging (WAL) lets the monitoring notebook read while
services write, and a busy timeout makes a writer wait its turn instead of failing.

A service commits each prediction **before** it answers (many requests share one commit:
see :mod:`labkit.deployment.recorder`), so a prediction whose answer reached a client is
in the store even if the server is killed right after. ``synchronous=NORMAL`` keeps a
commit safe when the process dies, which is what a service's crash is; a power cut may
lose the last commits, a trade every WAL database offers.

A service also keeps the requests it refused (time, endpoint, status, error code), so
monitoring can read an error rate beside the latency of the requests it answered; see
:meth:`PredictionStore.refusals` and :func:`labkit.monitoring.service_over_time`.

Each request is one row of ``batches``, whatever its number of records: its records,
predictions and probabilities as JSON arrays. A service names the records of a request
``p-0``, ``p-1``, ... after one random prefix ``p`` and the store indexes that prefix
alone, so a 1000-record request is one insert and one index entry; ids given one by one
(:meth:`PredictionStore.log`) are indexed each, in ``request_ids``.
:meth:`PredictionStore.frame` spells every id out again, one row per record.

Labels arrive later (did it rain tomorrow?) and are attached by request id. A label for
an id the store does not know is reported back, never dropped silently; a second label
for the same id is refused, never overwritten.

Examples
--------
>>> import tempfile, pathlib
>>> store = PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db")
>>> store.log([{"request_id": "r-0", "event_time": "2013-01-01T00:00:00+00:00", "model_name": "weather",
...             "model_version": 1, "inputs": {"wind": 3.2}, "prediction": True,
...             "probabilities": {"False": 0.3, "True": 0.7}, "latency_ms": 1.5}])
>>> store.add_labels(["r-0", "r-9"], [True, False], at="2013-01-02T00:00:00+00:00")
LabelReport(matched=1, unknown=['r-9'])
>>> store.frame()[["request_id", "wind", "prediction", "proba_True", "label"]]
  request_id  wind  prediction  proba_True label
0        r-0   3.2        True         0.7  True
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from labkit.errors import LabelError, LabkitError

__all__ = ["Batch", "LabelReport", "PredictionStore", "seconds_since_epoch"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id             INTEGER PRIMARY KEY,
    first_event    REAL NOT NULL,
    last_event     REAL NOT NULL,
    event_times    TEXT NOT NULL,
    arrival_time   REAL NOT NULL,
    model_name     TEXT NOT NULL,
    model_version  INTEGER NOT NULL,
    records        INTEGER NOT NULL,
    request_prefix TEXT,
    request_ids    TEXT,
    inputs         TEXT NOT NULL,
    predictions    TEXT NOT NULL,
    classes        TEXT,
    probabilities  TEXT,
    latency_ms     REAL
);
CREATE INDEX IF NOT EXISTS batches_by_time ON batches (first_event, last_event);
CREATE UNIQUE INDEX IF NOT EXISTS batches_by_prefix ON batches (request_prefix);
CREATE TABLE IF NOT EXISTS request_ids (
    request_id TEXT PRIMARY KEY,
    batch      INTEGER NOT NULL
) WITHOUT ROWID;
-- A request named by prefix p is refused if a listed id p-i numbers one of its records
-- (i written as a prefix writes it, below the record count): the same id named twice.
-- The ids that begin with "p-" sort between "p-" and "p." ("." follows "-"). In SQL, so
-- a commit of requests named by prefixes is one statement, checks and all.
CREATE TRIGGER IF NOT EXISTS prefix_not_listed BEFORE INSERT ON batches WHEN NEW.request_prefix IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a request id is named both by a prefix and by a list')
    FROM (SELECT substr(request_id, length(NEW.request_prefix) + 2) AS number FROM request_ids
          WHERE request_id > NEW.request_prefix || '-' AND request_id < NEW.request_prefix || '.')
    WHERE number <> '' AND number NOT GLOB '*[^0-9]*' AND (number = '0' OR number NOT GLOB '0*')
      AND CAST(number AS INTEGER) < NEW.records;
END;
CREATE TABLE IF NOT EXISTS labels (
    request_id TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    label_time REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    time      REAL NOT NULL,
    rule      TEXT NOT NULL,
    measure   TEXT NOT NULL,
    value     REAL,
    threshold REAL,
    message   TEXT NOT NULL,
    UNIQUE (time, rule)
);
CREATE TABLE IF NOT EXISTS refusals (
    event_time    REAL NOT NULL,
    arrival_time  REAL NOT NULL,
    endpoint      TEXT NOT NULL,
    status        INTEGER NOT NULL,
    error_code    TEXT NOT NULL,
    model_name    TEXT,
    model_version INTEGER
);
CREATE INDEX IF NOT EXISTS refusals_by_time ON refusals (event_time);
CREATE TABLE IF NOT EXISTS shadow (
    id            INTEGER PRIMARY KEY,
    first_event   REAL NOT NULL,
    event_times   TEXT NOT NULL,
    model_name    TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    request_ids   TEXT NOT NULL,
    predictions   TEXT NOT NULL,
    classes       TEXT,
    probabilities TEXT,
    latency_ms    REAL
);
CREATE INDEX IF NOT EXISTS shadow_by_time ON shadow (first_event);
"""

_INSERT_BATCHES = (
    "INSERT INTO batches (first_event, last_event, event_times, arrival_time, model_name, model_version, records, "
    "request_prefix, request_ids, inputs, predictions, classes, probabilities, latency_ms) VALUES "
)
_ONE_ROW = f"({', '.join('?' * 14)})"  # one placeholder per column above
# Rows of ``batches`` per INSERT: SQLite allows 32,766 parameters in one statement.
_ROWS_PER_INSERT = 1000
_ALERT_COLUMNS = ["time", "rule", "measure", "value", "threshold", "message"]
_LEAP_SECOND = re.compile(r"(\d\d:\d\d):60(?![\d])")
# Seconds a writer waits for another process's commit before it gives up.
_BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LabelReport:
    """What became of a batch of labels.

    Parameters
    ----------
    matched
        Labels attached to a logged prediction.
    unknown
        Request ids the store has no prediction for: nothing was attached to them.
    """

    matched: int
    unknown: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Batch:
    """One request's predictions, stored as one row: what a service commits.

    The store encodes the values itself (in :meth:`PredictionStore.log_batches`), so a
    service hands over what it already has and encoding runs in the thread that commits.

    Parameters
    ----------
    request_prefix, request_ids
        Exactly one of them. A prefix ``p`` names the records ``p-0``, ``p-1``, ... in
        order and costs one index entry for the whole request (what a service sends);
        ``request_ids`` lists one id per record, each indexed on its own.
    event_times
        One time per record, or one for all of them; seconds since 1970 (UTC).
    arrival_time
        When the request arrived.
    model_name, model_version
        What answered.
    inputs
        The records, column to value.
    predictions
        One per record (a list or an array).
    classes, probabilities
        The classes, and one row of probabilities per record (a list of lists or a 2-D
        array); ``None`` without them.
    latency_ms
        The request's time in the service.
    """

    request_prefix: str | None = None
    request_ids: Sequence[str] | None = None
    event_times: float | Sequence[float]
    arrival_time: float
    model_name: str
    model_version: int
    inputs: Sequence[Mapping[str, Any]]
    predictions: Sequence[Any]
    classes: Sequence[Any] | None
    probabilities: Sequence[Sequence[float]] | None
    latency_ms: float | None


class PredictionStore:
    """Logged predictions and their late labels, in one SQLite file.

    Parameters
    ----------
    path
        The database file; created, with its folder, on first use.
    autocheckpoint
        ``False``: a commit never copies the write-ahead log into the database file
        itself (SQLite does it every 4 MB, with a sync to disk that the commit then
        waits for); :meth:`checkpoint`, called from another thread, does it instead. A
        service's recorder works this way, so no request waits for that copy.
    """

    def __init__(self, path: str | os.PathLike[str], *, autocheckpoint: bool = True) -> None:
        self.path = Path(path)
        self.autocheckpoint = autocheckpoint
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        # One thread at a time on the connection: a service commits in one thread and
        # labels in another, and one connection holds one transaction, not one per thread.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PredictionStore({str(self.path)!r})"

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections; the store opens new ones if used again."""
        for connection in (self._connection, self._checkpointer):
            if connection is not None:
                connection.close()
        self._connection = self._checkpointer = None

    def checkpoint(self) -> None:
        """Copy what is committed from the write-ahead log into the database file.

        It runs on a connection of its own and waits for no writer (SQLite's passive
        checkpoint), so it may run in one thread while another commits. Nothing is
        more durable after it: a commit is kept from the moment it is in the log.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db", autocheckpoint=False)
        >>> store.log([{"request_id": "r-0", "model_name": "weather", "model_version": 1, "inputs": {"wind": 3.2},
        ...             "prediction": True, "probabilities": None, "latency_ms": 1.5}])
        >>> store.checkpoint()
        >>> len(store)
        1
        """
        if self._checkpointer is None:
            with self._lock:
                self._connect()  # the file exists, in WAL mode, before the checkpointer opens it
            # check_same_thread=False: a service checkpoints from a worker thread, one at a time.
            self._checkpointer = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def log(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Commit predictions, all or none: one row per predicted record.

        Parameters
        ----------
        rows
            Each with ``request_id``, ``event_time`` and ``arrival_time`` (ISO 8601 text,
            a datetime, or seconds since 1970), ``model_name``, ``model_version``,
            ``inputs`` (the record, column to value), ``prediction``, ``probabilities``
            (class to probability, or ``None``) and ``latency_ms``. ``arrival_time``
            defaults to now and ``event_time`` to the arrival time.

        Raises
        ------
        LabkitError
            A request id is already in the store (nothing of this batch is written).
        """
        now = time.time()
        batches: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
        for row in rows:
            batches.setdefault((row["model_name"], int(row["model_version"])), []).append(row)
        prepared = []
        for (name, version), group in batches.items():
            arrival = seconds_since_epoch(group[0].get("arrival_time"), default=now)
            probabilities = [row.get("probabilities") for row in group]
            classes = list(probabilities[0]) if probabilities and probabilities[0] is not None else None
            prepared.append(Batch(
                request_ids=[str(row["request_id"]) for row in group],
                event_times=[seconds_since_epoch(row.get("event_time"), default=arrival) for row in group],
                arrival_time=arrival,
                model_name=name,
                model_version=version,
                inputs=[row["inputs"] for row in group],
                predictions=[row["prediction"] for row in group],
                classes=classes,
                probabilities=None if classes is None else [[p[c] for c in classes] for p in probabilities],
                latency_ms=group[0].get("latency_ms"),
            ))
        self.log_batches(prepared)

    def log_batches(self, batches: Sequence[Batch]) -> None:
        """Commit whole requests, all or none: what a service does, many requests per commit.

        A request is one row whatever its number of records, and a request named by a
        prefix is one index entry, so a 1000-record request costs one insert, not 1000.
        The values are encoded as JSON here, in the thread that commits, not in the one
        that serves requests.

        Raises
        ------
        LabkitError
            A request id is already in the store, or a batch does not hold one value per
            record (nothing is written).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db")
        >>> store.log_batches([Batch(
        ...     request_prefix="7f3a", event_times=1356998400.0, arrival_time=1356998400.0, model_name="weather",
        ...     model_version=1, inputs=[{"wind": 3.2}, {"wind": 0.5}], predictions=[True, False],
        ...     classes=[False, True], probabilities=[[0.3, 0.7], [0.8, 0.2]], latency_ms=1.5)])
        >>> store.add_labels(["7f3a-1", "7f3a-2"], [False, True])
        LabelReport(matched=1, unknown=['7f3a-2'])
        >>> store.frame()[["request_id", "wind", "prediction", "proba_True", "label"]]
          request_id  wind  prediction  proba_True  label
        0     7f3a-0   3.2        True         0.7   None
        1     7f3a-1   0.5       False         0.2  False
        """
        rows = [_encoded(batch) for batch in batches]  # all checked before anything is written
        try:
            with self._lock, self._connect() as connection:
                # Requests named by prefixes (all of a service's) go in one statement per run
                # of them: each SQLite call lets go of the GIL, and getting it back from a busy
                # event loop can take up to 5 ms, so fewer calls mean shorter waits.
                in_order = zip(batches, rows)
                for by_prefix, run in itertools.groupby(in_order, key=lambda pair: pair[0].request_ids is None):
                    if by_prefix:
                        named = [row for _, row in run]
                        for start in range(0, len(named), _ROWS_PER_INSERT):
                            part = named[start : start + _ROWS_PER_INSERT]
                            connection.execute(_INSERT_BATCHES + ", ".join([_ONE_ROW] * len(part)),
                                               [value for row in part for value in row])
                        continue
                    for batch, row in run:
                        cursor = connection.execute(_INSERT_BATCHES + _ONE_ROW, row)
                        connection.executemany(
                            "INSERT INTO request_ids (request_id, batch) VALUES (?, ?)",
                            [(str(request_id), cursor.lastrowid) for request_id in batch.request_ids or ()],
                        )
                        taken = _listed_twice(connection, batch)
                        if taken is not None:
                            raise sqlite3.IntegrityError(f"{taken!r} is named both by a prefix and by a list")
        except sqlite3.IntegrityError as error:
            raise LabkitError(
                f"expected new request ids; got one already in {self.path} ({error}); "
                "fix: give every prediction its own request id"
            ) from None

    def add_labels(self, request_ids: Iterable[str], labels: Iterable[Any], *, at: Any = None) -> LabelReport:
        """Attach the true outcome to logged predictions, by request id.

        Parameters
        ----------
        request_ids, labels
            The same number of each: ``labels[i]`` is the truth for ``request_ids[i]``.
        at
            When the labels became known (ISO 8601, a datetime or seconds since 1970);
            now if not given. On a simulated clock, pass the simulated time.

        Returns
        -------
        LabelReport
            How many were attached, and which ids the store does not know.

        Raises
        ------
        LabelError
            An id already has a label, or appears twice in the batch: nothing of the
            batch is written, and ``.request_ids`` lists them.
        """
        ids, values = [str(i) for i in request_ids], list(labels)
        if len(ids) != len(values):
            raise LabelError(
                f"expected one label per request id; got {len(ids)} ids and {len(values)} labels; "
                "fix: pass two lists of the same length",
                request_ids=[],
            )
        twice = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
        if twice:
            raise LabelError(
                f"expected each request id once in a batch; got {twice[:10]!r} more than once; "
                "fix: send one label per prediction",
                request_ids=twice,
            )
        when = seconds_since_epoch(at, default=time.time())
        with self._lock, self._connect() as connection:
            # BEGIN IMMEDIATE takes the write lock first, so the check and the writes see
            # the same rows even when another process labels the same ids meanwhile.
            connection.execute("BEGIN IMMEDIATE")
            known = _known(connection, ids)
            labelled = sorted(_labelled(connection, [i for i in ids if i in known]))
            if labelled:
                raise LabelError(
                    f"expected request ids without a label yet; got {len(labelled)} already labelled "
                    f"({labelled[:10]!r}); a label is never overwritten, so nothing of this batch was written; "
                    "fix: leave those out (a label that changed is a new event, not a correction to hide)",
                    request_ids=labelled,
                )
            matched = [(i, orjson.dumps(v, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY).decode(), when)
                       for i, v in zip(ids, values) if i in known]
            connection.executemany("INSERT INTO labels (request_id, label, label_time) VALUES (?, ?, ?)", matched)
        return LabelReport(matched=len(matched), unknown=[i for i in ids if i not in known])

    def frame(
        self,
        start: Any = None,
        end: Any = None,
        *,
        model: str | None = None,
        version: int | None = None,
        labelled: bool | None = None,
    ) -> pd.DataFrame:
        """The logged predictions, one row per predicted record, oldest event first.

        Parameters
        ----------
        start, end
            Event times to keep: ``start <= event_time < end`` (ISO 8601 or datetimes).
        model, version
            Keep one model's, or one version's, predictions.
        labelled
            ``True`` for rows with a label only, ``False`` for rows still waiting for one.

        Returns
        -------
        pandas.DataFrame
            Columns ``request_id, event_time, arrival_time, model_name, model_version``,
            every input column, ``prediction``, one ``proba_<class>`` per class,
            ``latency_ms``, ``label`` and ``label_time``; times are UTC datetimes, and
            ``label`` is empty until it arrives.
        """
        if not self.path.exists():
            return _frame([], {})
        where, parameters = [], []
        low = None if start is None else seconds_since_epoch(start)
        high = None if end is None else seconds_since_epoch(end)
        # A request is read if any of its records may fall in the range; records are cut below.
        for clause, value in (("last_event >= ?", low), ("first_event < ?", high)):
            if value is not None:
                where.append(clause)
                parameters.append(value)
        for clause, value in (("model_name = ?", model), ("model_version = ?", version)):
            if value is not None:
                where.append(clause)
                parameters.append(value)
        query = (
            "SELECT event_times, arrival_time, model_name, model_version, records, request_prefix, request_ids, "
            "inputs, predictions, classes, probabilities, latency_ms FROM batches"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY id"
        )
        with self._lock:
            connection = self._connect()
            batches = connection.execute(query, parameters).fetchall()
            labels = {row[0]: (row[1], row[2]) for row in connection.execute("SELECT request_id, label, label_time FROM labels")}
        frame = _frame(batches, labels)
        keep = pd.Series(True, index=frame.index)
        if low is not None:
            keep &= frame["event_time"] >= pd.Timestamp(low, unit="s", tz="UTC")
        if high is not None:
            keep &= frame["event_time"] < pd.Timestamp(high, unit="s", tz="UTC")
        if labelled is not None:
            keep &= frame["label_time"].notna() == labelled
        return frame[keep].reset_index(drop=True)

    def add_alerts(self, alerts: pd.DataFrame) -> int:
        """Keep alerts (as :func:`labkit.monitoring.alerts.evaluate` returns them); return how many were new.

        An alert already kept (same rule, same time) is not kept twice, so checking the
        same period again does not page anyone twice. Other columns are not kept; naive
        times are read as UTC.

        Raises
        ------
        LabkitError
            A column of ``time, rule, measure, value, threshold, message`` is missing.
        """
        missing = [column for column in _ALERT_COLUMNS if column not in alerts.columns]
        if missing:
            raise LabkitError(
                f"expected alerts with the columns {_ALERT_COLUMNS!r}; got {list(alerts.columns)!r}, missing "
                f"{missing!r}; fix: pass what labkit.monitoring.evaluate or Detection.to_alerts returns"
            )
        values = [
            (seconds_since_epoch(row["time"]), str(row["rule"]), str(row["measure"]),
             None if pd.isna(row["value"]) else float(row["value"]),
             None if pd.isna(row["threshold"]) else float(row["threshold"]), str(row["message"]))
            for row in alerts.to_dict(orient="records")
        ]
        with self._lock, self._connect() as connection:
            before = connection.total_changes
            connection.executemany(
                "INSERT OR IGNORE INTO alerts (time, rule, measure, value, threshold, message) VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
            return connection.total_changes - before

    def alerts(self, start: Any = None, end: Any = None, *, rule: str | None = None) -> pd.DataFrame:
        """The alerts kept, oldest first: ``time, rule, measure, value, threshold, message``."""
        where, parameters = [], []
        for clause, value in (("time >= ?", start), ("time < ?", end)):
            if value is not None:
                where.append(clause)
                parameters.append(seconds_since_epoch(value))
        if rule is not None:
            where.append("rule = ?")
            parameters.append(rule)
        query = "SELECT time, rule, measure, value, threshold, message FROM alerts" + (
            f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY time, rule"
        if not self.path.exists():
            rows = []
        else:
            with self._lock:
                rows = self._connect().execute(query, parameters).fetchall()
        frame = pd.DataFrame(rows, columns=_ALERT_COLUMNS)
        frame["time"] = pd.to_datetime(frame["time"].astype(float), unit="s", utc=True)
        # Floats even when every row lacks one (a detector's alarm has no threshold): NaN, not None.
        return frame.astype({"value": float, "threshold": float})

    def log_shadow(
        self,
        request_ids: Sequence[str],
        *,
        event_times: Sequence[Any],
        model_name: str,
        model_version: int,
        predictions: Sequence[Any],
        classes: Sequence[Any] | None = None,
        probabilities: Any = None,
        latency_ms: float | None = None,
    ) -> None:
        """Keep what a shadow version predicted for requests the served version answered.

        A service started with a shadow (``lk.deploy(..., shadow="challenger")``) calls this
        after each answer has gone out: the shadow's predictions never reach a client, and
        they are kept apart from the answers, so :meth:`frame` is what clients were told.

        Parameters
        ----------
        request_ids
            The ids of the served version's answers, one per record.
        event_times
            When each record happened (ISO 8601, datetimes or seconds since 1970).
        model_name, model_version
            The shadow version.
        predictions, classes, probabilities
            Its predictions, and for classifiers its classes and one row of probabilities per record.
        latency_ms
            How long it took.
        """
        if not (len(request_ids) == len(event_times) == len(predictions)):
            raise LabkitError(
                f"expected as many event times and predictions as request ids ({len(request_ids)}); got "
                f"{len(event_times)} and {len(predictions)}; fix: pass one of each per record"
            )
        times = [seconds_since_epoch(t) for t in event_times]
        with self._lock, self._connect() as connection:
            connection.execute(
                "INSERT INTO shadow (first_event, event_times, model_name, model_version, request_ids, predictions, "
                "classes, probabilities, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (min(times) if times else 0.0, orjson.dumps(times), str(model_name), int(model_version),
                 orjson.dumps(list(request_ids)), orjson.dumps(predictions, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY),
                 orjson.dumps([str(c) for c in classes]) if classes is not None else None,
                 orjson.dumps(probabilities, option=orjson.OPT_SERIALIZE_NUMPY) if probabilities is not None else None,
                 latency_ms),
            )

    def shadow(self, start: Any = None, end: Any = None, *, version: int | None = None) -> pd.DataFrame:
        """What shadow versions predicted, one row per record, oldest event first.

        Parameters
        ----------
        start, end
            Event times to keep: ``start <= event_time < end``.
        version
            Keep one shadow version only.

        Returns
        -------
        pandas.DataFrame
            ``request_id`` (of the served version's answer, to join with :meth:`frame`),
            ``event_time``, ``model_name``, ``model_version``, ``prediction``, one
            ``proba_<class>`` per class, and ``latency_ms``.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db")
        >>> store.log_shadow(["r-0", "r-1"], event_times=["2013-01-01T00:00:00Z"] * 2, model_name="weather",
        ...                  model_version=2, predictions=[True, False], classes=[False, True],
        ...                  probabilities=[[0.2, 0.8], [0.6, 0.4]], latency_ms=1.0)
        >>> store.shadow()[["request_id", "model_version", "prediction", "proba_True"]]
          request_id  model_version  prediction  proba_True
        0        r-0              2        True         0.8
        1        r-1              2       False         0.4
        """
        # A request's records may span days, so only its first event can be filtered here; each record's, below.
        where, parameters = [], []
        if end is not None:
            where.append("first_event < ?")
            parameters.append(seconds_since_epoch(end))
        if version is not None:
            where.append("model_version = ?")
            parameters.append(int(version))
        query = ("SELECT event_times, model_name, model_version, request_ids, predictions, classes, probabilities, "
                 "latency_ms FROM shadow" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id")
        rows = self._read(query, parameters)
        records: list[dict[str, Any]] = []
        for event_times, name, number, ids, answers, classes, probas, latency in rows:
            labels_of = [str(c) for c in orjson.loads(classes)] if classes is not None else []
            spread = orjson.loads(probas) if probas is not None else [[] for _ in orjson.loads(ids)]
            for request_id, when, answer, row in zip(orjson.loads(ids), orjson.loads(event_times), orjson.loads(answers), spread):
                records.append({"request_id": request_id, "event_time": when, "model_name": name, "model_version": number,
                                "prediction": answer, **{f"proba_{c}": p for c, p in zip(labels_of, row)},
                                "latency_ms": latency})
        frame = pd.DataFrame(records, columns=None if records else
                             ["request_id", "event_time", "model_name", "model_version", "prediction", "latency_ms"])
        frame["event_time"] = pd.to_datetime(frame["event_time"], unit="s", utc=True)
        if start is not None:
            frame = frame[frame["event_time"] >= pd.Timestamp(seconds_since_epoch(start), unit="s", tz="UTC")]
        if end is not None:
            frame = frame[frame["event_time"] < pd.Timestamp(seconds_since_epoch(end), unit="s", tz="UTC")]
        latency = frame.pop("latency_ms")
        frame["latency_ms"] = latency
        return frame.sort_values("event_time", kind="stable").reset_index(drop=True)

    def requests(self, start: Any = None, end: Any = None) -> pd.DataFrame:
        """The answered requests, one row each (not one per record), oldest first.

        Parameters
        ----------
        start, end
            Keep requests whose first record's event time is in ``[start, end)``.

        Returns
        -------
        pandas.DataFrame
            ``event_time`` (of the request's first record), ``arrival_time``,
            ``model_name``, ``model_version``, ``records`` (how many it held) and
            ``latency_ms`` (its time in the service); times are UTC datetimes.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db")
        >>> store.log([{"request_id": f"r-{i}", "event_time": "2013-01-01T00:00:00Z", "model_name": "weather",
        ...             "model_version": 1, "inputs": {"wind": 3.2}, "prediction": True,
        ...             "probabilities": None, "latency_ms": 4.0} for i in range(3)])
        >>> store.requests()[["event_time", "records", "latency_ms"]]
                         event_time  records  latency_ms
        0 2013-01-01 00:00:00+00:00        3         4.0
        """
        where, parameters = self._between("first_event", start, end)
        query = ("SELECT first_event, arrival_time, model_name, model_version, records, "
                 f"latency_ms FROM batches{where} ORDER BY first_event, id")
        rows = self._read(query, parameters)
        frame = pd.DataFrame(rows, columns=["event_time", "arrival_time", "model_name", "model_version", "records",
                                            "latency_ms"])
        for column in ("event_time", "arrival_time"):
            frame[column] = pd.to_datetime(frame[column].astype(float), unit="s", utc=True)
        return frame.astype({"model_version": int, "records": int, "latency_ms": float})

    def log_refusal(
        self,
        endpoint: str,
        status: int,
        error_code: str,
        *,
        event_time: Any = None,
        arrival_time: Any = None,
        model_name: str | None = None,
        model_version: int | None = None,
    ) -> None:
        """Keep one refused request: what a service with a store does when it answers 4xx or 5xx.

        Parameters
        ----------
        endpoint
            The path refused, such as ``"/predict"``.
        status, error_code
            The HTTP status answered and the ``error_code`` of its body.
        event_time, arrival_time
            When it happened (ISO 8601, a datetime or seconds since 1970). The arrival
            defaults to now and the event time to the arrival, as for a prediction.
        model_name, model_version
            What the service serves, when known.
        """
        arrival = seconds_since_epoch(arrival_time, default=time.time())
        with self._lock, self._connect() as connection:
            connection.execute(
                "INSERT INTO refusals (event_time, arrival_time, endpoint, status, error_code, model_name, model_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seconds_since_epoch(event_time, default=arrival), arrival, str(endpoint), int(status), str(error_code),
                 model_name, model_version),
            )

    def refusals(self, start: Any = None, end: Any = None) -> pd.DataFrame:
        """The refused requests, oldest event first.

        Parameters
        ----------
        start, end
            Event times to keep: ``start <= event_time < end``.

        Returns
        -------
        pandas.DataFrame
            ``event_time, arrival_time, endpoint, status, error_code, model_name,
            model_version``; times are UTC datetimes.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db")
        >>> store.log_refusal("/predict", 422, "BAD_REQUEST", event_time="2013-01-01T08:00:00Z")
        >>> store.refusals()[["event_time", "endpoint", "status", "error_code"]]
                         event_time  endpoint  status   error_code
        0 2013-01-01 08:00:00+00:00  /predict     422  BAD_REQUEST
        """
        where, parameters = self._between("event_time", start, end)
        query = ("SELECT event_time, arrival_time, endpoint, status, error_code, model_name, model_version "
                 f"FROM refusals{where} ORDER BY event_time, rowid")
        rows = self._read(query, parameters)
        frame = pd.DataFrame(rows, columns=["event_time", "arrival_time", "endpoint", "status", "error_code",
                                            "model_name", "model_version"])
        for column in ("event_time", "arrival_time"):
            frame[column] = pd.to_datetime(frame[column].astype(float), unit="s", utc=True)
        return frame.astype({"status": int, "model_version": "Int64"})

    @staticmethod
    def _between(column: str, start: Any, end: Any) -> tuple[str, list[float]]:
        """A WHERE clause keeping ``start <= column < end``, and its parameters."""
        where, parameters = [], []
        for clause, value in ((f"{column} >= ?", start), (f"{column} < ?", end)):
            if value is not None:
                where.append(clause)
                parameters.append(seconds_since_epoch(value))
        return (f" WHERE {' AND '.join(where)}" if where else ""), parameters

    def _read(self, query: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of a query, or none when the file does not exist yet (reading never creates it)."""
        if not self.path.exists():
            return []
        with self._lock:
            return self._connect().execute(query, parameters).fetchall()

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self._lock:
            return int(self._connect().execute("SELECT COALESCE(SUM(records), 0) FROM batches").fetchone()[0])

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: a service commits from a worker thread, one at a time.
            connection = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
            # Switching a new file to WAL takes a lock that SQLite's busy timeout does not
            # wait for, so several writers opening one new store at once retry here.
            deadline = time.monotonic() + _BUSY_TIMEOUT_S
            while True:
                try:
                    if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                        connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute("PRAGMA synchronous=NORMAL")
                    if not self.autocheckpoint:
                        connection.execute("PRAGMA wal_autocheckpoint=0")
                    connection.executescript(_SCHEMA)
                    break
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        connection.close()
                        raise
                    time.sleep(0.05)
            self._connection = connection
        return self._connection


def seconds_since_epoch(value: Any, *, default: float | None = None) -> float:
    """Seconds since 1970 (UTC) from ISO 8601 text, a datetime, or a number; naive times are UTC.

    Examples
    --------
    >>> seconds_since_epoch("1970-01-02T00:00:00Z"), seconds_since_epoch("1998-12-31T23:59:60Z")
    (86400.0, 915148800.0)
    """
    if isinstance(value, str) and _LEAP_SECOND.search(value):
        # RFC 3339 allows a leap second (23:59:60); Python's clocks do not: it is the next second.
        return seconds_since_epoch(_LEAP_SECOND.sub(r"\1:59", value, count=1)) + 1.0
    if value is None:
        if default is None:
            raise LabkitError("expected a time; got None; fix: pass ISO 8601 text such as '2013-01-01T00:00:00Z'")
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise LabkitError(
            f"expected a time in ISO 8601, such as '2013-01-01T08:00:00Z'; got {value!r} ({error}); "
            "fix: write the date as YYYY-MM-DD, with a time and zone if known"
        ) from None
    if stamp is pd.NaT:
        raise LabkitError(f"expected a time; got {value!r}; fix: pass ISO 8601 text such as '2013-01-01'")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.timestamp()


def _encoded(batch: Batch) -> tuple[Any, ...]:
    """The values of one ``batches`` row, checked: one of everything per record."""
    n = len(batch.inputs)
    if (batch.request_prefix is None) == (batch.request_ids is None):
        raise LabkitError(
            f"expected a batch named by request_prefix or by request_ids; got "
            f"{'both' if batch.request_ids is not None else 'neither'}; fix: pass exactly one of them"
        )
    if isinstance(batch.event_times, (int, float)):
        first = last = float(batch.event_times)
        event_times = orjson.dumps(first)  # one time for every record, kept once
    else:
        first, last = (min(batch.event_times), max(batch.event_times)) if n else (batch.arrival_time,) * 2
        event_times = orjson.dumps(batch.event_times, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY)
    per_record = {"event_times": None if isinstance(batch.event_times, (int, float)) else batch.event_times,
                  "request_ids": batch.request_ids, "predictions": batch.predictions,
                  "probabilities": batch.probabilities}
    for what, values in per_record.items():
        if values is not None and len(values) != n:
            raise LabkitError(
                f"expected one of {what} per record ({n}); got {len(values)}; nothing was written; "
                "fix: build the batch from one request's records and answers"
            )

    def encode(values: Any) -> str | None:
        if values is None:
            return None
        return orjson.dumps(values, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY).decode()

    return (
        first, last, event_times.decode(), batch.arrival_time, batch.model_name, batch.model_version, n,
        batch.request_prefix, encode(None if batch.request_ids is None else [str(i) for i in batch.request_ids]),
        encode(batch.inputs), encode(batch.predictions), encode(batch.classes), encode(batch.probabilities),
        batch.latency_ms,
    )


def _numbered(request_id: str) -> tuple[str, int] | None:
    """``("p", 3)`` for ``"p-3"``, the fourth record of the request named by prefix ``p``; else None."""
    prefix, dash, number = request_id.rpartition("-")
    # Only the number a prefix gives ("3", never "03" or "+3") names a record.
    if dash and number.isascii() and number.isdigit() and (number == "0" or number[0] != "0"):
        return prefix, int(number)
    return None


def _listed_twice(connection: sqlite3.Connection, batch: Batch) -> str | None:
    """A listed id of ``batch`` that also numbers a record of a request named by a prefix; None if none does.

    The unique indexes see two equal prefixes or two equal listed ids, but not a listed
    ``p-3`` beside a request of prefix ``p``. A request named by a prefix after the listed
    id is refused by the trigger ``prefix_not_listed``; one named before, by this lookup.
    """
    ids = [str(i) for i in batch.request_ids or ()]
    twice = _numbered_known(connection, ids)
    return next((i for i in ids if i in twice), None)


def _known(connection: sqlite3.Connection, ids: list[str]) -> set[str]:
    """Those of ``ids`` the store has a prediction for, listed or named by their request's prefix."""
    listed = {i for (i,) in _rows_in(connection, "SELECT request_id FROM request_ids WHERE request_id", ids)}
    return listed | _numbered_known(connection, [i for i in ids if i not in listed])


def _numbered_known(connection: sqlite3.Connection, ids: list[str]) -> set[str]:
    """Those of ``ids`` that are ``p-i`` of a stored request of prefix ``p`` with more than i records."""
    wanted: dict[str, list[tuple[str, int]]] = {}
    for request_id in ids:
        parts = _numbered(request_id)
        if parts is not None:
            wanted.setdefault(parts[0], []).append((request_id, parts[1]))
    stored = _rows_in(connection, "SELECT request_prefix, records FROM batches WHERE request_prefix", list(wanted))
    return {i for prefix, records in stored for i, k in wanted[prefix] if k < records}


def _labelled(connection: sqlite3.Connection, ids: list[str]) -> set[str]:
    """Those of ``ids`` that already have a label."""
    return {i for (i,) in _rows_in(connection, "SELECT request_id FROM labels WHERE request_id", ids)}


def _rows_in(connection: sqlite3.Connection, query: str, values: list[str]) -> list[tuple[Any, ...]]:
    """The rows of ``query IN (values)``, asked in parts: SQLite limits the parameters of one statement."""
    rows = []
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        rows += connection.execute(f"{query} IN ({','.join('?' * len(part))})", part).fetchall()
    return rows


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: arrays of Python objects, NumPy scalars, timestamps."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot store a value of type {type(value).__name__} as JSON")


def _frame(batches: list[tuple[Any, ...]], labels: Mapping[str, tuple[str, float]]) -> pd.DataFrame:
    """One row per record from the stored requests, oldest event first, labels joined by id."""
    base = ["request_id", "event_time", "arrival_time", "model_name", "model_version"]
    if not batches:
        return pd.DataFrame(columns=[*base, "prediction", "latency_ms", "label", "label_time"])
    ids, events, arrivals, names, versions, inputs, predictions, latencies = [], [], [], [], [], [], [], []
    probabilities: list[dict[str, float]] = []
    for event_times, arrival, name, version, n, prefix, request_ids, records, answers, classes, probas, latency in batches:
        ids += orjson.loads(request_ids) if prefix is None else [f"{prefix}-{i}" for i in range(n)]
        times = orjson.loads(event_times)
        events += times if isinstance(times, list) else [times] * n
        arrivals += [arrival] * n
        names += [name] * n
        versions += [version] * n
        inputs += orjson.loads(records)
        predictions += orjson.loads(answers)
        latencies += [latency] * n
        if classes is not None:
            labels_of = [str(c) for c in orjson.loads(classes)]
            probabilities += [dict(zip(labels_of, row)) for row in orjson.loads(probas)]
        else:
            probabilities += [{}] * n
    frame = pd.DataFrame({
        "request_id": ids,
        "event_time": pd.to_datetime(pd.Series(events, dtype="float64"), unit="s", utc=True),
        "arrival_time": pd.to_datetime(pd.Series(arrivals, dtype="float64"), unit="s", utc=True),
        "model_name": names,
        "model_version": versions,
    })
    frame = pd.concat([frame, pd.DataFrame(inputs, index=frame.index)], axis=1)
    frame["prediction"] = predictions
    spread = pd.DataFrame(probabilities, index=frame.index)
    for label in spread.columns:
        frame[f"proba_{label}"] = spread[label]
    frame["latency_ms"] = pd.Series(latencies, dtype="float64")
    known = [labels.get(i) for i in ids]
    frame["label"] = pd.Series([orjson.loads(k[0]) if k else None for k in known], index=frame.index, dtype=object)
    frame["label_time"] = pd.to_datetime(pd.Series([k[1] if k else None for k in known], dtype="float64"), unit="s", utc=True)
    return frame.sort_values(["event_time", "request_id"], kind="stable").reset_index(drop=True)
