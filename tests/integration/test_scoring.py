"""Batch scoring against a real service: resumable after kill -9, refusals listed, the same bytes in process."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import labkit as lk
from labkit.cli import main
from labkit.errors import DataError, ScoringJobError, ServiceError
from labkit.integration import ScoringReport

N_ROWS = 200_000
CHUNK = 10_000
FEATURES = list(lk.data.FEATURES)


@dataclass(frozen=True)
class BigInput:
    """The 200,000-row file, and what scoring it must give."""

    path: Path
    refused: dict[int, str]  # input line number -> words its reason must contain
    scored_ids: list[int]  # the ids of the rows that must be scored, in the file's order
    lines: list[str]  # every line of the file, the header first


@pytest.fixture(scope="module")
def registry(tmp_path_factory, weather_split, weather_model) -> lk.Registry:
    """Version 1 is the notebook's model; version 2 a differently regularised one."""
    train, _ = weather_split
    X, y = train[FEATURES], train["rain_tomorrow"]
    registry = lk.Registry(tmp_path_factory.mktemp("scoring") / "registry")
    registry.register(weather_model, name="weather", X=X, y=y)
    other = make_pipeline(weather_model[0], LogisticRegression(C=0.01)).fit(X, y)
    registry.register(other, name="weather", X=X, y=y)
    registry.promote("weather", version=1, alias="champion")
    return registry


@pytest.fixture(scope="module")
def big(tmp_path_factory, weather_split) -> BigInput:
    """Production days drawn with replacement, with malformed lines and refused rows at known lines."""
    _, production = weather_split
    rng = np.random.default_rng(0)
    days = production.iloc[rng.integers(0, len(production), N_ROWS)].reset_index(drop=True)
    frame = pd.DataFrame({"id": np.arange(1, N_ROWS + 1), "date": days["date"].dt.strftime("%Y-%m-%d")})
    frame[FEATURES] = days[FEATURES]
    frame["note"] = ""
    # A few quoted values holding a comma: valid CSV, scored like any other row.
    frame.loc[rng.choice(N_ROWS, 40, replace=False), "note"] = "rain, then sun"
    lines = frame.to_csv(index=False, lineterminator="\n").splitlines()
    header = lines[0].split(",")

    def edit(line: int, column: str, value: str) -> str:
        fields = next(csv.reader([lines[line - 1]]))
        fields[header.index(column)] = value
        return ",".join(f'"{field}"' if "," in field else field for field in fields)

    # Line 1 is the header, so data row k (from 1) is line k + 1. A chunk is 10,000 lines:
    # lines 10001 and 10002 sit on either side of the first chunk boundary.
    defects = {
        2: (edit(2, "weather", "hail"), "categories seen in training"),
        3: (lines[2] + ",extra", "comma-separated fields"),
        10_001: (edit(10_001, "wind", "calm"), "expected a JSON number"),
        10_002: (lines[10_001].rsplit(",", 2)[0], "comma-separated fields"),
        55_555: ("", "an empty line"),
        77_777: (edit(77_777, "temp_max", ""), "got null"),
        99_999: (edit(99_999, "precipitation", "inf"), "expected a finite number"),
        123_456: (edit(123_456, "note", '5\'11"'), "quote this line opens"),
        N_ROWS + 1: (edit(N_ROWS + 1, "weather", "hail"), "categories seen in training"),
    }
    # 300 unknown categories in one chunk: the schema names one a check, so this is the
    # case that needs the chunk checked in parts.
    defects |= {line: (edit(line, "weather", "hail"), "categories seen in training") for line in range(150_100, 150_400)}
    for line, (text, _) in defects.items():
        lines[line - 1] = text
    path = tmp_path_factory.mktemp("input") / "days.csv"
    # The last line has no line break, as many exported files end.
    path.write_text("\n".join(lines), encoding="utf-8")
    scored_ids = [int(i) for i in frame["id"] if i + 1 not in defects]
    return BigInput(path, {line: words for line, (_, words) in defects.items()}, scored_ids, lines)


@pytest.fixture(scope="module")
def service(registry) -> Iterator[lk.Deployment]:
    with lk.deploy(registry, "weather", version=1) as dep:
        yield dep


