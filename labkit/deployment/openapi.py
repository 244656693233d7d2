"""The service's OpenAPI document: the contract clients, gateways and test tools build on.

The handlers in :mod:`labkit.deployment.service` read raw bodies (that is what keeps them
fast), so FastAPI cannot see what they accept or answer. This module says it, in one
place: :func:`operation` gives each operation its request body, its answer and every
error it can give; :func:`components` gives the schemas those refer to, built from the
served version's :class:`~labkit.schema.Schema` and the service's row limit, and the
examples ``/docs`` offers. ``tests/deployment/test_openapi.py`` runs schemathesis against
a real deployment to hold the service to this document, in both directions: everything
the document allows is answered 200, everything it forbids is refused.

Examples
--------
>>> import pandas as pd
>>> from labkit.schema import Schema
>>> schema = Schema.infer(pd.DataFrame({"wind": [1.5, 2.0], "weather": ["sun", "rain"]}))
>>> doc = operation(answer="Predictions", request="PredictRequest", errors=[400, 422])
>>> sorted(doc["responses"])
['200', '400', '422']
>>> components(schema, max_rows=100)["schemas"]["Record"]["required"]
['wind', 'weather']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labkit.schema import Column, Schema

__all__ = ["ERRORS", "components", "example_record", "operation"]

# Every error status the service answers, the name of its entry under
# components/responses, and when it happens. All share one body: the "Error" schema.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The body is empty, not JSON, or not the object this operation takes "
          "(error_code MALFORMED_REQUEST or BAD_REQUEST)."),
    401: ("Unauthorized", "The service was started with a token, and the request did not send it as "
          "`Authorization: Bearer <token>` (error_code UNAUTHORIZED)."),
    404: ("NotFound", "No operation has this path (error_code NOT_FOUND)."),
    405: ("MethodNotAllowed", "The path exists but not for this method; the `Allow` header lists the methods "
          "it takes (error_code METHOD_NOT_ALLOWED)."),
    413: ("PayloadTooLarge", "More records than the service's row limit, or a body over its size limit "
          "(error_code PAYLOAD_TOO_LARGE)."),
    415: ("UnsupportedMediaType", "The Content-Type is not application/json (error_code UNSUPPORTED_MEDIA_TYPE)."),
    409: ("Conflict", "A label for a request id that already has one, or the same id twice in one batch: "
          "labels are never overwritten, and nothing of the batch was kept (error_code LABEL_CONFLICT)."),
    422: ("UnprocessableContent", "The records do not match the model's schema, each problem listed in `detail` "
          "with its record and column (error_code BAD_REQUEST), or the model refused them (MODEL_ERROR)."),
    503: ("ServiceUnavailable", "The prediction store could not record the predictions, so none were answered; "
          "try again (error_code STORE_UNAVAILABLE)."),
}

# The success answer of each operation: its schema under components/schemas, and what it says.
_ANSWERS: dict[str, str] = {
    "Predictions": "One prediction per record, in order; classifiers add their classes and probabilities.",
    "MlflowPredictions": "One prediction per row, in order, as MLflow's scoring server answers.",
    "Health": "The service is up and its model is loaded.",
    "FeedbackAnswer": "How many labels were attached, and the request ids the store does not know.",
    "ModelInfo": "The served version, its input schema, its target and its metrics.",
}

_IGNORED_COLUMNS_HEADER = {
    "X-Labkit-Ignored-Columns": {
        "description": "Columns sent that the model does not use, percent-encoded and comma-separated; "
        "absent when there were none.",
        "schema": {"type": "string"},
    }
}


def operation(
    *, answer: str, request: str | None = None, errors: Sequence[int] = (), examples: Sequence[str] = ()
) -> dict[str, Any]:
    """The parts of one operation's OpenAPI entry that FastAPI cannot infer from its handler.

    Pass it as the route's ``openapi_extra``; FastAPI merges it into the operation.

    Parameters
    ----------
    answer
        The success answer's schema in :func:`components`, such as ``"Predictions"``.
    request
        The request body's schema in :func:`components`, if the operation takes a body.
    errors
        Every error status the operation can answer (keys of :data:`ERRORS`).
    examples
        Request examples in :func:`components` that ``/docs`` offers, the first one
        filled in when a reader clicks "Try it out".

    Returns
    -------
    dict
        ``responses`` and, with a ``request``, ``requestBody``.

    Examples
    --------
    >>> operation(answer="Health")["responses"]["200"]["content"]
    {'application/json': {'schema': {'$ref': '#/components/schemas/Health'}}}
    >>> operation(answer="Predictions", errors=[401])["responses"]["401"]
    {'$ref': '#/components/responses/Unauthorized'}
    """
    unknown = sorted(set(errors) - set(ERRORS))
    if unknown:
        raise ValueError(
            f"expected error statuses among {sorted(ERRORS)}; got {unknown}; fix: add them to ERRORS first"
        )
    success: dict[str, Any] = {
        "description": _ANSWERS[answer],
        "content": {"application/json": {"schema": _ref("schemas", answer)}},
    }
    if answer == "MlflowPredictions":
        success["headers"] = _IGNORED_COLUMNS_HEADER
    responses = {"200": success} | {str(status): _ref("responses", ERRORS[status][0]) for status in sorted(errors)}
    doc: dict[str, Any] = {"responses": responses}
    if request is not None:
        body: dict[str, Any] = {"schema": _ref("schemas", request)}
        if examples:
            body["examples"] = {name: _ref("examples", name) for name in examples}
        doc["requestBody"] = {"required": True, "content": {"application/json": body}}
    return doc


def components(schema: Schema, *, max_rows: int) -> dict[str, Any]:
    """The schemas, error responses and examples that :func:`operation` entries refer to.

    Parameters
    ----------
    schema
        The served version's input schema: the ``Record`` every body is made of.
    max_rows
        The service's row limit: the most records (or rows) one request may hold.

    Returns
    -------
    dict
        ``schemas``, ``responses`` and ``examples``, for the document's ``components``.

    Examples
    --------
    >>> import pandas as pd
    >>> from labkit.schema import Schema
    >>> schema = Schema.infer(pd.DataFrame({"wind": [1.5], "weather": ["sun"]}))
    >>> parts = components(schema, max_rows=100)
    >>> records = parts["schemas"]["PredictRequest"]["properties"]["records"]
    >>> records["minItems"], records["maxItems"]
    (1, 100)
    >>> parts["examples"]["PredictRecords"]["value"]
    {'records': [{'wind': 0.0, 'weather': 'sun'}]}
    """
    record_schema = schema.json_schema()
    # An empty batch is refused (422), and one over the row limit too (413).
    batch = {"minItems": 1, "maxItems": max_rows}
    records = {"type": "array", "items": _ref("schemas", "Record"), **batch}
    # A split row is an array that JSON Schema can check only by position, so the
    # document states the canonical form: the columns in training order, one value
    # each. The service also accepts them in any order and with extra columns (ignored).
    row = {
        "type": "array",
        "prefixItems": [record_schema["properties"][name] for name in schema.names],
        "minItems": len(schema.names),
        "maxItems": len(schema.names),
    }
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {
                "type": "array",
                "items": {"type": "string"},
                "const": list(schema.names),
                "description": "The model's columns in training order. The service also takes them in another "
                "order, and extra columns, which it ignores and names in X-Labkit-Ignored-Columns.",
            },
            "data": {"type": "array", "items": row, **batch, "description": "One row per record."},
            "index": {"description": "Row labels, as pandas writes them; accepted and ignored."},
        },
    }
    example = example_record(schema)
    return {
        "schemas": {
            "Record": record_schema,
            "PredictRequest": {
                "type": "object",
                "required": ["records"],
                "not": {"required": ["event_time", "event_times"]},  # one or the other, never both
                "properties": {
                    "records": records,
                    "event_time": {
                        "type": "string", "format": "date-time",
                        "description": "When the records happened (ISO 8601), if not now: stored with each "
                        "prediction, so a replay on a simulated clock keeps its own time. Between 1677-09-22 "
                        "and 2262-04-11 (the times pandas holds), else 422.",
                    },
                    "event_times": {
                        "type": "array", "items": {"type": "string", "format": "date-time"}, **batch,
                        "description": "One event time per record, in the records' order (instead of event_time); "
                        "each between 1677-09-22 and 2262-04-11, as event_time.",
                    },
                },
            },
            "FeedbackRequest": {
                "type": "object",
                "required": ["labels"],
                "properties": {
                    "labels": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["request_id", "label"],
                            "properties": {"request_id": {"type": "string"}, "label": {}},
                        },
                    },
                    "label_time": {
                        "type": "string", "format": "date-time",
                        "description": "When the labels became known, if not now; between 1677-09-22 and "
                        "2262-04-11, as event_time.",
                    },
                },
            },
            # Exactly one of the two keys: each form refuses the other's key (false: never valid).
            "InvocationsRequest": {"oneOf": [_ref("schemas", "DataframeRecords"), _ref("schemas", "DataframeSplit")]},
            "DataframeRecords": {
                "type": "object",
                "required": ["dataframe_records"],
                "properties": {"dataframe_records": records, "dataframe_split": False},
            },
            "DataframeSplit": {
                "type": "object",
                "required": ["dataframe_split"],
                "properties": {"dataframe_split": split, "dataframe_records": False},
            },
            **_answer_schemas(),
            "Error": _error_schema(),
        },
        "responses": {name: _error_response(status, text) for status, (name, text) in ERRORS.items()},
        "examples": {
            "PredictRecords": {"summary": "One record", "value": {"records": [example]}},
            "DataframeRecords": {"summary": "dataframe_records: one record", "value": {"dataframe_records": [example]}},
            "DataframeSplit": {
                "summary": "dataframe_split: columns and rows",
                "value": {"dataframe_split": {"columns": list(example), "data": [list(example.values())]}},
            },
        },
    }


def example_record(schema: Schema) -> dict[str, Any]:
    """A record the service accepts, with a plausible value in every column: what ``/docs`` offers.

    Parameters
    ----------
    schema
        The served version's input schema.

    Returns
    -------
    dict
        One value per column, in training order: the first category of a categorical
        column, otherwise a typical value of the column's kind.

    Examples
    --------
    >>> import pandas as pd
    >>> from labkit.schema import Schema
    >>> X = pd.DataFrame({"wind": [1.5], "days": [3], "dry": [True], "weather": ["sun"]})
    >>> example_record(Schema.infer(X))
    {'wind': 0.0, 'days': 0, 'dry': False, 'weather': 'sun'}
    """
    return {column.name: _example_value(column) for column in schema.columns}


def _example_value(column: Column) -> Any:
    if column.categories is not None:
        # A category column with no categories left admits only null.
        return column.categories[0] if column.categories else None
    typical = {"float": 0.0, "integer": 0, "boolean": False, "string": "text", "datetime": "2014-03-01T00:00:00Z"}
    return typical[column.kind]


def _answer_schemas() -> dict[str, Any]:
    """The success answers' schemas, as the handlers in the service write them."""
    return {
        "FeedbackAnswer": {
            "type": "object",
            "required": ["matched", "unknown"],
            "properties": {"matched": {"type": "integer"}, "unknown": {"type": "array", "items": {"type": "string"}}},
        },
        "Predictions": {
            "type": "object",
            "required": ["predictions", "model_version", "request_ids"],
            "properties": {
                "predictions": {"type": "array", "description": "One per record, in order."},
                "model_version": {"type": "integer"},
                "request_ids": {"type": "array", "items": {"type": "string"}},
                "classes": {"type": "array", "description": "Classifiers only: the classes, in probability order."},
                "probabilities": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                    "description": "Classifiers only: one row per record, one probability per class.",
                },
                "ignored_columns": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Only when records carried columns the model does not use.",
                },
            },
        },
        "MlflowPredictions": {
            "type": "object",
            "required": ["predictions"],
            "properties": {"predictions": {"type": "array"}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "model", "model_version"],
            "properties": {
                "status": {"const": "ok"},
                "model": {"type": "string"},
                "model_version": {"type": "integer"},
            },
        },
        "ModelInfo": {
            "type": "object",
            "required": [
                "name", "version", "alias", "model_class", "schema", "target", "metrics", "max_rows", "profile",
                "user_card",
            ],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "integer"},
                "alias": {"type": ["string", "null"]},
                "model_class": {"type": "string"},
                "schema": {
                    "type": "object",
                    "required": ["columns"],
                    "properties": {"columns": {"type": "array", "items": _column_schema()}},
                },
                "target": {"type": ["object", "null"]},
                "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
                "max_rows": {"type": "integer", "minimum": 1, "description": "The most records one request may carry."},
                "profile": {
                    "type": ["object", "null"],
                    "description": "Per column, what training saw (range, quantiles, category counts); "
                    "null for versions registered before profiles were recorded.",
                },
                "user_card": {"type": "string", "description": "The model card for end users, in Markdown."},
            },
        },
    }


