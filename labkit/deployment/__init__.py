"""Deployment: a registered model served over HTTP by a uvicorn process on this machine."""

from labkit.deployment.client import ModelClient
from labkit.deployment.deployment import Deployment, deploy
from labkit.deployment.predictor import Predictor
from labkit.deployment.server import run
from labkit.deployment.service import ServiceSettings, create_app

__all__ = ["Deployment", "ModelClient", "Predictor", "ServiceSettings", "create_app", "deploy", "run"]