@dataclass(frozen=True)
class Finished:
    folder: Path
    report: ScoringReport

    @property
    def output(self) -> bytes:
        return (self.folder / "scored.csv").read_bytes()

    @property
    def errors(self) -> bytes:
        return (self.folder / "scored.errors.csv").read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, big, service) -> Finished:
    """A run over HTTP that was never interrupted: what every other run must write, byte for byte."""
    folder = tmp_path_factory.mktemp("reference")
    report = lk.score_file(big.path, folder / "scored.csv", client=service.client, progress=False)
    return Finished(folder, report)


def _score_command(big: BigInput, output: Path, *where: str) -> list[str]:
    return [sys.executable, "-m", "labkit", "score", str(big.path), str(output), *where, "--no-progress"]


def _stop_when_grown(command: list[str], output: Path, past: int, how: signal.Signals = signal.SIGKILL) -> str:
    """Run ``command``, send it ``how`` as soon as ``output`` holds more than ``past`` bytes; return its stderr."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if output.exists() and output.stat().st_size > past:
                process.send_signal(how)
                break
            time.sleep(0.002)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    expected = -9 if how == signal.SIGKILL else 130
    assert process.returncode == expected, f"expected the run to be stopped mid-file; it ended with {process.returncode}: {err!r}"
    return err


def _progress(output: Path) -> dict:
    return json.loads(output.with_suffix(".progress.json").read_text())


def _copy_job(source: Path, target: Path) -> Path:
    target.mkdir(exist_ok=True)
    for name in ("scored.csv", "scored.errors.csv", "scored.progress.json"):
        shutil.copy(source / name, target / name)
    return target / "scored.csv"


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, big, service, reference) -> Path:
    """The folder of a ``labkit score`` run killed with SIGKILL once its output passed two chunks."""
    folder = tmp_path_factory.mktemp("interrupted")
    output = folder / "scored.csv"
    _stop_when_grown(_score_command(big, output, "--url", service.url), output, past=len(reference.output) // 10)
    progress = _progress(output)
    assert 0 < progress["rows_read"] < N_ROWS and not progress["complete"]
    return folder


def test_a_run_killed_then_interrupted_then_finished_writes_the_bytes_of_a_run_never_stopped(
    tmp_path, big, service, reference, interrupted, capsys
):
    output = _copy_job(interrupted, tmp_path / "job")
    first_stop = _progress(output)["rows_read"]

    # The second stop is Ctrl+C: the command ends cleanly and keeps what it wrote.
    err = _stop_when_grown(
        _score_command(big, output, "--url", service.url), output, past=len(reference.output) * 6 // 10, how=signal.SIGINT
    )
    second_stop = _progress(output)["rows_read"]
    status = main(["score", str(big.path), str(output), "--url", service.url, "--no-progress"])

    assert first_stop < second_stop < N_ROWS
    assert err == "labkit score: interrupted; every chunk written so far is kept; run the same command again to continue\n"
    assert status == 1  # some rows were refused
    assert f"resumed after {second_stop:,} rows" in capsys.readouterr().out
    assert output.read_bytes() == reference.output
    assert output.with_suffix(".errors.csv").read_bytes() == reference.errors
    assert _progress(output)["complete"]


def test_a_service_lost_mid_file_stops_the_job_and_a_rerun_on_another_finishes_it(tmp_path, big, registry, service, reference):
    output = tmp_path / "scored.csv"
    doomed = lk.deploy(registry, "weather", version=1)
    process = subprocess.Popen(
        _score_command(big, output, "--url", doomed.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if output.exists() and output.stat().st_size > len(reference.output) // 10:
                os.kill(doomed.pid, signal.SIGKILL)  # the service crashes: no goodbye, connections reset
                break
            time.sleep(0.002)
        _, err = process.communicate(timeout=120)
    finally:
        doomed.stop()
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 2, err
    assert err.startswith(f"labkit score: cannot reach the model service at {doomed.url}") and "Traceback" not in err
    assert "the job keeps the" in err and "run the same command again to continue" in err
    assert main(["score", str(big.path), str(output), "--url", service.url, "--no-progress"]) == 1
    assert output.read_bytes() == reference.output
    assert output.with_suffix(".errors.csv").read_bytes() == reference.errors


def test_bytes_written_after_the_last_commit_are_cut_off_and_written_again(tmp_path, big, registry, reference, interrupted):
    output = _copy_job(interrupted, tmp_path / "job")
    # What a kill in the middle of a write leaves: bytes of a chunk that was never recorded.
    for path in (output, output.with_suffix(".errors.csv")):
        with open(path, "ab") as file:
            file.write(b"2014-03-01,half a line")

    # Finished in process, though begun over HTTP: the same version gives the same bytes.
    report = lk.score_file(big.path, output, model=registry.get("weather", version=1), progress=False)

    assert report.resumed_after == _progress_of(interrupted)["rows_read"]
    assert output.read_bytes() == reference.output
    assert output.with_suffix(".errors.csv").read_bytes() == reference.errors


def _progress_of(folder: Path) -> dict:
    return _progress(folder / "scored.csv")


def test_in_process_and_over_http_write_the_same_bytes(tmp_path, big, registry, reference):
    report = lk.score_file(big.path, tmp_path / "scored.csv", model=registry.get("weather", alias="champion"), progress=False)

    assert (tmp_path / "scored.csv").read_bytes() == reference.output
    assert (tmp_path / "scored.errors.csv").read_bytes() == reference.errors
    assert (report.rows_read, report.rows_scored, report.rows_refused) == (
        reference.report.rows_read, reference.report.rows_scored, reference.report.rows_refused
    )


def test_every_row_is_scored_or_listed_with_its_line_and_reason(big, reference, weather_model, service):
    report = reference.report
    errors = pd.read_csv(reference.folder / "scored.errors.csv", keep_default_na=False)
    scored = pd.read_csv(reference.folder / "scored.csv", keep_default_na=False, dtype={"note": str})

    assert report.rows_read == N_ROWS == report.rows_scored + report.rows_refused
    assert report.rows_refused == len(big.refused) and report.exit_status == 1
    assert list(errors.columns) == ["line", "reason", "input"]
    assert errors["line"].tolist() == sorted(big.refused)
    for line, reason, text in errors.itertuples(index=False):
        assert big.refused[line] in reason, (line, reason)
        assert text == big.lines[line - 1]
    # Rows in the input's order, none twice, none missing, each with the model's own answer.
    assert scored["id"].tolist() == big.scored_ids
    assert list(scored.columns) == ["id", "date", *FEATURES, "note", "prediction", "proba_False", "proba_True", "model_version"]
    assert (scored["model_version"] == 1).all()
    assert scored["prediction"].tolist() == weather_model.predict(scored[FEATURES]).tolist()
    np.testing.assert_allclose(scored[["proba_False", "proba_True"]], weather_model.predict_proba(scored[FEATURES]), rtol=1e-12)
    assert (scored["note"] == "rain, then sun").sum() > 0
    # The reason is the service's own: the same row sent to it is refused in the same words.
    hail = scored[FEATURES].head(1).assign(weather="hail")
    with pytest.raises(ServiceError) as refusal:
        service.client.predict(hail)
    assert errors["reason"].iloc[0] == f"column 'weather': {refusal.value.detail[0]['msg']}"


def test_a_job_never_mixes_two_model_versions(tmp_path, big, registry, interrupted, capsys):
    output = _copy_job(interrupted, tmp_path / "job")
    before = output.read_bytes()

    with pytest.raises(
        ScoringJobError,
        match=r"expected model 'weather' version 1, which scored the [\d,]+ rows .*scored.csv holds so far; got 'weather' "
        r"version 2, and one output never mixes two versions; fix: score with version 1 .* or to start over, delete",
    ):
        lk.score_file(big.path, output, model=registry.get("weather", version=2), progress=False)
    with lk.deploy(registry, "weather", version=2) as newer:
        status = main(["score", str(big.path), str(output), "--url", newer.url, "--no-progress"])

    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit score: expected model 'weather' version 1") and err.count("\n") == 1
    assert output.read_bytes() == before


def test_a_job_refuses_another_input_or_chunk_size(tmp_path, big, registry, interrupted):
    output = _copy_job(interrupted, tmp_path / "job")
    changed = tmp_path / "days.csv"
    changed.write_bytes(big.path.read_bytes() + b"\n200001,2015-12-31,0.0,9.0,3.0,2.0,sun,")
    champion = registry.get("weather", alias="champion")

    with pytest.raises(ScoringJobError, match=r"expected the input that the [\d,]+ rows .* came from \(.*days.csv, "
                       r"[\d,]+ bytes.*got .*days.csv \([\d,]+ bytes.*fix: run again with the original input"):
        lk.score_file(changed, output, model=champion, progress=False)
    with pytest.raises(ScoringJobError, match=r"expected chunk size 10000, .*; got 5000; fix: run again with --chunk-size 10000"):
        lk.score_file(big.path, output, model=champion, chunk_size=5000, progress=False)


def test_a_finished_job_says_so_and_writes_nothing(tmp_path, big, reference, service, capsys):
    output = _copy_job(reference.folder, tmp_path / "job")

    status = main(["score", str(big.path), str(output), "--url", service.url, "--no-progress"])

    assert status == 1
    assert capsys.readouterr().out.startswith(f"already complete: {output} holds {len(big.scored_ids):,} of 200,000 rows")
    assert output.read_bytes() == reference.output


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "days.csv"
    path.write_text("day,precipitation,temp_max,temp_min,wind,weather\n"
                    "mon,0.0,12.2,5.6,4.7,rain\n"
                    "tue,1.5,10.0,4.4,3.1,sun\n")
    return path


def test_a_file_that_no_job_wrote_is_never_overwritten(tmp_path, small, registry):
    (tmp_path / "scored.csv").write_text("precious\n")

    with pytest.raises(ScoringJobError, match=r"expected '.*scored.csv' not to exist, or a progress file .* got the file "
                       "without one, so it is not a job to continue; fix: delete or move it"):
        lk.score_file(small, tmp_path / "scored.csv", model=registry.get("weather", version=1), progress=False)
    assert (tmp_path / "scored.csv").read_text() == "precious\n"


def test_exit_status_is_0_when_all_rows_are_scored_1_when_some_are_refused(tmp_path, small, registry, capsys):
    clean = main(["score", str(small), str(tmp_path / "clean.csv"), "--registry", str(registry.root), "--model",
                  "weather", "--no-progress"])
    small.write_text(small.read_text() + "wed,0.0,11.1,5.0,2.2,hail\n")
    some_refused = main(["score", str(small), str(tmp_path / "refused.csv"), "--registry", str(registry.root),
                         "--model", "weather", "--version", "1", "--no-progress"])

    out = capsys.readouterr().out
    assert (clean, some_refused) == (0, 1)
    assert "scored 2 of 2 rows with model 'weather' version 1" in out and "none refused" in out
    assert f"scored 2 of 3 rows with model 'weather' version 1 in" in out
    assert f"1 refused, listed in {tmp_path / 'refused.errors.csv'}" in out


@pytest.mark.parametrize(
    ("where", "make_input", "message"),
    [
        (["--url", "http://127.0.0.1:9"], True, r"cannot reach the model service at http://127.0.0.1:9 .* fix: check"),
        (["--registry", "REGISTRY", "--model", "weather"], False, r"expected a CSV file to score at '.*nowhere.csv'; "
         "got no such file; fix: check the path"),
        (["--registry", "REGISTRY", "--model", "nope"], True, r"expected a registered model name \('weather'\); got 'nope'"),
        (["--url", "http://127.0.0.1:9", "--model", "weather"], True, r"expected no --model, --alias or --version with --url"),
    ],
)
def test_a_usage_error_exits_2_with_one_message_and_no_traceback(tmp_path, small, registry, capsys, where, make_input, message):
    source = small if make_input else tmp_path / "nowhere.csv"
    where = [str(registry.root) if part == "REGISTRY" else part for part in where]

    status = main(["score", str(source), str(tmp_path / "scored.csv"), *where, "--no-progress"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("labkit score: ") and "Traceback" not in err
    assert re.search(message, err), err


def test_a_header_without_the_models_columns_is_refused_before_anything_is_written(tmp_path, registry):
    source = tmp_path / "days.csv"
    source.write_text("day,wind\nmon,4.7\n")

    with pytest.raises(DataError, match=r"expected the header of '.*days.csv' to name the model's columns "
                       r"\['precipitation', 'temp_max', 'temp_min', 'wind', 'weather'\]; got \['day', 'wind'\], without "
                       r"\['precipitation', 'temp_max', 'temp_min', 'weather'\]; fix: add those columns"):
        lk.score_file(source, tmp_path / "scored.csv", model=registry.get("weather", version=1), progress=False)
    assert not (tmp_path / "scored.csv").exists()


def test_quoted_fields_line_breaks_in_them_crlf_and_a_byte_order_mark_are_kept_as_written(tmp_path, registry, weather_model):
    source = tmp_path / "days.csv"
    source.write_bytes(
        b"\xef\xbb\xbfnote,precipitation,temp_max,temp_min,wind,weather\r\n"
        b'"rain, then sun",0.0,12.2,5.6,4.7,rain\r\n'
        b'"two\r\nlines",0.0,12.2,5.6,4.7,rain\r\n'
        b'5\'11",0.0,12.2,5.6,4.7,rain\r\n'
        b"plain,0.0,12.2,5.6,4.7,rain"
    )

    report = lk.score_file(source, tmp_path / "scored.csv", model=registry.get("weather", version=1), chunk_size=2,
                           progress=False)

    day = pd.DataFrame({"precipitation": [0.0], "temp_max": [12.2], "temp_min": [5.6], "wind": [4.7], "weather": ["rain"]})
    (no, yes), = weather_model.predict_proba(day).tolist()
    answer = f",{weather_model.predict(day)[0]},{no!r},{yes!r},1\n".encode()
    assert (tmp_path / "scored.csv").read_bytes() == (
        b"\xef\xbb\xbfnote,precipitation,temp_max,temp_min,wind,weather,prediction,proba_False,proba_True,model_version\n"
        b'"rain, then sun",0.0,12.2,5.6,4.7,rain' + answer
        + b'"two\r\nlines",0.0,12.2,5.6,4.7,rain' + answer
        + b"plain,0.0,12.2,5.6,4.7,rain" + answer
    )
    errors = list(csv.reader(open(tmp_path / "scored.errors.csv", newline="")))
    assert errors[1][0] == "5" and "quote this line opens" in errors[1][1]
    assert (report.rows_read, report.rows_scored, report.rows_refused) == (4, 3, 1)


def test_the_progress_bar_goes_to_standard_error_unless_turned_off(tmp_path, small, registry, capsys):
    champion = registry.get("weather", version=1)

    lk.score_file(small, tmp_path / "shown.csv", model=champion)
    shown = capsys.readouterr().err
    lk.score_file(small, tmp_path / "hidden.csv", model=champion, progress=False)
    hidden = capsys.readouterr().err

    assert "scoring days.csv" in shown and "2 scored, 0 refused" in shown
    assert hidden == ""


def test_score_file_needs_exactly_one_place_to_score_and_a_positive_chunk_size(tmp_path, small, registry, service):
    champion = registry.get("weather", version=1)

    with pytest.raises(TypeError, match="expected exactly one of client= .* or model= .*; got neither"):
        lk.score_file(small, tmp_path / "scored.csv")
    with pytest.raises(TypeError, match="expected exactly one of client= .* or model= .*; got both"):
        lk.score_file(small, tmp_path / "scored.csv", client=service.client, model=champion)
    with pytest.raises(ValueError, match="expected chunk_size to be a whole number of lines, at least 1; got 0"):
        lk.score_file(small, tmp_path / "scored.csv", model=champion, chunk_size=0)
    with pytest.raises(DataError, match="expected the input, output, errors, progress file to be four different files; "
                       "got input and output at the same path"):
        lk.score_file(small, small, model=champion)
