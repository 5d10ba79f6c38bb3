"""Online serving: a FastAPI app around the production model (`crisp serve` starts it).

`GET /health`, `GET /metadata` (model version, schema, test metrics) and `POST /predict`, which
takes one record (`{"tenure_months": 12, ...}`) or a batch (`{"records": [{...}, ...]}`) and answers
the prediction and, for classifiers, one `proba_<class>` probability per class. The request model
is generated from the training schema: every feature is required (null allowed: a missing value);
numeric features take JSON numbers only (not `"80.5"`, not `true`), whole numbers for features that
held integers in training (not `12.7`); categories take text (true/false for boolean features);
text must be valid Unicode; unknown fields are refused. Any bad request body (invalid JSON or
UTF-8 included) gets 422 in one format: `{"detail": [{"field", "loc", "msg", "type"}, ...]}`, one
entry per problem. Batches longer than `max_batch` and bodies larger than `max_body_bytes` get 413.
Unseen categories are predicted with a warning (see `prediction`). The interactive docs at `/docs`
(Swagger UI) and `/redoc` are served from local files (fastapi-offline), also without internet.
"""

# No `from __future__ import annotations`: FastAPI must see the generated request types themselves.

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Annotated, Any

import pandas as pd
from crisp.files import to_jsonable
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    create_model,
)
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException

from . import prediction
from .schema import feature_encoding

BATCH_KEY = "records"
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SafeJSONResponse(JSONResponse):
    """JSON with non-ASCII characters escaped: text holding a lone surrogate (valid in JSON, not
    in UTF-8) is still answered, never a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


def _unicode(value: str | None) -> str | None:
    """Refuse text that is not valid Unicode (lone surrogates such as `"\\ud800"`)."""
    if value is not None and any("\ud800" <= ch <= "\udfff" for ch in value):
        raise PydanticCustomError(
            "string_unicode", "Input should be valid Unicode text; it holds a lone surrogate"
        )
    return value


def _whole(value: float | None) -> float | None:
    if value is not None and not float(value).is_integer():
        raise PydanticCustomError(
            "int_from_float",
            "Input should be a whole number: this feature held integers in training",
        )
    return value


# Strict: no coercion ("80.5" is no number, true no number, 1 no text); JSON ints are numbers.
Number = Annotated[float, Strict(), AllowInfNan(False)]
WholeNumber = Annotated[Number | None, AfterValidator(_whole)]
Text = Annotated[Annotated[str, Strict()] | None, AfterValidator(_unicode)]
Flag = Annotated[bool, Strict()]


def is_integer(info: dict[str, Any]) -> bool:
    """Whether a numeric feature held integers in training (its dtype, from the schema)."""
    return str(info.get("dtype", "")).lower().startswith(("int", "uint"))


def _feature_field(name: str, info: dict[str, Any]) -> tuple[Any, Any]:
    """(annotation, Field) of one feature: required, null allowed (a missing value)."""
    if info["kind"] == "numeric":
        span = ""
        if info.get("min") is not None:
            span = f"; training range {info['min']:g} to {info['max']:g}"
        integer = is_integer(info)
        kind = "whole number" if integer else "number"
        field = Field(..., alias=name, description=f"{kind}{span}")
        return (WholeNumber if integer else Number | None), field
    categories = list(info.get("categories", []))
    encoding = feature_encoding(info)
    if encoding == "datetime":
        span = f"; training range {info['min']} to {info['max']}" if info.get("min") else ""
        return Text, Field(..., alias=name, description=f"date or date-time as text{span}")
    if encoding == "text":
        described = "text (many distinct values in training: any text is taken)"
    else:
        listed = ", ".join(map(str, categories))
        described = f"category, one of: {listed} (others are predicted with a warning)"
    field = Field(..., alias=name, description=described, examples=categories[:1] or None)
    if categories and all(isinstance(c, bool) for c in categories):
        return Flag | None, field
    return Text, field


def _unicode_key(value: str | int | None) -> str | int | None:
    return _unicode(value) if isinstance(value, str) else value


def request_models(
    schema: dict[str, Any], key_columns: Sequence[str] = ()
) -> tuple[type[BaseModel], type[BaseModel]]:
    """(Record, Batch) pydantic models for `schema`; key columns are optional and echoed back.

    Field names are generated (`feature_0`, ...) and the feature names are aliases, so any column
    name works, even one that is no Python identifier.
    """
    fields: dict[str, Any] = {}
    for position, (name, info) in enumerate(schema["features"].items()):
        fields[f"feature_{position}"] = _feature_field(name, info)
    keys = [k for k in key_columns if k not in schema["features"]]
    for position, name in enumerate(keys):
        description = "identifier, copied to the prediction"
        fields[f"key_{position}"] = (
            Annotated[
                Annotated[str, Strict()] | Annotated[int, Strict()] | None,
                AfterValidator(_unicode_key),
            ],
            Field(None, alias=name, description=description),
        )
    config = ConfigDict(extra="forbid")
    record = create_model("Record", __config__=config, **fields)
    batch = create_model(
        "Batch",
        __config__=ConfigDict(extra="forbid"),
        records=(list[record], Field(..., min_length=1, description="records to predict")),
    )
    return record, batch


def _field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic errors without the `body` / union-tag prefix and without the echoed input."""
    cleaned = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc[:1] == ["body"]:
            loc = loc[1:]
        if loc[:1] in (["record"], ["batch"]):
            loc = loc[1:]
        message = error.get("msg", "")
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            message = f"invalid JSON at character {loc[0] if loc else 0}: {reason}".rstrip(": ")
            loc = []
        field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
        cleaned.append(
            {
                "field": field.lstrip(".") or "(body)",
                "loc": loc,
                "msg": message,
                "type": error.get("type", ""),
            }
        )
    return cleaned


