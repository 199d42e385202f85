"""What went wrong with a request: its cause, whether to try again, and when to give up.

Reads and writes nothing. ``cause`` names a failure by what happened on the wire — refused,
dns, tls, reset, timeout (connection level: nothing or no answer came back), auth (HTTP
401/403), not_found (404: a wrong base_url or model), 429, 5xx, 4xx (another client error),
malformed or empty (an unreadable answer) — by walking the exception's chain (the openai SDK
wraps a refused connection as a timeout under its aiohttp transport). :class:`Breaker` counts
the failures that no other request would escape (``ENDPOINT``: connection level, auth,
not_found) in a row and gives the one line that stops a run when the endpoint is unusable.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import openai

from imhi.io import ServiceError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
CONNECTION = ("refused", "dns", "tls", "reset", "timeout")
ENDPOINT = (*CONNECTION, "auth", "not_found")  # every other request would fail the same way
RESET_NAMES = {"ServerDisconnectedError", "RemoteProtocolError", "ClientOSError", "ReadError",
               "ClientPayloadError", "IncompleteRead"}
HINTS = {
    "refused": "refused the connection ({n} in a row); nothing listens there?",
    "dns": "has a host name that does not resolve ({n} in a row); is base_url spelled right?",
    "tls": "failed the TLS handshake ({n} in a row); http vs https, or a certificate problem?",
    "reset": "closed the connection without an answer ({n} in a row); is the server crashing or "
             "overloaded?",
    "timeout": "did not answer in time ({n} in a row; connect_timeout_s {connect:g}, timeout_s "
               "{read:g}); is the host reachable and the server up?",
    "auth": "refused the request as unauthorised (HTTP 401/403, {n} in a row); is the API key in "
            "teacher.api_key_env right?",
    "not_found": "answered 404 Not Found ({n} in a row); does base_url end in /v1, and does the endpoint "
                 "serve that model?",
}


class EmptyReply(Exception):
    """The endpoint answered 200 but with no content."""


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _names(exc: BaseException) -> set[str]:
    return {t.__name__ for t in type(exc).__mro__}


def _connection_cause(chain: list[BaseException]) -> str | None:
    """The most specific connection-level cause anywhere in the chain, if any."""
    for test, cause in (
            (lambda e: isinstance(e, ConnectionRefusedError), "refused"),
            (lambda e: isinstance(e, socket.gaierror) or "ClientConnectorDNSError" in _names(e), "dns"),
            (lambda e: isinstance(e, ssl.SSLError | ssl.CertificateError)
             or bool({"ClientSSLError", "ClientConnectorCertificateError"} & _names(e)), "tls"),
            (lambda e: isinstance(e, ConnectionResetError | ConnectionAbortedError | BrokenPipeError)
             or bool(RESET_NAMES & _names(e)), "reset"),
            (lambda e: isinstance(e, TimeoutError) or any("Timeout" in n for n in _names(e)), "timeout")):
        if any(test(e) for e in chain):
            return cause
    return None


def cause(exc: BaseException) -> str:
    """What went wrong (see module docstring)."""
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        return {401: "auth", 403: "auth", 404: "not_found", 429: "429"}.get(code, "5xx" if code >= 500 else "4xx")
    if isinstance(exc, EmptyReply):
        return "empty"
    if isinstance(exc, ValueError | openai.APIResponseValidationError):
        return "malformed"
    return _connection_cause(_chain(exc)) or "other"


def retryable(exc: BaseException) -> bool:
    """Transient failures worth another try; client errors (400, 401, 404) are final."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUS or exc.status_code >= 500
    return isinstance(exc, (openai.APIConnectionError, openai.APIResponseValidationError,
                            EmptyReply, ValueError))


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if any."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def describe(exc: BaseException) -> str:
    """A short final error for a row: cause, kind, status and message."""
    why = cause(exc)
    if isinstance(exc, openai.APIStatusError):
        return f"{why}: {type(exc).__name__}: HTTP {exc.status_code}: {str(exc)[:200]}"
    root = _chain(exc)[-1]
    detail = str(root)[:160] if root is not exc else ""
    return f"{why}: {type(exc).__name__}: {str(exc)[:200] or 'no detail'}" + (f" ({detail})" if detail else "")


class Breaker:
    """Endpoint-level failures (``ENDPOINT``) in a row, over every worker; any other outcome (a
    reply, a 429, a 5xx, a 400) resets the count."""

    def __init__(self, limit: int, endpoint: str, connect_s: float, read_s: float) -> None:
        self.limit, self.endpoint, self.connect_s, self.read_s = limit, endpoint, connect_s, read_s
        self.in_a_row = 0
        self.last = ""
        self.tripped = False
        self.on_trip: Callable[[], object] = lambda: None  # e.g. cancel every worker


    def record(self, why: str | None) -> bool:
        """Count one attempt's outcome (None: the server answered); True once tripped."""
        if why in ENDPOINT:
            self.in_a_row += 1
            self.last = why
            if not self.tripped and self.in_a_row >= self.limit:
                self.tripped = True
                self.on_trip()
        elif not self.tripped:
            self.in_a_row = 0
        return self.tripped

    def error(self) -> ServiceError:
        """The one line that stops the run."""
        hint = HINTS[self.last].format(n=self.in_a_row, connect=self.connect_s, read=self.read_s)
        return ServiceError(f"teacher endpoint {self.endpoint} {hint} (replies already answered "
                            "are cached: a rerun continues)")
