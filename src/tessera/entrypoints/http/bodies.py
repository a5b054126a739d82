"""Reading a request's body ahead of the app, and handing it on whole: for the middlewares
that must see a body before FastAPI does (``input_guard``, ``point_of_sale``)."""

from __future__ import annotations

from starlette.types import Message, Receive


async def read_body(receive: Receive, largest: int | None = None) -> tuple[bytes, bool]:
    """The body, and whether it is all there (False: larger than ``largest``, or the client
    left; the rest is still to be received)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if largest is not None and size > largest:
            return b"".join(chunks), False


def replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """``receive`` for the next app: the part of the body read here first, then the rest as
    it comes (a client that left is reported as gone)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed
