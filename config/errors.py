"""One exception hierarchy for the whole server, each class mapped to an HTTP status.

Messages are written for the client: they never carry SQL, paths or tracebacks.
Internal detail goes to the log where the error is caught (see server/app.py).
"""

from __future__ import annotations

from http import HTTPStatus


class OneMapError(Exception):
    """Base of every error OneMap reports to a client."""

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str = "NoApplicableCode"

    def __init__(self, description: str, *, code: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        """The OGC exception body (OGC API - Common, `exception` schema)."""
        return {"code": self.code, "type": self.code, "description": self.description}


class InvalidParameterValue(OneMapError):
    """A query parameter or input is malformed or out of range (400)."""

    status = HTTPStatus.BAD_REQUEST
    code = "InvalidParameterValue"


class UnknownParameter(InvalidParameterValue):
    """A query parameter the API does not define (400)."""

    code = "InvalidParameterValue"


class InvalidInput(OneMapError):
    """A request body or process input is wrong (400)."""

    status = HTTPStatus.BAD_REQUEST
    code = "InvalidInput"


class Forbidden(OneMapError):
    """The caller may not do this (403)."""

    status = HTTPStatus.FORBIDDEN
    code = "Forbidden"


class NotFound(OneMapError):
    """The resource does not exist (404)."""

    status = HTTPStatus.NOT_FOUND
    code = "NotFound"


class Conflict(OneMapError):
    """The request contradicts the current state, e.g. an illegal plan transition (409)."""

    status = HTTPStatus.CONFLICT
    code = "Conflict"


class UnsupportedMediaType(OneMapError):
    """The body is not of a media type the route takes (415)."""

    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "UnsupportedMediaType"


class TooManyRequests(OneMapError):
    """A rate limit or a quota is reached (429); ``retry_after`` says when to come back."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "TooManyRequests"

    def __init__(self, description: str, retry_after: int = 60) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class PayloadTooLarge(OneMapError):
    """An input exceeds a configured limit (413)."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "LimitExceeded"


class ConfigError(OneMapError):
    """The configuration, catalogue or a code table is invalid (start-up error)."""

    code = "ConfigError"


class StoreError(OneMapError):
    """The store could not answer (500; detail in the log, not in the message)."""

    code = "NoApplicableCode"


class ServiceUnavailable(OneMapError):
    """The store is away for now (database stopped, disk full, file unreadable): try again later (503).

    Answered with a ``Retry-After`` header (server/http.py); nothing was changed by the request.
    """

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "ServiceUnavailable"
    retry_after: int = 5  # seconds a client should wait before trying again


class LoadError(OneMapError):
    """A submitted package cannot be loaded; nothing was written (400)."""

    status = HTTPStatus.BAD_REQUEST
    code = "InvalidInput"
