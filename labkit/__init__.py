"""labkit: deploy, integrate, monitor and maintain a model, for real, in notebooks."""

from importlib.metadata import version as _version

from labkit import data, doctor, errors, integration, monitoring, trust, widgets
from labkit.clock import SimulatedClock
from labkit.course.checkpoint import checkpoint
from labkit.deployment import Deployment, ModelClient, deploy
from labkit.errors import LabkitError
from labkit.integration import score_file
from labkit.monitoring import simulate
from labkit.registry import ModelVersion, Registry
from labkit.schema import Schema
from labkit.store import PredictionStore
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
    "data",
    "deploy",
    "doctor",
    "errors",
    "integration",
    "monitoring",
    "score_file",
    "simulate",
    "trust",
    "widgets",
    "workspace",
]
