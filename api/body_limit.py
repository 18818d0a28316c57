"""Request bodies counted as they arrive and cut at the limit (413), chunked ones included.

A declared Content-Length over the limit is refused before anything is read; a body without
one (chunked) is counted chunk by chunk, so no client can make a route buffer more than the
limit, whatever it announces.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem

# Room for multipart boundaries and form fields around an upload of the full limit.
ENVELOPE_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is over the limit of {limit} bytes")


class BodyLimit:
    """ASGI middleware: at most `limit` body bytes per request."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit + ENVELOPE_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _refuse(scope, receive, send, self.limit - ENVELOPE_BYTES)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # Raised inside the route's body read: answered 413 by the app's handler.
                    raise BodyTooLarge(self.limit - ENVELOPE_BYTES)
            return message

        await self.app(scope, counted, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    # Problem Details like every other refusal; the connection closes: the body is not read.
    refusal = problem(
        413, f"request body is over the limit of {limit} bytes", headers={"connection": "close"}
    )
    await refusal(scope, receive, send)
