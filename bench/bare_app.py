"""The baseline of ``bench/serving.py``: a minimal hand-written FastAPI service.

This is the service most tutorials show, written for the course's weather model: a
pydantic model of one record, an ``async def`` handler, a DataFrame built from the
validated records, and ``model.predict``. It loads the same registered version as
labkit's deployment and runs under uvicorn with the same defaults (uvloop, httptools,
access log off), so the benchmark compares the serving code and nothing else.

``bench/serving.py`` starts it as its own process::

    python bench/bare_app.py --registry DIR --model weather --alias champion --fd N

where ``N`` is a socket the parent has already bound to a free port on 127.0.0.1, so the
parent knows the port before the server starts and no other program can take it.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pandas as pd
import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel

import labkit


class Record(BaseModel):
    """One day's weather: the model's input."""

    precipitation: float
    temp_max: float
    temp_min: float
    wind: float
    weather: str


class Batch(BaseModel):
    """The body of ``POST /predict``."""

    records: list[Record]


def create_app(registry: str, name: str, alias: str) -> FastAPI:
    """Build the app; the model is loaded from the registry when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = labkit.Registry(registry).load(name, alias=alias)
        yield

    app = FastAPI(title="bare baseline", lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(batch: Batch, request: Request) -> dict[str, list[bool]]:
        frame = pd.DataFrame([record.model_dump() for record in batch.records])
        return {"predictions": request.app.state.model.predict(frame).tolist()}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Serve on the inherited socket until stopped or until standard input closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--fd", type=int, required=True, help="a bound socket inherited from the parent")
    arguments = parser.parse_args(argv)
    sock = socket.socket(fileno=arguments.fd)
    config = uvicorn.Config(
        create_app(arguments.registry, arguments.model, arguments.alias), access_log=False, log_level="warning"
    )
    server = uvicorn.Server(config)
    # The parent holds our standard input open; when it dies however it dies, the pipe
    # closes and the server stops, so a crashed benchmark leaves no server behind.
    threading.Thread(target=_exit_when_stdin_closes, args=(server,), daemon=True).start()
    server.run(sockets=[sock])
    return 0 if server.started else 3


def _exit_when_stdin_closes(server: uvicorn.Server) -> None:
    try:
        while os.read(sys.stdin.fileno(), 1024):
            pass
    except OSError:
        pass
    server.should_exit = True


if __name__ == "__main__":
    sys.exit(main())
