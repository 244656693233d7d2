"""Tests for labkit._files: atomic writes, appended lines, durable renames."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import labkit._files
from labkit._files import append_line, fsync_directory, write_atomic


def test_write_atomic_creates_and_replaces(tmp_path):
    target = tmp_path / "aliases.json"

    write_atomic(target, b'{"champion": 1}')
    write_atomic(target, b'{"champion": 2}')

    assert target.read_bytes() == b'{"champion": 2}'
    assert [p.name for p in tmp_path.iterdir()] == ["aliases.json"]


def test_write_atomic_goes_through_a_temporary_file_in_the_same_folder(tmp_path, monkeypatch):
    renames = []
    replace = os.replace

    def recording_replace(source, destination):
        renames.append((Path(source), Path(destination), Path(source).read_bytes()))
        return replace(source, destination)

    monkeypatch.setattr(labkit._files.os, "replace", recording_replace)
    target = tmp_path / "aliases.json"

    write_atomic(target, b"new")

    [(source, destination, content)] = renames
    assert destination == target
    assert source.parent == tmp_path and source.name.startswith(".aliases.json.") and source.suffix == ".tmp"
    assert content == b"new"


def test_write_atomic_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "aliases.json"
    target.write_bytes(b"old")

    def failing_replace(source, destination):
        raise OSError("power cut")

    monkeypatch.setattr(labkit._files.os, "replace", failing_replace)

    with pytest.raises(OSError, match="power cut"):
        write_atomic(target, b"new")

    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["aliases.json"]


def test_write_atomic_syncs_the_file_and_the_folder(tmp_path, monkeypatch):
    synced = []
    fsync = os.fsync

    def recording_fsync(handle):
        synced.append(os.path.realpath(f"/proc/self/fd/{handle}") if os.path.exists("/proc/self/fd") else handle)
        return fsync(handle)

    monkeypatch.setattr(labkit._files.os, "fsync", recording_fsync)

    write_atomic(tmp_path / "aliases.json", b"{}")

    assert len(synced) == 2
    if os.path.exists("/proc/self/fd"):
        assert Path(synced[0]).name.startswith(".aliases.json.")
        assert Path(synced[1]) == tmp_path.resolve()


def test_append_line_adds_one_line_each(tmp_path):
    log = tmp_path / "history.jsonl"

    append_line(log, '{"event": "register"}')
    append_line(log, '{"event": "promote"}\n')

    assert log.read_text(encoding="utf-8") == '{"event": "register"}\n{"event": "promote"}\n'


def test_append_line_after_a_line_cut_short_starts_a_new_line(tmp_path):
    log = tmp_path / "history.jsonl"
    log.write_text('{"event": "register"}\n{"event": "prom', encoding="utf-8")

    append_line(log, '{"event": "rollback"}')

    assert log.read_text(encoding="utf-8").splitlines()[-1] == '{"event": "rollback"}'


def test_append_line_syncs(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(labkit._files.os, "fsync", synced.append)

    append_line(tmp_path / "history.jsonl", "x")

    assert len(synced) == 1


def test_fsync_directory_syncs_the_folder(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(labkit._files.os, "fsync", synced.append)

    fsync_directory(tmp_path)

    assert len(synced) == 1


def test_fsync_directory_ignores_folders_it_cannot_open(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(labkit._files.os, "fsync", synced.append)

    fsync_directory(tmp_path / "missing")

    assert synced == []
