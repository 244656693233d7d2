"""Workspaces: fresh runs start empty, and only labkit's own folders are ever emptied."""

from __future__ import annotations

import pytest

from labkit.errors import LabkitError
from labkit.workspace import workspace


def test_fresh_empties_a_labkit_workspace(tmp_path):
    folder = workspace(tmp_path / "ws")
    (folder / "registry").mkdir()
    (folder / "registry" / "old").write_text("x")
    assert workspace(tmp_path / "ws", fresh=False) == folder
    assert (folder / "registry" / "old").exists()
    workspace(tmp_path / "ws", fresh=True)
    assert not (folder / "registry").exists()


def test_fresh_never_empties_a_folder_labkit_did_not_make(tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    with pytest.raises(LabkitError, match="not make, so nothing was removed"):
        workspace(precious, fresh=True)
    assert (precious / "chapter1.tex").read_text() == "years of work"


def test_workspace_does_not_depend_on_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert workspace("ws") == (tmp_path / "ws").resolve()
