"""The server's guard: a Host allow-list (DNS rebinding), a bearer token for writes (and optionally
reads), and one access-log line per request without query text (docs/security.md)."""

from __future__ import annotations

import hmac
import logging
import os
import time

from radlite.errors import RadliteError
from radlite.serve.config import TOKEN_ENV, ServeConfig

access = logging.getLogger("radlite.access")


def install_guard(app, config: ServeConfig) -> None:
    """Add the Host check, the token check and the access log to a FastAPI `app`.

    Raises:
        RadliteError: a token is required but $RADLITE_TOKEN holds fewer than 16 characters.
    """
    from fastapi import Request
    from fastapi.responses import JSONResponse

    token = os.environ.get(TOKEN_ENV, "") if config.require_token else ""
    if config.require_token and len(token) < 16:
        raise RadliteError(f"an API token of at least 16 characters is needed in ${TOKEN_ENV}")
    if config.allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        # a Host this server does not answer to is what a DNS-rebinding page sends: 400
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))

    @app.middleware("http")
    async def guard(request: Request, call_next):
        start = time.perf_counter()
        path = request.url.path
        write = path.startswith("/jobs") or (request.method in ("POST", "DELETE") and path.startswith("/documents"))
        if token and (write or (config.auth_reads and path not in ("/health",))):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                response = JSONResponse(
                    {"detail": "missing or wrong API token (Authorization: Bearer ...)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                _log(request, response.status_code, start)
                return response
        response = await call_next(request)
        _log(request, response.status_code, start)
        return response

    def _log(request, status: int, start: float) -> None:
        if config.access_log:
            client = request.client.host if request.client else "-"
            access.info(
                "%s %s %s %d %.1fms",
                client,
                request.method,
                request.url.path,
                status,
                (time.perf_counter() - start) * 1000,
            )