def _error_schema() -> dict[str, Any]:
    """The one body of every error: see ``_error_response`` in :mod:`labkit.deployment.service`."""
    return {
        "type": "object",
        "required": ["error_code", "message", "detail"],
        "properties": {
            "error_code": {"type": "string", "description": "A stable code to branch on, such as BAD_REQUEST."},
            "message": {"type": "string", "description": "What was expected, what arrived, and how to fix it."},
            "detail": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["loc", "msg"],
                    "properties": {
                        "loc": {
                            "type": "array",
                            "items": {"type": ["string", "integer"]},
                            "description": 'Where: "body", then the record\'s index and the column, when known.',
                        },
                        "msg": {"type": "string"},
                    },
                },
            },
        },
    }


def _column_schema() -> dict[str, Any]:
    """One column of a stored :class:`~labkit.schema.Schema`, as ``/model`` shows it."""
    return {
        "type": "object",
        "required": ["name", "kind", "dtype", "nullable", "categories"],
        "properties": {
            "name": {"type": "string"},
            "kind": {"enum": ["float", "integer", "boolean", "string", "datetime"]},
            "dtype": {"type": "string"},
            "nullable": {"type": "boolean"},
            "categories": {"type": ["array", "null"], "items": {"type": "string"}},
        },
    }


def _error_response(status: int, text: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": text,
        "content": {"application/json": {"schema": _ref("schemas", "Error")}},
    }
    required_header = {401: "WWW-Authenticate", 405: "Allow"}.get(status)
    if required_header is not None:
        response["headers"] = {required_header: {"required": True, "schema": {"type": "string"}}}
    return response


def _ref(section: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{section}/{name}"}
