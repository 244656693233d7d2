"""Streaming drift detectors: river's, run over a stream of mistakes or of a metric, and scored.

A detector reads one number at a time (1 for a wrong prediction and 0 for a right one,
or a daily accuracy) and raises an alarm when the numbers stop looking like the ones
before. Whether it is any good is a matter of counting: how long after a real change it
fires (the delay), and how often it fires when nothing changed (false alarms). Published
evaluations put a naive baseline beside the detectors, one that fires every N rows
whatever it sees, because a detector that does not beat it has learnt nothing; so does
:func:`compare_detectors`. The detectors themselves are river's, unchanged.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd
from river import base, drift
from river.drift import binary

from labkit.errors import DataError
from labkit.monitoring._frames import is_labelled, known_labels, require_columns, require_times, windows
from labkit.monitoring.alerts import ALERT_COLUMNS

__all__ = ["DETECTORS", "Detection", "compare_detectors", "mistakes", "run_detector"]

# Named as river names them, so a student finds each one in river's documentation. The
# binary ones read only 0/1 (a mistake or not); the others read any number.
_RIVER = {
    "ADWIN": drift.ADWIN,
    "PageHinkley": drift.PageHinkley,
    "KSWIN": drift.KSWIN,
    "DDM": binary.DDM,
    "EDDM": binary.EDDM,
    "FHDDM": binary.FHDDM,
    "HDDMA": binary.HDDMA,
    "HDDMW": binary.HDDMW,
}
_BINARY = {"DDM", "EDDM", "FHDDM", "HDDMA", "HDDMW"}
DETECTORS: tuple[str, ...] = (*_RIVER, "Periodic")

_ALARM_COLUMNS = ["time", "position", "detector"]


@dataclass(frozen=True)
class Detection:
    """What one detector did on one stream, and how that scores against a known drift.

    Attributes
    ----------
    detector
        The detector's name.
    alarms
        One row per alarm: ``time`` (the stream's index there), ``position`` (0 for the
        first row) and ``detector``.
    drift_position
        The first row of the new concept, when the drift point is known; else ``None``.
    delay_rows
        Rows from the drift to the first alarm at or after it; ``None`` if the drift is
        unknown or was never detected.
    delay_time
        The same delay in time; ``None`` likewise.
    false_alarms
        Alarms before the drift; ``None`` if the drift is unknown.
    """

    detector: str
    alarms: pd.DataFrame
    drift_position: int | None = None
    delay_rows: int | None = None
    delay_time: pd.Timedelta | None = None
    false_alarms: int | None = None

    @property
    def detected(self) -> bool:
        """Whether an alarm came at or after the known drift."""
        return self.delay_rows is not None

    def to_alerts(self, *, rule: str | None = None) -> pd.DataFrame:
        """The alarms as alert rows, one per alarm, ready for :meth:`labkit.PredictionStore.add_alerts`.

        Each message says which detector fired, at which row and time, and, when the drift
        point is known, whether the alarm is false (before the drift) or the detection,
        with its delay. ``measure`` is ``"alarm"``, ``value`` the row the alarm came at,
        and ``threshold`` is empty: a detector runs its own test, not one threshold.

        Parameters
        ----------
        rule
            What the alerts are called; ``"<detector> alarm"`` by default. The store keeps
            one alert per rule and time, so name the stream when several are watched by
            one detector (``"ADWIN on mistakes"``).

        Returns
        -------
        pandas.DataFrame
            The columns of :data:`labkit.monitoring.alerts.ALERT_COLUMNS`, oldest first;
            times in UTC (naive times are read as UTC, as the store reads them).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> error_rate = np.where(np.arange(1000) < 600, 0.1, 0.4)
        >>> mistakes = pd.Series(
        ...     (rng.random(1000) < error_rate).astype(int),
        ...     index=pd.date_range("2013-01-01", periods=1000, freq="h", tz="UTC"),
        ... )
        >>> alerts = run_detector(mistakes, "ADWIN", drift_at=600).to_alerts()
        >>> alerts[["time", "rule", "value"]]
                               time         rule  value
        0 2013-01-28 23:00:00+00:00  ADWIN alarm  671.0
        >>> print(alerts["message"].iloc[0])
        ADWIN detected the drift 71 rows (2 days 23:00:00) after it began, at row 671 (2013-01-28 23:00:00+00:00)
        """
        name = rule if rule is not None else f"{self.detector} alarm"
        times = _utc(self.alarms["time"])
        rows = [
            {"time": when, "rule": name, "measure": "alarm", "value": float(position), "threshold": np.nan,
             "message": self._say(int(position), when)}
            for when, position in zip(times, self.alarms["position"])
        ]
        return pd.DataFrame(rows, columns=ALERT_COLUMNS).astype(
            {"time": "datetime64[ns, UTC]", "value": float, "threshold": float}
        )

    def alarm_counts(self, window: str = "1D") -> pd.DataFrame:
        """How many alarms fell in each window of time, for alert rules over a detector.

        A detector may fire several times for one change; a :class:`labkit.monitoring.Rule`
        on the count, with ``cooldown`` or ``recover_at``, makes that one incident.

        Parameters
        ----------
        window
            A pandas offset such as ``"1D"`` or ``"7D"``.

        Returns
        -------
        pandas.DataFrame
            ``start`` and ``end`` of each window, [start, end), and ``alarms``: every
            window from the first alarm's to the last alarm's, empty ones included (no
            rows if there was no alarm).

        Raises
        ------
        DataError
            If ``window`` is not a pandas offset.

        Examples
        --------
        DDM fires five times: four alarms over three weeks in January, for one change,
        then one in March. Counted per week, a rule with a cooldown raises two alerts:

        >>> from datetime import timedelta
        >>> from labkit.monitoring.alerts import Rule, evaluate
        >>> times = pd.to_datetime(["2013-01-02", "2013-01-03", "2013-01-09", "2013-01-20", "2013-03-01"], utc=True)
        >>> found = Detection("DDM", pd.DataFrame({"time": times, "position": [30, 55, 201, 460, 1400], "detector": "DDM"}))
        >>> counts = found.alarm_counts("7D")
        >>> counts.head(4)
                              start                       end  alarms
        0 2013-01-02 00:00:00+00:00 2013-01-09 00:00:00+00:00       2
        1 2013-01-09 00:00:00+00:00 2013-01-16 00:00:00+00:00       1
        2 2013-01-16 00:00:00+00:00 2013-01-23 00:00:00+00:00       1
        3 2013-01-23 00:00:00+00:00 2013-01-30 00:00:00+00:00       0
        >>> rule = Rule(name="drift", measure="alarms", above=0, cooldown=timedelta(days=28))
        >>> evaluate([rule], counts, time_column="start")["time"].dt.strftime("%Y-%m-%d").tolist()
        ['2013-01-02', '2013-02-27']
        """
        if isinstance(window, bool) or not isinstance(window, str):
            raise DataError(
                f"expected window to be a pandas offset such as '1D' or '7D'; got {window!r}; "
                "fix: pass a string offset (alarms are counted per span of time, not per N rows)"
            )
        alarms = pd.DataFrame({"time": _utc(self.alarms["time"])})
        counted = [(w.start, w.end, len(w.rows)) for w in windows(alarms, window, time_column="time")]
        table = pd.DataFrame(counted, columns=["start", "end", "alarms"])
        return table.astype({"start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]", "alarms": int})

    def _say(self, position: int, when: pd.Timestamp) -> str:
        """The message of the alarm at ``position``: false, the detection, or a later one."""
        at = f"at row {position} ({when})"
        drift = self.drift_position
        if drift is None:
            return f"{self.detector} raised an alarm {at}"
        if position < drift:
            return f"{self.detector} raised a false alarm {at}, {drift - position} rows before the drift began"
        if position == drift + self.delay_rows:
            return f"{self.detector} detected the drift {self.delay_rows} rows ({self.delay_time}) after it began, {at}"
        return (f"{self.detector} raised another alarm {at}, {position - drift} rows after the drift began "
                f"(it was detected at row {drift + self.delay_rows})")


def mistakes(
    frame: pd.DataFrame,
    *,
    time_column: str = "event_time",
    label_column: str = "label",
    prediction_column: str = "prediction",
) -> pd.Series:
    """Turn logged predictions into the stream a detector reads: 1 for each mistake, 0 for each right answer.

    Parameters
    ----------
    frame
        Logged predictions, as ``PredictionStore.frame`` returns them.
    time_column, label_column, prediction_column
        The names of the event time, the label and the prediction columns.

    Returns
    -------
    pandas.Series
        One int per labelled row, in event-time order, indexed by event time; rows
        whose label has not arrived are left out.

    Raises
    ------
    DataError
        If a column is missing or the times are not datetimes.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({
    ...     "event_time": pd.date_range("2013-01-01", periods=4, freq="D", tz="UTC"),
    ...     "prediction": [True, False, True, True],
    ...     "label": [True, True, None, False],
    ... })
    >>> mistakes(frame).tolist()
    [0, 1, 1]
    """
    require_columns(frame, [time_column, label_column, prediction_column], name="frame")
    if frame.empty:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=int, name="mistake")
    require_times(frame, time_column, name="frame")
    labelled = frame[is_labelled(frame[label_column])].sort_values(time_column, kind="stable")
    wrong = (known_labels(labelled[label_column]) != labelled[prediction_column]).astype(int)
    return pd.Series(wrong.to_numpy(), index=pd.DatetimeIndex(labelled[time_column]), name="mistake")


def run_detector(
    stream: pd.Series,
    detector: str = "ADWIN",
    *,
    drift_at: pd.Timestamp | str | int | None = None,
    **params: object,
) -> Detection:
    """Run one of river's drift detectors, or the periodic baseline, over a stream indexed by time.

    Parameters
    ----------
    stream
        The values the detector reads, in time order, indexed by time: 0/1 mistakes
        (``(prediction != label).astype(int)``), or a metric per window.
    detector
        One of :data:`DETECTORS`. ``"DDM"``, ``"EDDM"``, ``"FHDDM"``, ``"HDDMA"`` and
        ``"HDDMW"`` read only 0 and 1. ``"Periodic"`` is the naive baseline: river's
        ``DummyDriftDetector``, which fires every ``every`` rows and reads nothing.
    drift_at
        Where the concept really changed, when it is known: a position (an int, 0 for
        the first row) or a time (the first row at or after it). With it, the result
        has the delay and the false alarms.
    **params
        Passed to the river detector, e.g. ``delta=0.002`` for ADWIN; river's defaults
        otherwise. KSWIN samples at random, so its ``seed`` defaults to 0 here, for runs
        that repeat. The baseline takes ``every`` (default 500).

    Returns
    -------
    Detection
        The alarms, and with ``drift_at`` the delay and the false alarms.

    Raises
    ------
    DataError
        If the stream is not a Series with a DatetimeIndex in time order, holds missing
        values, or holds values other than 0/1 for a binary detector; if the detector is
        unknown, or ``drift_at`` lies outside the stream.
    TypeError
        If ``params`` holds a name the detector does not take.

    Examples
    --------
    A model wrong 10% of the time, then 40% from row 600:

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> error_rate = np.where(np.arange(1000) < 600, 0.1, 0.4)
    >>> mistakes = pd.Series(
    ...     (rng.random(1000) < error_rate).astype(int),
    ...     index=pd.date_range("2013-01-01", periods=1000, freq="h", tz="UTC"),
    ... )
    >>> found = run_detector(mistakes, "ADWIN", drift_at=600)
    >>> found.alarms
                           time  position detector
    0 2013-01-28 23:00:00+00:00       671    ADWIN
    >>> found.delay_rows, found.delay_time, found.false_alarms
    (71, Timedelta('2 days 23:00:00'), 0)
    """
    values = _check_stream(stream, detector)
    instance = _build(detector, params)
    positions = []
    for position, value in enumerate(values):
        instance.update(value)
        if instance.drift_detected:
            positions.append(position)
    alarms = pd.DataFrame(
        {"time": stream.index[positions], "position": positions, "detector": detector},
        columns=_ALARM_COLUMNS,
    )
    if drift_at is None:
        return Detection(detector, alarms)
    drift_position = _position(stream, drift_at)
    after = [position for position in positions if position >= drift_position]
    first = after[0] if after else None
    return Detection(
        detector,
        alarms,
        drift_position=drift_position,
        delay_rows=None if first is None else first - drift_position,
        delay_time=None if first is None else stream.index[first] - stream.index[drift_position],
        false_alarms=len(positions) - len(after),
    )


def compare_detectors(
    stream: pd.Series,
    *,
    drift_at: pd.Timestamp | str | int,
    detectors: tuple[str, ...] | list[str] = ("ADWIN", "PageHinkley", "KSWIN", "DDM", "EDDM"),
    every: int = 500,
    params: dict[str, dict[str, object]] | None = None,
) -> pd.DataFrame:
    """Run several detectors over one stream with a known drift, beside a periodic baseline.

    Parameters
    ----------
    stream
        The values read, indexed by time (see :func:`run_detector`).
    drift_at
        Where the concept really changed: a position or a time.
    detectors
        Names from :data:`DETECTORS`; the ``"Periodic"`` baseline is always added last.
    every
        How many rows apart the baseline fires.
    params
        Settings per detector name, e.g. ``{"ADWIN": {"delta": 0.01}}``.

    Returns
    -------
    pandas.DataFrame
        One row per detector: ``detector``, ``alarms`` (how many), ``false_alarms``
        (before the drift), ``detected``, ``delay_rows`` and ``delay_time`` (to the
        first alarm at or after the drift; missing when it never came).

    Raises
    ------
    DataError
        As :func:`run_detector`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> error_rate = np.where(np.arange(2000) < 1200, 0.1, 0.3)
    >>> mistakes = pd.Series(
    ...     (rng.random(2000) < error_rate).astype(int),
    ...     index=pd.date_range("2013-01-01", periods=2000, freq="h", tz="UTC"),
    ... )
    >>> compare_detectors(mistakes, drift_at=1200, detectors=["ADWIN", "DDM"], every=300)
       detector  alarms  false_alarms  detected  delay_rows       delay_time
    0     ADWIN       1             0      True         143  5 days 23:00:00
    1       DDM       3             0      True          71  2 days 23:00:00
    2  Periodic       6             4      True         299 12 days 11:00:00

    The baseline "detects" the drift too, as anything that fires often enough will: its
    price is the four alarms it raised before anything changed.
    """
    params = params or {}
    unknown = sorted(set(params) - set(detectors) - {"Periodic"})
    if unknown:
        raise DataError(
            f"expected params only for the detectors compared, {list(detectors)!r}; got params "
            f"for {unknown!r}; fix: add them to detectors=, or drop their params"
        )
    rows = []
    for name in [*(name for name in detectors if name != "Periodic"), "Periodic"]:
        settings = dict(params.get(name, {}))
        if name == "Periodic":
            settings.setdefault("every", every)
        found = run_detector(stream, name, drift_at=drift_at, **settings)
        rows.append(
            {
                "detector": name,
                "alarms": len(found.alarms),
                "false_alarms": found.false_alarms,
                "detected": found.detected,
                "delay_rows": found.delay_rows if found.detected else pd.NA,
                # A timedelta NaT, not pd.NaT, which pandas would read as a missing date.
                "delay_time": found.delay_time if found.detected else np.timedelta64("NaT", "ns"),
            }
        )
    table = pd.DataFrame(rows)
    return table.astype({"delay_rows": "Int64", "delay_time": "timedelta64[ns]"})


def _utc(times: pd.Series) -> pd.Series:
    """Times in UTC: naive ones read as UTC, as the prediction store reads them."""
    times = pd.to_datetime(pd.Series(times), utc=False)
    if times.dt.tz is None:
        return times.dt.tz_localize("UTC")
    return times.dt.tz_convert("UTC")


def _check_stream(stream: object, detector: str) -> np.ndarray:
    if detector not in DETECTORS:
        raise DataError(
            f"expected a detector among {list(DETECTORS)!r}; got {detector!r}; fix: use one "
            "of those names, as river spells them"
        )
    if not isinstance(stream, pd.Series) or not isinstance(stream.index, pd.DatetimeIndex):
        got = type(stream).__name__
        if isinstance(stream, pd.Series):
            got = f"a Series with a {type(stream.index).__name__}"
        raise DataError(
            f"expected a pandas Series indexed by time (a DatetimeIndex); got {got}; fix: "
            "e.g. mistakes = (frame['prediction'] != frame['label']).astype(int)"
            ".set_axis(frame['event_time'])"
        )
    if not stream.index.is_monotonic_increasing:
        raise DataError(
            "expected the stream in time order; got an index that goes back in time; fix: "
            "stream.sort_index()"
        )
    if stream.isna().any():
        raise DataError(
            f"expected a value in every row of the stream; got {int(stream.isna().sum())} "
            "missing; fix: drop them (stream.dropna()); for mistakes, keep only labelled rows"
        )
    values = stream.to_numpy()
    if detector in _BINARY:
        if not np.isin(values, [0, 1]).all():
            bad = values[~np.isin(values, [0, 1])][0]
            bad = bad.item() if isinstance(bad, np.generic) else bad  # 0.8, not np.float64(0.8)
            raise DataError(
                f"expected only 0 and 1 for {detector}, which reads mistakes; got {bad!r}; "
                "fix: pass (prediction != label).astype(int), or use ADWIN, PageHinkley or "
                "KSWIN for a metric stream"
            )
        return values.astype(int)
    return values.astype(float)


def _build(detector: str, params: dict[str, object]) -> base.DriftDetector | base.BinaryDriftDetector:
    if detector == "Periodic":
        every = params.pop("every", 500)
        river_class, settings = drift.DummyDriftDetector, {"trigger_method": "fixed", "t_0": every, **params}
    else:
        river_class, settings = _RIVER[detector], dict(params)
        if detector == "KSWIN":
            settings.setdefault("seed", 0)
    try:
        return river_class(**settings)
    except TypeError:
        accepted = list(inspect.signature(river_class).parameters)
        if detector == "Periodic":
            accepted = ["every"]
        raise TypeError(
            f"expected settings of {detector} among {accepted!r}; got {sorted(params)!r}; "
            f"fix: see river's documentation for {river_class.__name__}"
        ) from None


def _position(stream: pd.Series, drift_at: pd.Timestamp | str | int) -> int:
    if isinstance(drift_at, (int, np.integer)) and not isinstance(drift_at, bool):
        position = int(drift_at)
    else:
        try:
            moment = pd.Timestamp(drift_at)
            # A date typed as text is read in the stream's time zone, as pandas reads
            # stream.loc["2014-01-01":]; a Timestamp object must carry its own zone.
            if isinstance(drift_at, str) and moment.tzinfo is None and stream.index.tz is not None:
                moment = moment.tz_localize(stream.index.tz)
            position = int(stream.index.searchsorted(moment, side="left"))
        except (TypeError, ValueError):
            raise DataError(
                f"expected drift_at as a row position or a time with the stream's time zone "
                f"({stream.index.tz}); got {drift_at!r}; fix: pass e.g. drift_at=600 or "
                "drift_at=pd.Timestamp('2013-06-01', tz='UTC')"
            ) from None
    if not 0 <= position < len(stream):
        span = f" ({stream.index[0]} to {stream.index[-1]})" if len(stream) else ""
        raise DataError(
            f"expected drift_at inside the stream's {len(stream)} rows{span}; got {drift_at!r}; "
            "fix: pick a point inside the stream"
        )
    return position
