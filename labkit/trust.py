"""Which types a model file may contain: an exact list, and the check every load goes through.

A skops file is a description of objects: for each one, the module and name of its type
(or of a function) and the values to rebuild it from. Loading it imports that module and
calls that name, so **whoever writes the file chooses what runs**, unless the loader
refuses every name it was not told is safe. That is what this module does.

The list is exact, never a prefix. "Every type from NumPy" would include
``numpy.savetxt`` (writes any file) and ``numpy.testing``'s ``runstring`` (runs any
Python); "every type from scikit-learn" would include functions that write files too.
A name is trusted only if it is

1. on skops' own default list (scikit-learn's estimators, NumPy and SciPy ufuncs,
   builtin containers, ...), which skops reviewed one by one;
2. on :data:`TRUSTED_TYPES` below: the few extra types the course's models need, each
   with why it is needed and what trusting it risks; or
3. named by the caller in ``trusted=``, for code the caller wrote or reviewed.

Nothing written inside the file or beside it (a registry's ``meta.json`` is as easy to
edit as the model file) can add a name: the list comes from this module and the caller.

What this does not protect against: a trusted type can still be given harmful *values*.
The tree types below are the known case (see their risk); code that you name in
``trusted=`` runs with whatever arguments the file holds.

Examples
--------
>>> import numpy as np, skops.io
>>> from sklearn.linear_model import LogisticRegression
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(40, 2))
>>> data = skops.io.dumps(LogisticRegression().fit(X, X[:, 0] > 0))
>>> check_types(data)
[]
>>> type(load_model(data)).__name__
'LogisticRegression'
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import skops.io
from skops.io.exceptions import UNTRUSTED_TYPE_REASONS, UntrustedTypesFoundException

from labkit.errors import IntegrityError, RegistryError, UntrustedModelError

__all__ = ["TRUSTED_TYPES", "TrustedType", "check_types", "load_model"]


@dataclass(frozen=True)
class TrustedType:
    """Why one type is on labkit's list, and what trusting it risks.

    Parameters
    ----------
    needed_by
        Which models need it, and for what.
    risk
        What a crafted file could still do through it.
    """

    needed_by: str
    risk: str


_TREE_RISK = (
    "the tree's nodes hold raw indices (children, feature) that scikit-learn follows "
    "without bounds checks; a crafted file can make predict crash the process or read "
    "memory out of bounds (skops leaves it untrusted for this reason). It cannot name "
    "code to run: only the node values are the file's."
)

TRUSTED_TYPES: Mapping[str, TrustedType] = MappingProxyType(
    {
        "numpy.dtype": TrustedType(
            needed_by="SimpleImputer keeps the NumPy dtype it was fitted with (the usual "
            "first step of a pipeline for data with missing values)",
            risk="low: skops rebuilds a dtype from the header of an empty array read "
            "with allow_pickle=False, so the file picks a dtype, never code",
        ),
        "sklearn.tree._tree.Tree": TrustedType(
            needed_by="DecisionTree*, RandomForest*, ExtraTrees* and GradientBoosting* "
            "store their fitted trees in it",
            risk=_TREE_RISK,
        ),
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor": TrustedType(
            needed_by="HistGradientBoosting* stores its fitted trees in it",
            risk=_TREE_RISK,
        ),
    }
)

# An exact, dotted name: module path, then the type's name. No wildcard, no bare module.
_TYPE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def check_types(data: bytes, *, trusted: Iterable[str | type] = (), source: str = "the model file") -> list[str]:
    """Check a skops file's types against the list, without building anything.

    Parameters
    ----------
    data
        The file's bytes.
    trusted
        Exact type names (or the types themselves) to allow beyond the list.
    source
        How to name the file in error messages.

    Returns
    -------
    list of str
        The types the file uses beyond skops' defaults, sorted: a subset of
        :data:`TRUSTED_TYPES` and ``trusted``.

    Raises
    ------
    IntegrityError
        ``data`` is not a skops file.
    UntrustedModelError
        The file names a type that is not trusted; ``.types`` lists them.
    RegistryError
        ``trusted`` holds something that is not an exact type name.

    Examples
    --------
    >>> import skops.io
    >>> from functools import partial
    >>> check_types(skops.io.dumps(partial(print, "hi")))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labkit.errors.UntrustedModelError: expected a model file whose types are all trusted; ...
    """
    allowed = set(_names(trusted))
    try:
        # Parsing only: skops builds its tree of nodes without importing or calling anything.
        found = skops.io.get_untrusted_types(data=data)
    except Exception as error:
        # Whatever a crafted file makes the parser raise means the same: not a skops file.
        head = data[:8]
        hint = " (it looks like a pickle, which labkit never loads)" if head[:1] == b"\x80" else ""
        raise IntegrityError(
            f"expected {source} to be a skops file; got a file starting with {head!r}{hint} "
            f"({type(error).__name__}: {error}); fix: register the model with reg.register, which writes skops files"
        ) from None
    refused = [name for name in found if name not in TRUSTED_TYPES and name not in allowed]
    if refused:
        raise UntrustedModelError(_refusal(refused, source), types=refused)
    return found


def load_model(data: bytes, *, trusted: Iterable[str | type] = (), source: str = "the model file") -> Any:
    """Build the object a skops file describes, if every type in it is trusted.

    Parameters
    ----------
    data
        The file's bytes.
    trusted
        Exact type names (or the types themselves) to allow beyond the list.
    source
        How to name the file in error messages.

    Returns
    -------
    object
        The model.

    Raises
    ------
    IntegrityError
        ``data`` is not a skops file, or its objects cannot be rebuilt.
    UntrustedModelError
        The file names a type that is not trusted.
    """
    names = _names(trusted)
    check_types(data, trusted=names, source=source)
    # skops audits again with this exact list before it builds anything: the list given
    # to it comes from this module and the caller, never from what the file contains.
    try:
        return skops.io.loads(data, trusted=[*TRUSTED_TYPES, *names])
    except UntrustedTypesFoundException as error:
        # Unreachable while check_types and skops agree; if they ever differ, skops' refusal stands.
        raise UntrustedModelError(f"{source}: {error}", types=[]) from None
    except Exception as error:
        raise IntegrityError(
            f"expected {source} to rebuild the objects it describes; got {type(error).__name__}: {error}; "
            "fix: register the model again from its training code"
        ) from None


def _names(trusted: Iterable[str | type] | str | type) -> list[str]:
    """The caller's ``trusted=`` as exact dotted names; refuse anything else."""
    if isinstance(trusted, (str, type)):
        trusted = [trusted]  # one name given bare, not a string to iterate letter by letter
    names = []
    for item in trusted:
        name = f"{item.__module__}.{item.__qualname__}" if isinstance(item, type) else item
        if not isinstance(name, str) or not _TYPE_NAME.match(name):
            raise RegistryError(
                f"expected trusted= to hold exact type names such as 'mymodule.MyClass' (labkit never trusts "
                f"a whole module or a pattern); got {item!r}; fix: name each type, as the error that refused "
                "the file lists them"
            )
        names.append(name)
    return names


def _refusal(refused: list[str], source: str) -> str:
    reasons = "".join(
        f"\n  - {name}: "
        + UNTRUSTED_TYPE_REASONS.get(
            name,
            "not on the list of types known to be safe to load; loading the file would import it "
            "and could call it with arguments written in the file",
        )
        for name in refused
    )
    flags = " ".join(f"--trust {name}" for name in refused)
    return (
        f"expected a model file whose types are all trusted; {source} names {len(refused)} that "
        f"{'is' if len(refused) == 1 else 'are'} not:{reasons}\n"
        f"fix: if you wrote this code or reviewed it, pass trusted={refused!r} to reg.register and to every "
        f"reg.load and lk.deploy (labkit serve {flags}); never trust a name only because a file asks for it"
    )
