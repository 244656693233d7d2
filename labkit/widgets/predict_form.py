"""A prediction form: one control per input of a served model, a Predict button, the answer in words.

The form is built from nothing but the service's ``/model`` answer, so it works against
any labkit service, whoever deployed it and wherever it runs. Its logic lives elsewhere
and is tested there: :mod:`labkit.form` (start values, the record sent, the answer's
words), :mod:`labkit.profile` (values the model never saw) and :mod:`labkit.card` (the
card for users). This module only wires them to widgets. Tests drive it without a
browser: set ``form.controls["wind"].value``, call ``form.predict_button.click()``, read
``form.answer.value``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as widgets
import pandas as pd

from labkit.card import card_html, user_card
from labkit.deployment import Deployment, ModelClient
from labkit.errors import LabkitError
from labkit.form import answer_text, record_from_values, start_values
from labkit.profile import seen_in_training, unfamiliar_values

__all__ = ["PredictForm"]


class PredictForm:
    """Ask a served model for one prediction through a form, and read the answer in words.

    Parameters
    ----------
    source
        The service: a running :class:`labkit.Deployment`, a :class:`labkit.ModelClient`,
        or its URL (then a client is made for it).
    token
        The service's token, when ``source`` is a URL and the service needs one (a
        deployment or a client already carries its own).

    Raises
    ------
    ServiceError
        The service could not say what it serves (not running, a wrong token): without
        its ``/model`` answer there is no form to build.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> import labkit as lk
    >>> X = pd.DataFrame({"wind": np.random.default_rng(0).normal(5.0, 2.0, size=60)})
    >>> y = (X["wind"] > 5.0).rename("windy_tomorrow")
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> _ = reg.register(LogisticRegression().fit(X, y), name="demo", X=X, y=y)
    >>> _ = reg.promote("demo", version=1, alias="champion")
    >>> with lk.deploy(reg, "demo") as dep:
    ...     form = PredictForm(dep)
    ...     form.controls["wind"].value = 5.5
    ...     form.predict_button.click()
    ...     form.controls["wind"].value = 20.0
    ...     form.predict_button.click()
    >>> form.controls["wind"].description
    'wind (in training: 0.35 to 8.92)'
    >>> form.answer.value
    'windy tomorrow: very likely, over 99%'
    >>> "the model has never seen a wind of 20" in form.warnings.value
    True
    """

    def __init__(self, source: Deployment | ModelClient | str, *, token: str | None = None) -> None:
        self.client = _client_for(source, token)
        self.info = self.client.model_info()
        profile = self.info.get("profile")
        starts = start_values(self.info)
        self.controls = {
            column["name"]: _control(column, profile, starts[column["name"]]) for column in self.info["schema"]["columns"]
        }
        self.predict_button = widgets.Button(description="Predict", button_style="primary")  # no icon: Voila links its icon font from a CDN, absent offline
        self.answer = widgets.Label(value="")
        self.warnings = widgets.HTML(value="")
        self.error = widgets.HTML(value="")
        # An older service has no user card in its answer; the card is then written here
        # from what it does answer, and says what it cannot know.
        self.card = widgets.HTML(
            value=card_html(self.info.get("user_card") or user_card(self.info)),
            layout=widgets.Layout(width="50%", padding="0 0 0 1em"),
        )
        self.predict_button.on_click(self._on_predict)
        title = f"<b>{html.escape(str(self.info['name']))}</b>, version {int(self.info['version'])}"
        if profile is None:
            title += "<br><i>This version has no training profile: the form cannot warn about unusual values.</i>"
        self.title = widgets.HTML(title)
        form = widgets.VBox(
            [self.title, *self.controls.values(), self.predict_button, self.answer, self.warnings, self.error],
            layout=widgets.Layout(width="50%"),
        )
        self.widget = widgets.HBox([form, self.card])

    def __repr__(self) -> str:
        # No URL here: its port changes every run, and notebooks show this repr.
        return f"PredictForm(name={self.info['name']!r}, version={self.info['version']})"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _on_predict(self, _button: widgets.Button) -> None:
        self.answer.value = ""
        self.warnings.value = ""
        self.error.value = ""
        values = {name: control.value for name, control in self.controls.items()}
        try:
            record = record_from_values(self.info, values)
            # A warning, not a refusal: the answer is still given, with a reason to doubt it.
            self.warnings.value = _list_html(unfamiliar_values(self.info.get("profile"), record).values())
            row = self.client.predict(pd.DataFrame([record])).iloc[0]
        except LabkitError as error:
            self.error.value = f'<div style="color: #b00020; white-space: pre-wrap">{html.escape(str(error))}</div>'
            return
        self.answer.value = answer_text(self.info.get("target"), row.to_dict())


def _client_for(source: Any, token: str | None) -> ModelClient:
    if isinstance(source, str):
        return ModelClient(source, token=token)
    if isinstance(source, (Deployment, ModelClient)) and token is not None:
        raise TypeError(
            f"expected token= only with a URL; got token= with a {type(source).__name__}, which carries its own; "
            "fix: leave token= out, or pass the service's URL"
        )
    if isinstance(source, Deployment):
        return source.client
    if isinstance(source, ModelClient):
        return source
    raise TypeError(
        f"expected a Deployment, a ModelClient or a service URL; got {type(source).__name__}; "
        "fix: pass what lk.deploy(...) returned, lk.ModelClient(url), or the URL as a string"
    )


def _control(column: Mapping[str, Any], profile: Mapping[str, Any] | None, start: Any) -> widgets.Widget:
    name, kind = column["name"], column["kind"]
    seen = seen_in_training(profile, name)
    label = f"{name} (in training: {seen})" if seen and kind in ("float", "integer", "datetime") else name
    # Descriptions are shown as text (description_allow_html is off), so any name is safe.
    style = {"description_width": "initial"}
    if kind == "float":
        return widgets.FloatText(value=start, description=label, style=style)
    if kind == "integer":
        return widgets.IntText(value=start, description=label, style=style)
    if kind == "boolean":
        return widgets.Checkbox(value=start, description=name, indent=False)
    if column.get("categories"):
        return widgets.Dropdown(options=list(column["categories"]), value=start, description=name, style=style)
    placeholder = "a date such as 2014-03-01" if kind == "datetime" else "any text"
    return widgets.Text(value=start, description=label, placeholder=placeholder, style=style)


def _list_html(lines: Iterable[str]) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<ul style="color: #8a5300">{items}</ul>' if items else ""
