"""``POST /v1/events``: the HTTP door to the same parser and engine as Kafka (docs/contracts.md 7)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from aiops.api.deps import PipelineDep, SettingsDep, WriteAuth
from aiops.api.schemas import IngestReply, RejectionOut
from aiops.parsing import parse_ndjson, parse_payload

router = APIRouter(tags=["ingest"])

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")
# No Content-Type at all is read as JSON (docs/contracts.md); a type that says the body is something
# else (curl -d's form encoding, text/plain, multipart) is refused with 415 rather than misread.
JSON_TYPES = ("", "application/json")


@router.post(
    "/v1/events",
    response_model=IngestReply,
    responses={
        422: {"model": IngestReply},
        413: {"description": "body over the configured limit"},
        415: {"description": "Content-Type neither JSON (or none) nor NDJSON"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {}}]}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_events(request: Request, pipeline: PipelineDep, settings: SettingsDep, _: WriteAuth) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES + NDJSON_TYPES and not content_type.endswith("+json"):
        raise HTTPException(
            415,
            f"Content-Type: {content_type!r} is not accepted; send application/json (an object or an array) "
            "or application/x-ndjson (one JSON value per line)",
        )
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body: {declared} bytes is over the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"body: over the {limit}-byte limit")
    labels = settings.service_labels
    if content_type in NDJSON_TYPES:
        parsed = parse_ndjson(bytes(body), service_labels=labels, max_bytes=settings.max_record_bytes)
    else:
        parsed = parse_payload(bytes(body), service_labels=labels, max_bytes=limit)
    # The engine is CPU work under a lock: keep it off the event loop.
    result = await run_in_threadpool(pipeline.ingest, parsed, "http")
    reply = IngestReply(
        accepted=result.accepted,
        skipped=result.skipped,
        rejected=[RejectionOut(index=r.index, reason=r.reason) for r in result.rejections],
    )
    return JSONResponse(reply.model_dump(), status_code=422 if result.rejections else 200)
