"""A workspace: the folder where one notebook run keeps its registry and databases.

Notebooks start from an empty workspace so that every run registers version 1 again
and prints the same outputs. Only folders labkit made are ever emptied: a marker file
tells them apart from a folder that merely has the same name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from labkit.errors import LabkitError

__all__ = ["workspace"]

_MARKER = ".labkit-workspace"


def workspace(path: str | os.PathLike[str] = "workspace", *, fresh: bool = False) -> Path:
    """Return the workspace folder, creating it; with ``fresh=True``, empty it first.

    Parameters
    ----------
    path
        The folder; notebooks take it as a parameter, so parallel runs can use their own.
    fresh
        Remove everything a previous run left there.

    Returns
    -------
    pathlib.Path
        The absolute path of the workspace.

    Raises
    ------
    LabkitError
        If ``fresh=True`` and the folder exists but was not made by labkit (nothing is removed).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = workspace(pathlib.Path(tempfile.mkdtemp()) / "ws")
    >>> (folder / "notes.txt").write_text("old run")
    7
    >>> sorted(p.name for p in workspace(folder, fresh=True).iterdir())
    ['.labkit-workspace']
    """
    folder = Path(path).resolve()
    if fresh and folder.exists():
        if not (folder / _MARKER).exists():
            raise LabkitError(
                f"expected {str(folder)!r} to be a labkit workspace (with a {_MARKER} file); it is a folder "
                "labkit did not make, so nothing was removed; fix: choose another workspace path"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).touch()
    return folder
