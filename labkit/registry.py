"""The model registry: immutable versions, movable aliases, and an audit log.

On disk, one folder per model name::

    <root>/<name>/versions/<N>/model.skops   the model, saved with skops (never pickle)
                               meta.json     sha256, schema, training profile, metrics,
                                             versions, notes
                               reference.npz a sample of the training frame, for drift
                                             reports (see :mod:`labkit.reference`)
                               card.md       the model card
    <root>/<name>/aliases.json               alias -> current version, the ones before,
                                             and the history line of its last move
    <root>/<name>/history.jsonl              one line per event, only ever appended

A file lock per name lets several processes register and promote at once.

**What a crash leaves.** Each change takes effect at one atomic rename, its commit: a
new version is written into a hidden staging folder and renamed to its number; the alias
file is written to a hidden temporary file and renamed over the old one. A process killed
at any moment (``kill -9``, the out-of-memory killer) so leaves each version whole or
absent, and the alias file old or new, never half of either. (Every write is also
flushed with ``fsync``, so a power cut should leave the same on a disk that honours it;
the tests kill processes, they do not cut power.) The history line is appended *after*
the commit, so a crash can come between the two. To make them atomic together, the
commit carries the line: an alias entry keeps its last move's line (with an ``id``), and
a version's ``meta.json`` its time and notes. The guarantee:

- :meth:`Registry.history` lists exactly the events that took effect, in order: one
  killed before its commit did not happen and is not listed; one killed after it is
  listed, recovered from what the commit carried (a registration recovered this way is
  timed at its ``created_at``). A line cut short by a crash is skipped.
- Only the last event can be missing from ``history.jsonl``: every writer, holding the
  lock, first appends it and removes what killed writers left (temporary alias files, and
  staging folders whose claim, a lock file held while the folder exists, is free).
- A kill never leaves the lock held: the operating system releases it with the process.

Loading is safe by default, within limits worth knowing:

- **The trust list.** A skops file names the types (and functions) to rebuild it from,
  and loading imports and calls them, so the file's author chooses what runs unless the
  loader refuses names it was not told are safe. Every load, and every registration,
  checks the file against an exact list of names (never "everything from NumPy", which
  includes ``numpy.savetxt``): skops' own defaults, :data:`labkit.trust.TRUSTED_TYPES`
  (each with why it is there and what it risks), and the names the caller passes in
  ``trusted=``. A model that needs your own class is registered *and* loaded with
  ``trusted=["mymodule.MyClass"]``; the registry records the names but never reads them
  back to decide, because ``meta.json`` can be edited as easily as the model file.
- **The checksum.** ``meta.json`` records the model file's sha256, and a load refuses a
  file whose sha256 differs; the same goes for the reference sample. It catches a file that changed by accident (a bad copy, a
  half-written disk) or was replaced by someone who did not also edit ``meta.json``. It
  does not stop someone who can write the registry's folder: they can rewrite both, since
  a checksum without a secret key proves nothing about who wrote the file. The trust list
  is what limits what such a file can do.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import pandas as pd
import skops.io
import sklearn
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from labkit._files import append_line, fsync_directory, write_atomic
from labkit.card import model_card
from labkit.clock import system_clock
from labkit.errors import IntegrityError, NotFoundError, RegistryError
from labkit.profile import training_profile
from labkit.reference import read_reference, write_reference
from labkit.schema import Schema
from labkit.trust import TRUSTED_TYPES, check_types, load_model

__all__ = ["ModelVersion", "Registry"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MODEL_FILE = "model.skops"
_REFERENCE_FILE = "reference.npz"
_STAGING = ".staging-"


@dataclass(frozen=True)
class ModelVersion:
    """One registered, immutable version of a model.

    Parameters
    ----------
    name
        The model's name in the registry.
    version
        The version number, counting from 1.
    directory
        The folder holding the version's files.
    meta
        Everything recorded at registration (see ``meta.json``).
    """

    name: str
    version: int
    directory: Path = field(repr=False)
    meta: Mapping[str, Any] = field(repr=False)

    @property
    def schema(self) -> Schema:
        """The input schema inferred from the training frame."""
        return Schema.from_dict(self.meta["schema"])

    @property
    def profile(self) -> dict[str, Any] | None:
        """What each input column held in training (see :mod:`labkit.profile`).

        ``None`` for versions registered before labkit recorded profiles: unknown, not empty.
        """
        profile = self.meta.get("profile")
        return dict(profile) if profile is not None else None

    @property
    def metrics(self) -> dict[str, float]:
        """The metrics given at registration."""
        return dict(self.meta["metrics"])

    @property
    def sha256(self) -> str:
        """The checksum of the model file, checked on every load."""
        return str(self.meta["sha256"])

    @property
    def reference(self) -> pd.DataFrame:
        """The reference sample of the training frame, after checking its sha256.

        All training rows up to 50,000, a seeded sample above (see :mod:`labkit.reference`):
        what :func:`labkit.monitoring.drift_report` compares production data with.

        Raises
        ------
        NotFoundError
            The version was registered before labkit kept reference samples.
        IntegrityError
            The file is missing, or changed since registration.
        """
        description = self.meta.get("reference")
        if description is None:
            raise NotFoundError(
                f"expected model {self.name!r} version {self.version} to hold a reference sample; it was "
                "registered before labkit kept one, so it has none; fix: register the model again with its "
                "training frame, or pass that frame itself as the reference"
            )
        path = self.directory / _REFERENCE_FILE
        data = _checked_read(path, description["sha256"], what="reference sample")
        return read_reference(data, description)

    @property
    def lineage(self) -> dict[str, Any] | None:
        """Where a retrained version came from (see :func:`labkit.maintenance.retrain`); ``None`` if not recorded."""
        lineage = self.meta.get("lineage")
        return dict(lineage) if lineage is not None else None

    @property
    def card(self) -> str:
        """The model card, in Markdown."""
        return (self.directory / "card.md").read_text(encoding="utf-8")


class Registry:
    """A folder of registered models, their versions, aliases and history.

    Parameters
    ----------
    root
        The registry's folder; created on the first registration.
    clock
        Returns the current time; pass a :class:`labkit.clock.SimulatedClock` for
        reproducible timestamps.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"wind": rng.normal(size=40), "temp": rng.normal(size=40)})
    >>> y = X["wind"] > 0
    >>> reg = Registry(tempfile.mkdtemp())
    >>> v1 = reg.register(LogisticRegression().fit(X, y), name="demo", X=X, y=y)
    >>> v1
    ModelVersion(name='demo', version=1)
    >>> v1.reference.equals(X)  # the training rows kept for drift reports (a sample above 50,000)
    True
    >>> reg.promote("demo", version=1, alias="champion")
    ModelVersion(name='demo', version=1)
    >>> reg.load("demo", alias="champion").predict(X.head(3)).tolist()
    [True, False, True]
    """

    def __init__(self, root: str | os.PathLike[str], *, clock: Callable[[], datetime] = system_clock) -> None:
        self.root = Path(root)
        self.clock = clock

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    def models(self) -> list[str]:
        """The names of the registered models, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _NAME.match(p.name) and self._has_versions(p.name))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        return [self._read_version(name, number) for number in self._version_numbers(name)]

    def aliases(self, name: str) -> dict[str, int]:
        """Each alias of ``name`` and the version it points at."""
        self._require_model(name)
        return {alias: entry["version"] for alias, entry in self._read_aliases(name).items()}

    def get(self, name: str, *, alias: str | None = None, version: int | None = None) -> ModelVersion:
        """The metadata of one version, chosen by alias or by number (default: the latest)."""
        self._require_model(name)
        if alias is not None and version is not None:
            raise RegistryError(
                f"expected alias or version, not both; got alias={alias!r} and version={version!r}; "
                "fix: pass only one"
            )
        if alias is not None:
            aliases = self._read_aliases(name)
            if alias not in aliases:
                known = ", ".join(repr(a) for a in aliases) or "none yet"
                raise NotFoundError(
                    f"expected an alias of model {name!r}; got {alias!r} (aliases: {known}); "
                    f"fix: reg.promote({name!r}, version=N, alias={alias!r}) first"
                )
            version = aliases[alias]["version"]
        if version is None:
            version = self._version_numbers(name)[-1]
        return self._read_version(name, version)

    def register(
        self,
        model: Any,
        *,
        name: str,
        X: pd.DataFrame,
        y: Any = None,
        metrics: Mapping[str, float] | None = None,
        notes: str = "",
        trusted: Iterable[str] = (),
        lineage: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Store a fitted model as a new, immutable version.

        Parameters
        ----------
        model
            A fitted scikit-learn estimator or pipeline.
        name
            The model's name: letters, digits, ``_``, ``.`` and ``-``.
        X
            The training frame; its columns become the version's input schema, and
            their values its training profile (ranges, quantiles, category counts).
        y
            The training target, recorded (name, kind, classes) in the card.
        metrics
            Evaluation results, such as ``{"accuracy": 0.81}``.
        notes
            Free text for the model card: what changed and why.
        trusted
            Exact type names the model may contain beyond the trust list (see the module's
            docstring), such as your own transformer's ``"mymodule.MyClass"``. Recorded in
            the version's card; pass the same names to every :meth:`load`.
        lineage
            Where the version came from, as :func:`labkit.maintenance.retrain` records it:
            the parent version, the data window, the rows used and what triggered it.
            Kept in ``meta.json`` (JSON values only) and shown in the card.

        Returns
        -------
        ModelVersion
            The new version; numbers count up from 1 per name.

        Raises
        ------
        UntrustedModelError
            The model's file would need a type outside the trust list; nothing is stored.
        """
        _check_name(name, "model name")
        try:
            check_is_fitted(model)
        except NotFittedError:
            raise RegistryError(
                f"expected a fitted model; got an unfitted {type(model).__name__}; fix: call model.fit(X, y) first"
            ) from None
        except TypeError as error:
            raise RegistryError(
                f"expected a scikit-learn estimator; got {type(model).__name__} ({error}); "
                "fix: register a scikit-learn model or pipeline"
            ) from None
        schema = Schema.infer(X)
        profile = training_profile(X)
        fitted_on = getattr(model, "feature_names_in_", None)
        if fitted_on is not None and list(fitted_on) != list(schema.names):
            raise RegistryError(
                f"expected X to have the columns the model was fitted on, {list(fitted_on)!r}; "
                f"got {list(schema.names)!r}; fix: pass the same training frame as to fit"
            )
        if lineage is not None:
            _check_lineage(lineage)
        clean_metrics = _check_metrics(metrics or {})
        model_dir = self.root / name
        (model_dir / "versions").mkdir(parents=True, exist_ok=True)
        with _staging_folder(model_dir / "versions") as staging:
            model_path = staging / _MODEL_FILE
            skops.io.dump(model, model_path)
            needs = check_types(model_path.read_bytes(), trusted=trusted, source=f"the file of model {name!r}")
            needs = [type_name for type_name in needs if type_name not in TRUSTED_TYPES]
            reference = write_reference(X, staging / _REFERENCE_FILE)
            reference["sha256"] = _sha256(staging / _REFERENCE_FILE)
            meta = {
                "name": name,
                "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
                "sha256": _sha256(model_path),
                "schema": schema.to_dict(),
                "profile": profile,
                "target": _describe_target(y, model),
                "training_rows": int(len(X)),
                "reference": reference,
                "metrics": clean_metrics,
                "notes": notes,
                # Where a retrained version came from; None for one registered by hand.
                "lineage": dict(lineage) if lineage is not None else None,
                # The names every load must be given: for the card and for people, never
                # read back to decide what a load trusts.
                "trusted": needs,
                "environment": _environment(),
            }
            with self._lock(name):
                self._recover(name)
                number = (self._numbers(name) or [0])[-1] + 1
                meta.update(version=number, created_at=self.clock().isoformat())
                # allow_nan=False: NaN is not JSON, and a reader in another language would choke on it.
                (staging / "meta.json").write_text(json.dumps(meta, indent=2, allow_nan=False), encoding="utf-8")
                (staging / "card.md").write_text(model_card(meta), encoding="utf-8")
                _fsync_tree(staging)
                # The commit: from here on the version exists, even if its history line never gets written.
                os.replace(staging, model_dir / "versions" / str(number))
                fsync_directory(model_dir / "versions")
                registered = self._event(event="register", version=number, alias=None, previous=None, reason=notes)
                self._append(name, registered)
        return self._read_version(name, number)

    def promote(self, name: str, *, version: int, alias: str, reason: str = "") -> ModelVersion:
        """Point ``alias`` at ``version``; the version it held before is kept for rollback.

        Returns
        -------
        ModelVersion
            The version the alias now points at.
        """
        _check_name(alias, "alias")
        if alias.isdigit():
            raise RegistryError(
                f"expected an alias name that is not a number; got {alias!r}; "
                "fix: use a word such as 'champion' (numbers are versions)"
            )
        self._require_model(name)
        with self._lock(name):
            self._recover(name)
            target = self._read_version(name, version)
            aliases = self._read_aliases(name)
            entry = aliases.get(alias, {"version": None, "previous": []})
            if entry["version"] == version:
                return target
            if entry["version"] is not None:
                entry["previous"].append(entry["version"])
            previous, entry["version"] = entry["version"], version
            aliases[alias] = entry
            self._move(name, aliases, alias, event="promote", previous=previous, reason=reason)
        return target

    def rollback(self, name: str, *, alias: str, reason: str = "") -> ModelVersion:
        """Point ``alias`` back at the version it held before its last promotion.

        Returns
        -------
        ModelVersion
            The version the alias now points at.
        """
        self._require_model(name)
        with self._lock(name):
            self._recover(name)
            aliases = self._read_aliases(name)
            entry = aliases.get(alias)
            if entry is None or not entry["previous"]:
                held = f"holds version {entry['version']} and has no earlier one left" if entry else "does not exist"
                raise RegistryError(
                    f"expected alias {alias!r} of model {name!r} to have an earlier version; it {held}; "
                    f"fix: promote another version with reg.promote({name!r}, version=N, alias={alias!r})"
                )
            current = entry["version"]
            entry["version"] = entry["previous"].pop()
            self._move(name, aliases, alias, event="rollback", previous=current, reason=reason)
        return self._read_version(name, entry["version"])

    def history(self, name: str) -> pd.DataFrame:
        """The audit log of ``name``: every registration, promotion and rollback, oldest first.

        Exactly the events that took effect, even if a crash kept the last one's line out of
        ``history.jsonl`` (see the module's docstring); a reader never writes, so such a line
        is shown here at once and appended by the next writer.

        Returns
        -------
        pandas.DataFrame
            Columns ``time``, ``event``, ``version``, ``alias``, ``previous`` and ``reason``.
        """
        self._require_model(name)
        # Commits first, then the log: a writer appends each event's line before it commits
        # the next, so the log read afterwards lacks at most the newest commit read here.
        # The other way round, a reader racing a writer could show an event but not the one before.
        aliases, numbers = self._read_aliases(name), self._numbers(name)
        rows = self._read_history(name)
        rows += self._unlogged(name, rows, aliases=aliases, numbers=numbers)
        columns = ["time", "event", "version", "alias", "previous", "reason"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["version"] = frame["version"].astype("Int64")
        frame["previous"] = frame["previous"].astype("Int64")
        return frame

    def load(
        self,
        name: str,
        *,
        alias: str | None = None,
        version: int | None = None,
        trusted: Iterable[str] = (),
    ) -> Any:
        """Load a version's model after checking its checksum and the types it contains.

        Parameters
        ----------
        name
            The model's name.
        alias, version
            Which version: by alias, or by number (default: the latest).
        trusted
            Exact type names to allow beyond the trust list: the same names the version
            was registered with, if it needed any.

        Raises
        ------
        IntegrityError
            The file changed since registration, or is not a skops file.
        UntrustedModelError
            The file names a type outside the trust list; nothing in it was built or run.
        """
        entry = self.get(name, alias=alias, version=version)
        return load_model(self._checked_bytes(entry), trusted=trusted, source=self._describe(entry))

    def verify(
        self,
        name: str,
        *,
        alias: str | None = None,
        version: int | None = None,
        trusted: Iterable[str] = (),
    ) -> ModelVersion:
        """Check a version as :meth:`load` would (checksum, format, types), without building it.

        A deployment calls this before it starts a server, so a file that would be refused
        is reported at once, in the caller's process.

        Returns
        -------
        ModelVersion
            The version that passed.

        Raises
        ------
        IntegrityError, UntrustedModelError
            As :meth:`load`.
        """
        entry = self.get(name, alias=alias, version=version)
        check_types(self._checked_bytes(entry), trusted=trusted, source=self._describe(entry))
        return entry

    def _checked_bytes(self, entry: ModelVersion) -> bytes:
        """The model file's bytes, read once, so the bytes checked are the bytes loaded."""
        return _checked_read(entry.directory / _MODEL_FILE, entry.sha256, what="model file")

    @staticmethod
    def _describe(entry: ModelVersion) -> str:
        return f"the file of model {entry.name!r} version {entry.version} ({entry.directory / _MODEL_FILE})"

    def _version_numbers(self, name: str) -> list[int]:
        self._require_model(name)
        return self._numbers(name)

    def _numbers(self, name: str) -> list[int]:
        folder = self.root / name / "versions"
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())

    def _has_versions(self, name: str) -> bool:
        # A folder without a numbered version is what a failed first registration leaves.
        return bool(self._numbers(name))

    def _read_version(self, name: str, version: int) -> ModelVersion:
        if isinstance(version, bool) or not isinstance(version, (int, np.integer)):
            raise RegistryError(f"expected a version number; got {version!r}; fix: pass an int such as version=1")
        directory = self.root / name / "versions" / str(int(version))
        meta_path = directory / "meta.json"
        if not meta_path.exists():
            known = self._version_numbers(name)
            raise NotFoundError(
                f"expected a version of model {name!r} ({', '.join(map(str, known)) or 'none yet'}); "
                f"got {version!r}; fix: pick one of those, or register a new version"
            )
        return ModelVersion(name, int(version), directory, json.loads(meta_path.read_text(encoding="utf-8")))

    def _require_model(self, name: str) -> None:
        _check_name(name, "model name")
        if not self._has_versions(name):
            known = ", ".join(repr(m) for m in self.models()) or "none yet"
            raise NotFoundError(
                f"expected a registered model name ({known}); got {name!r} in registry {str(self.root)!r}; "
                "fix: check the spelling, or reg.register(model, name=..., X=...) first"
            )

    def _read_aliases(self, name: str) -> dict[str, dict[str, Any]]:
        path = self.root / name / "aliases.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def _write_aliases(self, name: str, aliases: Mapping[str, Any]) -> None:
        write_atomic(self.root / name / "aliases.json", json.dumps(aliases, indent=2).encode())

    def _move(
        self, name: str, aliases: dict[str, dict[str, Any]], alias: str, *, event: str, previous: int | None, reason: str
    ) -> None:
        """Commit the alias file with the move's history line inside it, then append the line."""
        entry = aliases[alias]
        entry["event"] = self._event(
            event=event, version=entry["version"], alias=alias, previous=previous, reason=reason, id=uuid.uuid4().hex
        )
        self._write_aliases(name, aliases)
        self._append(name, entry["event"])

    def _event(self, **event: Any) -> dict[str, Any]:
        return {"time": self.clock().isoformat(), **event}

    def _append(self, name: str, event: Mapping[str, Any]) -> None:
        append_line(self.root / name / "history.jsonl", json.dumps(event))

    def _read_history(self, name: str) -> list[dict[str, Any]]:
        path = self.root / name / "history.jsonl"
        rows = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash mid-append is not an event
        return rows

    def _unlogged(
        self, name: str, logged: list[dict[str, Any]], *, aliases: Mapping[str, Any], numbers: list[int]
    ) -> list[dict[str, Any]]:
        """The events committed without their history line: a crash came between the two."""
        registered = {row.get("version") for row in logged if row.get("event") == "register"}
        moves = {row.get("id") for row in logged if "id" in row}
        missing = []
        for number in numbers:
            if number not in registered:
                meta = self._read_version(name, number).meta
                missing.append(
                    {
                        "time": meta["created_at"],
                        "event": "register",
                        "version": number,
                        "alias": None,
                        "previous": None,
                        "reason": meta["notes"],
                    }
                )
        # Entries written before labkit kept the last move in the alias file have none.
        missing += [e["event"] for e in aliases.values() if "event" in e and e["event"]["id"] not in moves]
        return missing

    def _recover(self, name: str) -> None:
        """Finish what a killed writer left: append its event's line, remove its files.

        Called by every writer, holding the lock, so whatever a writer leaves is cleared
        before the next change: at most one event is ever missing from the log.
        """
        aliases, numbers = self._read_aliases(name), self._numbers(name)
        for event in self._unlogged(name, self._read_history(name), aliases=aliases, numbers=numbers):
            self._append(name, event)
        # Alias files are only written under the lock, so a temporary one found now is a killed writer's.
        for temporary in (self.root / name).glob(".aliases.json.*.tmp"):
            temporary.unlink(missing_ok=True)
        _remove_abandoned_staging(self.root / name / "versions")

    def _lock(self, name: str) -> filelock.BaseFileLock:
        (self.root / name).mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(self.root / name / ".lock", timeout=60)


def _check_name(value: Any, what: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        article = "an" if what[0] in "aeiou" else "a"
        raise RegistryError(
            f"expected {article} {what} of letters, digits, '_', '.' or '-' (at most 64, not starting with '.' or '-'); "
            f"got {value!r}; fix: use a name such as 'weather'"
        )


def _check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    clean = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
            raise RegistryError(
                f"expected each metric to be a finite number; got {key}={value!r}; "
                "fix: pass numbers, e.g. metrics={'accuracy': 0.81}"
            )
        clean[str(key)] = float(value)
    return clean


def _check_lineage(lineage: Mapping[str, Any]) -> None:
    try:
        json.dumps(dict(lineage), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise RegistryError(
            f"expected lineage to hold only JSON values (text, numbers, lists, dicts); got {lineage!r} ({error}); "
            "fix: write times as ISO 8601 text and numbers as finite floats"
        ) from None


def _checked_read(path: Path, sha256: str, *, what: str) -> bytes:
    """A file's bytes, read once, refused unless their sha256 is the one registered."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(
            f"expected the {what} {path}; got nothing there; fix: restore the file or register the model again"
        ) from None
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise IntegrityError(
            f"expected {path} to have sha256 {sha256} as registered; got {found}: the file changed "
            "after registration and will not be read; fix: restore the original file or register the model again"
        )
    return data


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _staging_folder(parent: Path) -> Iterator[Path]:
    """A new hidden folder in ``parent``, removed on exit unless renamed away.

    Versions are staged outside the lock (saving a big model takes time a rollback should
    not wait for), so another writer cannot tell a live staging folder from one a killed
    process left. The claim tells it: a lock file next to the folder, held while the folder
    exists, and released by the operating system when its process dies.
    """
    staging = parent / f"{_STAGING}{uuid.uuid4().hex}"
    claim = parent / f"{staging.name}.lock"
    try:
        with filelock.FileLock(claim):
            staging.mkdir()
            try:
                yield staging
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        claim.unlink(missing_ok=True)


def _remove_abandoned_staging(parent: Path) -> None:
    """Remove the staging folders (and claims) in ``parent`` whose process died."""
    if not parent.is_dir():
        return
    for staging in {path.name.removesuffix(".lock") for path in parent.glob(f"{_STAGING}*")}:
        claim = parent / f"{staging}.lock"
        try:
            with filelock.FileLock(claim, timeout=0):
                shutil.rmtree(parent / staging, ignore_errors=True)
        except filelock.Timeout:
            continue  # its writer is alive and still staging
        claim.unlink(missing_ok=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as file:
            os.fsync(file.fileno())
    fsync_directory(folder)


def _describe_target(y: Any, model: Any) -> dict[str, Any] | None:
    if y is None:
        return None
    series = pd.Series(y)
    classes = getattr(model, "classes_", None)
    kind = "boolean" if pd.api.types.is_bool_dtype(series) else ("float" if pd.api.types.is_float_dtype(series) else str(series.dtype))
    return {
        "name": str(series.name) if series.name is not None else "target",
        "kind": kind,
        "classes": [c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else None,
    }


def _environment() -> dict[str, str]:
    return {
        "labkit": importlib.metadata.version("labkit"),
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }
