"""The one question the course's systems ask the model: will it rain tomorrow?

The irrigation controller and the weather app both send today's weather to the deployed
rain model and read back one number, the chance of rain tomorrow. That call lives here,
once, so both systems ask it the same way.
"""

from __future__ import annotations

import pandas as pd

from labkit.data import FEATURES
from labkit.deployment.client import ModelClient
from labkit.errors import DataError, ServiceError

__all__ = ["chance_of_rain"]

# The rain model is a classifier of rain_tomorrow, a bool: the service names its
# probability columns after the classes False and True.
_RAIN_COLUMN = "proba_True"


def chance_of_rain(client: ModelClient, today: pd.Series) -> float:
    """Ask the deployed rain model for the chance that it rains tomorrow.

    Parameters
    ----------
    client
        A client of a service serving the running example's rain model.
    today
        Today's weather: one row of :func:`labkit.data.load_weather` or
        :func:`labkit.data.running_example`. Only the :data:`labkit.data.FEATURES` are
        sent, so a label in the row never reaches the service.

    Returns
    -------
    float
        The model's probability of rain tomorrow, from 0 to 1.

    Raises
    ------
    DataError
        ``today`` lacks one of the features.
    ServiceError
        The service refused the call, or answered without a probability of rain (it
        serves another kind of model).
    ServiceUnavailableError
        The service could not be reached in time.

    Examples
    --------
    >>> import tempfile
    >>> import labkit as lk
    >>> from sklearn.dummy import DummyClassifier
    >>> days = lk.data.running_example(lk.data.load_weather()).head(4)
    >>> X, y = days[list(lk.data.FEATURES)], [True, True, True, False]
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> _ = reg.register(DummyClassifier().fit(X, y), name="rain", X=X)
    >>> _ = reg.promote("rain", version=1, alias="champion")
    >>> with lk.deploy(reg, "rain") as dep:
    ...     chance_of_rain(dep.client, days.iloc[0])
    0.75
    """
    missing = [column for column in FEATURES if column not in today.index]
    if missing:
        raise DataError(
            f"expected today's weather with {list(FEATURES)!r}; got {list(today.index)!r}, missing {missing!r}; "
            "fix: pass one row of lk.data.load_weather(), e.g. weather.iloc[-1]"
        )
    # A row of a mixed frame holds objects; infer_objects gives each column back its own
    # type, so the client checks numbers as numbers.
    frame = today[list(FEATURES)].to_frame().T.infer_objects()
    answer = client.predict(frame)
    if _RAIN_COLUMN not in answer.columns:
        raise ServiceError(
            f"expected the service to answer with a probability of rain ({_RAIN_COLUMN!r}); got columns "
            f"{list(answer.columns)!r}; fix: deploy a classifier of rain_tomorrow, the running example's rain model",
            status=None,
        )
    return float(answer[_RAIN_COLUMN].iloc[0])

