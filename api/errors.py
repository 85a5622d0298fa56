"""The API's one error shape, ``{"detail": "<one readable line>"}``, and how routes declare it.

Every refusal goes through ``HTTPException`` (the app's handler turns validation errors into
the same shape), so every error response of every route has the schema `ErrorPublic`.
Routes list the statuses they can answer with `error_responses`; the OpenAPI document then
tells clients (and the fuzzer in tests/api/test_fuzz.py) the truth.
"""

from typing import Any

from pydantic import BaseModel, Field


class ErrorPublic(BaseModel):
    """What every 4xx and 5xx answer carries."""

    detail: str = Field(description="What was wrong, in one readable line.")


_DESCRIPTIONS = {
    400: "The body could not be read as its content type (e.g. JSON that is not UTF-8).",
    401: "Not logged in, or the token is invalid, expired or revoked (see WWW-Authenticate).",
    403: "The user's role is below the role this route needs.",
    404: "No such resource.",
    409: "Conflicts with the resource's current state.",
    413: "The request body (or the image it holds, once decoded) is larger than this site accepts.",
    422: "A parameter or the body is invalid; the detail names which.",
    429: "Too many requests; try again after Retry-After seconds.",
    503: "This part of the service is not enabled on this node, or a node it needs (an edge node "
    "holding the recording) cannot be reached now; retry after Retry-After seconds where given.",
}

_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds until a retry can succeed.", "schema": {"type": "integer"}}
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the `ErrorPublic` body.

    ``@router.get(..., responses=error_responses(404, 422))``; a 429 also declares ``Retry-After``.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        response: dict[str, Any] = {"model": ErrorPublic, "description": _DESCRIPTIONS[code]}
        if code == 429:
            response["headers"] = _RETRY_AFTER
        responses[code] = response
    return responses