class BodySizeLimit:
    """ASGI middleware: 413 for request bodies above `max_bytes` (declared or streamed)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Message, send: Send) -> None:
        response = SafeJSONResponse(
            {"detail": f"request body larger than {self.max_bytes} bytes; send smaller batches"},
            status_code=413,
        )
        await response(scope, _no_body, send)

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(scope, send)
                return
            await self.app(scope, receive, send)
            return
        # Streamed (chunked) body: read it up to the limit, then hand it on.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def create_app(
    model: Any,
    metadata: dict[str, Any],
    schema: dict[str, Any],
    *,
    max_batch: int,
    max_body_bytes: int,
    key_columns: Sequence[str] = (),
) -> FastAPI:
    """The FastAPI app serving `model` (registry `metadata`, training `schema`)."""
    if max_batch < 1 or max_body_bytes < 1:
        raise ValueError(f"max_batch={max_batch} and max_body_bytes={max_body_bytes} must be >= 1")
    problem_type = metadata.get("problem_type") or schema["problem_type"]
    version = metadata.get("version")
    record_model, batch_model = request_models(schema, key_columns)
    keys = [k for k in key_columns if k not in schema["features"]]
    batch_is_feature = BATCH_KEY in schema["features"]

    def kind(value: Any) -> str:
        is_batch = isinstance(value, dict) and BATCH_KEY in value and not batch_is_feature
        return "batch" if is_batch else "record"

    payload_type = Annotated[
        Annotated[record_model, Tag("record")] | Annotated[batch_model, Tag("batch")],
        Discriminator(kind),
    ]

    app = FastAPIOffline(  # Swagger UI and ReDoc from local files, not a CDN
        title=f"{metadata.get('model_name') or 'model'} {version or ''}".strip(),
        description="Predictions of the production model; request fields follow its training "
        "schema.",
        version=str(version or "0"),
        default_response_class=SafeJSONResponse,
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> SafeJSONResponse:
        if "json" not in request.headers.get("content-type", ""):
            message = "send the body as JSON, with the header Content-Type: application/json"
            error = {"field": "(body)", "loc": [], "msg": message, "type": "content_type"}
            return SafeJSONResponse({"detail": [error]}, status_code=422)
        return SafeJSONResponse({"detail": _field_errors(exc.errors())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> SafeJSONResponse:
        if exc.status_code == 400:  # a body FastAPI could not parse (e.g. not UTF-8)
            message = f"the request body cannot be read as JSON text in UTF-8 ({exc.detail})"
            error = {"field": "(body)", "loc": [], "msg": message, "type": "body_invalid"}
            return SafeJSONResponse({"detail": [error]}, status_code=422)
        return SafeJSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(prediction.PredictionInputError)
    async def bad_input(request: Request, exc: prediction.PredictionInputError) -> SafeJSONResponse:
        error = {"field": "(body)", "loc": [], "msg": str(exc), "type": "prediction_input"}
        return SafeJSONResponse({"detail": [error]}, status_code=422)

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> SafeJSONResponse:
        # The traceback goes to the server log only.
        detail = f"internal error ({type(exc).__name__}); see the server log"
        return SafeJSONResponse({"detail": detail}, status_code=500)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness: the model is loaded."""
        return {"status": "ok", "model_version": version}

    @app.get("/metadata")
    def model_metadata() -> SafeJSONResponse:
        """Model name, version, algorithm, test metrics and the input schema."""
        content = {
            "model_name": metadata.get("model_name"),
            "model_version": version,
            "algorithm": metadata.get("algorithm"),
            "problem_type": problem_type,
            "target": schema.get("target"),
            "metric": metadata.get("metric"),
            "metrics": metadata.get("test_metrics"),
            "registered_at": metadata.get("registered_at"),
            "schema": {"features": schema["features"], "target_info": schema.get("target_info")},
            "key_columns": keys,
            "limits": {"max_batch": max_batch, "max_body_bytes": max_body_bytes},
        }
        return SafeJSONResponse(to_jsonable(content))

    @app.post("/predict")
    def predict(payload: payload_type) -> SafeJSONResponse:  # type: ignore[valid-type]
        """Predict one record or `{"records": [...]}`; probabilities for classifiers."""
        records = payload.records if isinstance(payload, batch_model) else [payload]
        if len(records) > max_batch:
            detail = f"{len(records)} records in one request; at most {max_batch}: split the batch"
            return SafeJSONResponse({"detail": detail}, status_code=413)
        rows = [record.model_dump(by_alias=True, exclude_unset=True) for record in records]
        given = [key for key in keys if any(key in row for row in rows)]
        frame = pd.DataFrame.from_records(rows, columns=[*schema["features"], *given])
        result = prediction.predict_frame(model, frame, schema, problem_type, given)
        content = {
            "model_version": version,
            "predictions": result.to_dict(orient="records"),
            "warnings": result.attrs.get("warnings", []),
        }
        return SafeJSONResponse(to_jsonable(content))

    return app


def production_app(
    *, max_batch: int, max_body_bytes: int, key_columns: Sequence[str] = ()
) -> FastAPI:
    """The app for the production model of the registry (see prediction.production_model)."""
    model, metadata, schema = prediction.production_model()
    return create_app(
        model,
        metadata,
        schema,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        key_columns=key_columns,
    )
