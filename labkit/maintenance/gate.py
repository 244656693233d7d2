"""The promotion gate: the challenger becomes champion only if it is good enough, and better beyond the noise.

:class:`MetricThreshold` and :func:`validate` follow MLflow's ``MetricThreshold`` and its
``validate_evaluation_results`` (``mlflow/models/evaluation/validation.py``) rule for rule,
so a student who moves to MLflow meets the same gate:

- ``threshold``: the candidate's value must be ``>=`` it (``<=`` where lower is better);
- ``min_absolute_change``: the candidate must beat the baseline by at least this much:
  ``candidate >= baseline + change`` (``candidate <= baseline - change``);
- ``min_relative_change``: by at least this share of the baseline:
  ``(candidate - baseline) / baseline >= change`` (``(baseline - candidate) / baseline``
  where lower is better). Where the baseline is exactly 0 that share is undefined, and
  the check falls back to "better at all": ``candidate >= baseline + 1e-10``
  (``<= baseline - 1e-10``). As in MLflow the share is divided by the baseline as it
  is, sign and all, so with a negative baseline (an R2 below 0) the relative check
  reads backwards: use ``min_absolute_change`` for metrics that can be negative.
- Every check given must pass. A metric missing from the candidate's results fails
  (and nothing else is checked for it); a metric missing from the baseline's results,
  or no baseline at all, fails the two change checks but not ``threshold``.
- The settings are checked when the gate is made, with MLflow's rules: ``threshold`` is
  an ``int`` or ``float``; ``min_absolute_change`` a positive ``int`` or ``float``;
  ``min_relative_change`` a ``float`` from 0 to 1; ``greater_is_better`` a ``bool``,
  required; and at least one of the three thresholds given.

One difference: MLflow raises ``ModelValidationFailedException`` when the gate fails;
:func:`validate` returns a :class:`Verdict` that says why, so a notebook can show it.
(And where MLflow would crash, ``min_relative_change=0.0`` with no baseline, labkit
reports the missing baseline like the other change checks.)

**Beyond the noise.** MLflow compares two numbers. Two numbers measured on 60 rows
differ by chance, so :func:`promote_if_better` adds one check, on by default: the lower
end of :func:`~labkit.maintenance.compare`'s paired bootstrap interval of the gain (the
challenger's advantage, sign flipped where lower is better) must be above 0, and at
least ``min_absolute_change`` when the gate has one. Where MLflow's own checks ask that
the *measured* gain be big enough, this asks that even the *pessimistic* end of what the
data allows be: a gain inside the noise is refused. The interval is the comparison's
(a percentile interval at its ``confidence``, 95% by default); ``threshold`` and
``min_relative_change`` are judged on the measured values only, as in MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from labkit.errors import DataError, RegistryError
from labkit.maintenance.compare import Comparison
from labkit.registry import Registry

__all__ = ["MetricThreshold", "Verdict", "promote_if_better", "validate"]

# MLflow's stand-in for "better at all" when a relative change is asked of a baseline of 0.
_ZERO_BASELINE_STEP = 1e-10


class MetricThreshold:
    """What a metric must reach to pass the gate, with MLflow's semantics (see the module's docstring).

    Parameters
    ----------
    threshold
        The value the candidate's metric must reach, whatever the baseline's.
    min_absolute_change
        How much the candidate must beat the baseline by, in the metric's units (positive).
    min_relative_change
        How much the candidate must beat the baseline by, as a share of the baseline's
        value (a float from 0 to 1).
    greater_is_better
        Whether a larger value of the metric is better (required).

    Raises
    ------
    DataError
        A setting breaks MLflow's rules; nothing is kept.

    Examples
    --------
    >>> gate = MetricThreshold(threshold=0.6, min_absolute_change=0.02, greater_is_better=True)
    >>> gate
    MetricThreshold(threshold=0.6, min_absolute_change=0.02, min_relative_change=None, greater_is_better=True)
    >>> MetricThreshold(min_relative_change=5, greater_is_better=True)
    Traceback (most recent call last):
    ...
    labkit.errors.DataError: expected min_relative_change to be a float from 0 to 1 (MLflow's rule); got 5; fix: write it as a share, e.g. min_relative_change=0.05 for 5%
    """

    def __init__(
        self,
        *,
        threshold: float | None = None,
        min_absolute_change: float | None = None,
        min_relative_change: float | None = None,
        greater_is_better: bool | None = None,
    ) -> None:
        # type(...) in (int, float), as MLflow checks: a bool or a NumPy number is refused.
        if threshold is not None and type(threshold) not in (int, float):
            raise DataError(
                f"expected threshold to be an int or a float; got {threshold!r} ({type(threshold).__name__}); "
                "fix: e.g. threshold=0.6, or float(value) for a NumPy number"
            )
        if min_absolute_change is not None and (type(min_absolute_change) not in (int, float) or min_absolute_change <= 0):
            raise DataError(
                f"expected min_absolute_change to be a positive int or float; got {min_absolute_change!r}; "
                "fix: e.g. min_absolute_change=0.02, or leave it out"
            )
        if min_relative_change is not None and (
            not isinstance(min_relative_change, float) or not 0 <= min_relative_change <= 1
        ):
            raise DataError(
                f"expected min_relative_change to be a float from 0 to 1 (MLflow's rule); got {min_relative_change!r}; "
                "fix: write it as a share, e.g. min_relative_change=0.05 for 5%"
            )
        if not isinstance(greater_is_better, bool):
            raise DataError(
                f"expected greater_is_better to be True or False; got {greater_is_better!r}; "
                "fix: greater_is_better=True for accuracy, False for an error such as log_loss"
            )
        if threshold is None and min_absolute_change is None and min_relative_change is None:
            raise DataError(
                "expected at least one of threshold, min_absolute_change and min_relative_change; got none; "
                "fix: e.g. MetricThreshold(min_absolute_change=0.02, greater_is_better=True)"
            )
        self._threshold = threshold
        self._min_absolute_change = min_absolute_change
        self._min_relative_change = min_relative_change
        self._greater_is_better = greater_is_better

    @property
    def threshold(self) -> float | None:
        """The value the candidate must reach."""
        return self._threshold

    @property
    def min_absolute_change(self) -> float | None:
        """How much the candidate must beat the baseline by."""
        return self._min_absolute_change

    @property
    def min_relative_change(self) -> float | None:
        """How much the candidate must beat the baseline by, as a share of it."""
        return self._min_relative_change

    @property
    def greater_is_better(self) -> bool:
        """Whether a larger value of the metric is better."""
        return self._greater_is_better

    def __repr__(self) -> str:
        return (
            f"MetricThreshold(threshold={self._threshold!r}, min_absolute_change={self._min_absolute_change!r}, "
            f"min_relative_change={self._min_relative_change!r}, greater_is_better={self._greater_is_better!r})"
        )


@dataclass(frozen=True)
class Verdict:
    """What the gate decided, and why.

    Parameters
    ----------
    passed
        Whether every check passed.
    failures
        One sentence per failed check (empty when it passed).
    promoted
        Whether the challenger was promoted (only :func:`promote_if_better` promotes).

    Examples
    --------
    >>> Verdict(passed=False, failures=["Threshold failed.", "Noise check failed."]).reason
    'Threshold failed. Noise check failed.'
    """

    passed: bool
    failures: list[str] = field(default_factory=list)
    promoted: bool = False

    @property
    def reason(self) -> str:
        """The verdict in one line: what a registry's history keeps."""
        return "passed every check" if self.passed else " ".join(self.failures)


def validate(
    thresholds: Mapping[str, MetricThreshold],
    *,
    candidate: Mapping[str, float],
    baseline: Mapping[str, float] | None = None,
) -> Verdict:
    """Check a candidate's metrics (and its gain over a baseline) against the gate, as MLflow does.

    Parameters
    ----------
    thresholds
        Metric name to :class:`MetricThreshold`.
    candidate
        The candidate's metrics, name to value.
    baseline
        The baseline's metrics; ``None`` when there is no baseline (then only
        ``threshold`` can pass).

    Returns
    -------
    Verdict
        Passed, or one sentence per failed check, in MLflow's words.

    Raises
    ------
    DataError
        ``thresholds`` is not a mapping of metric names to :class:`MetricThreshold`.

    Examples
    --------
    >>> gate = {"accuracy": MetricThreshold(threshold=0.6, min_relative_change=0.05, greater_is_better=True)}
    >>> validate(gate, candidate={"accuracy": 0.70}, baseline={"accuracy": 0.68}).failures
    ['Metric accuracy minimum relative change check failed: candidate model accuracy = 0.7, baseline model accuracy = 0.68, accuracy minimum relative change threshold = 0.05.']
    >>> validate(gate, candidate={"accuracy": 0.72}, baseline={"accuracy": 0.68}).passed
    True
    """
    if not isinstance(thresholds, Mapping) or not all(
        isinstance(key, str) and isinstance(value, MetricThreshold) for key, value in thresholds.items()
    ):
        raise DataError(
            f"expected thresholds to map metric names to MetricThreshold; got {thresholds!r}; "
            "fix: e.g. {'accuracy': MetricThreshold(min_absolute_change=0.02, greater_is_better=True)}"
        )
    baseline = dict(baseline or {})
    failures = []
    for metric, gate in thresholds.items():
        failures += _check(metric, gate, candidate, baseline)
    return Verdict(passed=not failures, failures=failures)


def promote_if_better(
    registry: Registry,
    name: str,
    comparison: Comparison,
    gate: MetricThreshold,
    *,
    beyond_noise: bool = True,
    alias: str = "champion",
    refused_alias: str | None = "rejected",
) -> Verdict:
    """Promote the challenger of ``comparison`` to ``alias`` if it passes the gate; record the verdict either way.

    Parameters
    ----------
    registry, name
        The registry and the model's name.
    comparison
        What :func:`labkit.maintenance.compare` found: its challenger is the candidate,
        its champion the baseline, on its metric.
    gate
        The :class:`MetricThreshold` for that metric.
    beyond_noise
        Also require the pessimistic end of the gain's bootstrap interval to be above 0
        and at least ``min_absolute_change`` (see the module's docstring). ``False``
        judges as MLflow does, on the two numbers alone.
    alias
        The alias to promote the challenger to.
    refused_alias
        The alias pointed at a refused challenger, so the refusal and its reason are in
        the registry's history too; ``None`` to leave no trace.

    Returns
    -------
    Verdict
        Whether it passed and was promoted, and why not otherwise.

    Raises
    ------
    DataError
        The gate's direction disagrees with the comparison's metric.
    RegistryError
        The champion or the challenger changed since the comparison: compare again.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.dummy import DummyClassifier
    >>> import labkit as lk
    >>> from labkit.maintenance import Comparison
    >>> X = pd.DataFrame({"wind": np.arange(4.0)})
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> for _ in range(2):
    ...     _ = reg.register(DummyClassifier().fit(X, [0, 1, 0, 1]), name="demo", X=X)
    >>> _ = reg.promote("demo", version=1, alias="champion"), reg.promote("demo", version=2, alias="challenger")
    >>> day = pd.Timestamp("2014-01-01", tz="UTC")
    >>> lucky = Comparison(name="demo", metric="accuracy", greater_is_better=True, champion=1, challenger=2,
    ...                    start=day, end=day + pd.Timedelta(days=30), n_rows=30, champion_value=0.70,
    ...                    challenger_value=0.76, difference=0.06, lower=-0.04, upper=0.16, confidence=0.95,
    ...                    n_bootstrap=1000, seed=0)
    >>> gate = MetricThreshold(min_absolute_change=0.02, greater_is_better=True)
    >>> verdict = promote_if_better(reg, "demo", lucky, gate)
    >>> verdict.promoted, reg.aliases("demo")["champion"]
    (False, 1)
    >>> print(verdict.reason)
    Noise check failed: the 95% bootstrap interval of the gain in accuracy goes down to -0.04, so the gain of +0.06 may be noise; the gate needs that lower end above 0 and at least min_absolute_change = 0.02.
    >>> promote_if_better(reg, "demo", lucky, gate, beyond_noise=False).promoted  # MLflow's gate alone
    True
    """
    if not isinstance(comparison, Comparison):
        raise DataError(
            f"expected comparison to be what labkit.maintenance.compare returns; got {type(comparison).__name__}; "
            "fix: comparison = compare(reg, name, store=store, now=now)"
        )
    if not isinstance(gate, MetricThreshold):
        raise DataError(
            f"expected gate to be a MetricThreshold; got {type(gate).__name__}; "
            "fix: gate = MetricThreshold(min_absolute_change=0.02, greater_is_better=True)"
        )
    if gate.greater_is_better != comparison.greater_is_better:
        raise DataError(
            f"expected the gate to agree with the metric on which way is better: greater is "
            f"{'better' if comparison.greater_is_better else 'worse'} for {comparison.metric}; got "
            f"greater_is_better={gate.greater_is_better!r}; fix: pass greater_is_better={comparison.greater_is_better!r}"
        )
    held = registry.aliases(name).get(alias)
    if held != comparison.champion:
        raise RegistryError(
            f"expected alias {alias!r} to hold version {comparison.champion}, the champion compared; got version "
            f"{held}; fix: compare again, so the gate judges the version the alias holds now"
        )
    verdict = validate(
        {comparison.metric: gate},
        candidate={comparison.metric: comparison.challenger_value},
        baseline={comparison.metric: comparison.champion_value},
    )
    failures = list(verdict.failures)
    if beyond_noise:
        failures += _noise(comparison, gate)
    summary = (f"version {comparison.challenger} against version {comparison.champion} on {comparison.metric} "
               f"({comparison.challenger_value:.3f} against {comparison.champion_value:.3f}, {comparison.n_rows} rows)")
    if failures:
        if refused_alias is not None:
            registry.promote(name, version=comparison.challenger, alias=refused_alias,
                             reason=f"gate refused {summary}: {' '.join(failures)}")
        return Verdict(passed=False, failures=failures, promoted=False)
    registry.promote(name, version=comparison.challenger, alias=alias, reason=f"gate passed {summary}: {gate!r}")
    return Verdict(passed=True, failures=[], promoted=True)


def _check(metric: str, gate: MetricThreshold, candidate: Mapping[str, float], baseline: Mapping[str, float]) -> list[str]:
    """The failed checks of one metric, in MLflow's order and words."""
    if metric not in candidate:
        return [f"Metric validation failed: metric {metric} was missing from the evaluation result of the candidate model."]
    value = candidate[metric]
    better = (lambda a, b: a >= b) if gate.greater_is_better else (lambda a, b: a <= b)
    step = 1 if gate.greater_is_better else -1
    failures = []
    if gate.threshold is not None and not better(value, gate.threshold):
        failures.append(
            f"Metric {metric} value threshold check failed: candidate model {metric} = {value}, "
            f"{metric} threshold = {gate.threshold}."
        )
    if (gate.min_absolute_change is not None or gate.min_relative_change is not None) and metric not in baseline:
        failures.append(
            f"Model comparison failed: metric {metric} was missing from the evaluation result of the baseline model."
        )
        return failures
    base = baseline.get(metric)
    if gate.min_absolute_change is not None and not better(value, base + step * gate.min_absolute_change):
        failures.append(
            f"Metric {metric} minimum absolute change check failed: candidate model {metric} = {value}, "
            f"baseline model {metric} = {base}, {metric} minimum absolute change threshold = {gate.min_absolute_change}."
        )
    if gate.min_relative_change is not None:
        if base == 0:
            failed = not better(value, base + step * _ZERO_BASELINE_STEP)
        else:
            change = (value - base) / base if gate.greater_is_better else (base - value) / base
            failed = change < gate.min_relative_change
        if failed:
            failures.append(
                f"Metric {metric} minimum relative change check failed: candidate model {metric} = {value}, "
                f"baseline model {metric} = {base}, {metric} minimum relative change threshold = "
                f"{gate.min_relative_change}."
            )
    return failures


def _noise(comparison: Comparison, gate: MetricThreshold) -> list[str]:
    """The noise check: the pessimistic end of the gain's interval must clear 0 and min_absolute_change."""
    low = comparison.gain_interval[0]
    need = gate.min_absolute_change
    if low > 0 and (need is None or low >= need):
        return []
    also = f" and at least min_absolute_change = {need}" if need is not None else ""
    return [
        f"Noise check failed: the {comparison.confidence:.0%} bootstrap interval of the gain in {comparison.metric} "
        f"goes down to {low:+.3g}, so the gain of {comparison.gain:+.3g} may be noise; the gate needs that lower "
        f"end above 0{also}."
    ]
