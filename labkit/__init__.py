"""labkit: deploy, integrate, monitor and maintain a model, for real, in notebooks."""

from importlib.metadata import version as _version

from labkit import _lazy

# A cheap module whose name is also a public function's: bound now, so that a later
# import of the module (``from labkit.workspace import ...``) cannot replace the function.
from labkit.workspace import workspace

__version__ = _version("labkit")

__all__ = [
    "Deployment",
    "LabkitError",
    "ModelClient",
    "ModelVersion",
    "PredictionStore",
    "Registry",
    "Schema",
    "SimulatedClock",
    "checkpoint",
    "course",
    "data",
    "deploy",
    "doctor",
    "errors",
    "integration",
    "maintenance",
    "monitoring",
    "patients",
    "score_file",
    "simulate",
    "trust",
    "widgets",
    "workspace",
]

# Where every other public name lives. ``import labkit`` imports none of these modules:
# each is imported the first time one of its names is used (see labkit/_lazy.py), so a
# drift report does not wait for FastAPI, ipywidgets and skops to load, nor hold them.
_SOURCES = {
    "Deployment": "labkit.deployment",
    "LabkitError": "labkit.errors",
    "ModelClient": "labkit.deployment",
    "ModelVersion": "labkit.registry",
    "PredictionStore": "labkit.store",
    "Registry": "labkit.registry",
    "Schema": "labkit.schema",
    "SimulatedClock": "labkit.clock",
    "checkpoint": "labkit.course.checkpoint",
    "course": "labkit.course",
    "data": "labkit.data",
    "deploy": "labkit.deployment",
    "doctor": "labkit.doctor",
    "errors": "labkit.errors",
    "integration": "labkit.integration",
    "maintenance": "labkit.maintenance",
    "monitoring": "labkit.monitoring",
    "patients": "labkit.patients",
    "score_file": "labkit.integration",
    "simulate": "labkit.monitoring",
    "trust": "labkit.trust",
    "widgets": "labkit.widgets",
}


__getattr__, __dir__ = _lazy.attach(__name__, _SOURCES, __all__)
