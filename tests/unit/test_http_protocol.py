"""The HTTP protocol the server runs (server/protocol.py, `OneWriteHttpProtocol`): every response with a known length
leaves in one `write` of the transport, head and body together (issue 8, point 3). Driven here over a fake
transport that records each write, so the count is exact."""

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from uvicorn.server import ServerState

from tradovate_sim.server.protocol import JSON_TYPE, OneWriteHttpProtocol, whole

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
JSON_HEAD = [(b"content-type", b"application/json"), (b"content-length", b"11")]


class RecordingTransport(asyncio.Transport):
    """Keeps each `write` apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)


async def serve(app: App, *requests: bytes, transport: RecordingTransport | None = None,
                default_headers: list[tuple[bytes, bytes]] | None = None,
                ) -> tuple[RecordingTransport, OneWriteHttpProtocol]:
    """Feed `requests` to one connection of a fresh protocol and let every request's task finish."""
    config = Config(app=app, ws="none", lifespan="off", log_level="critical", access_log=False)  # as `serve` runs it
    state = ServerState()
    state.default_headers = default_headers or []
    protocol = OneWriteHttpProtocol(config=config, server_state=state, app_state={},
                                    _loop=asyncio.get_running_loop())
    transport = transport or RecordingTransport()
    protocol.connection_made(transport)
    for request in requests:
        protocol.data_received(request)
        for _ in range(50):  # the request's task starts on the next loop iteration
            await asyncio.sleep(0)
            if protocol.cycle is not None and protocol.cycle.response_complete:
                break
        await asyncio.gather(*protocol.tasks, return_exceptions=True)
    protocol.connection_lost(None)
    return transport, protocol


def fixed(body: bytes = b'{"ok":true}', pieces: int = 1) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        size = -(-len(body) // pieces) if body else 0
        parts = [body[i:i + size] for i in range(0, len(body), size)] if body else [b""]
        for index, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": index < len(parts) - 1})
    return app


GET = b"GET /v1/auth/me HTTP/1.1\r\nHost: sim\r\n\r\n"


async def test_a_response_leaves_in_one_write_head_and_body_together() -> None:
    transport, _ = await serve(fixed(), GET)
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 11" in head
    assert body == b'{"ok":true}'


async def test_each_response_of_a_keep_alive_connection_is_one_write() -> None:
    transport, _ = await serve(fixed(), GET, GET, GET)
    assert len(transport.writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(b'{"ok":true}') for w in transport.writes)


async def test_an_empty_body_with_content_length_zero_is_one_write() -> None:
    transport, _ = await serve(fixed(b""), GET)
    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"content-length: 0\r\n\r\n")


async def test_a_body_sent_in_pieces_carries_the_head_in_its_first_write() -> None:
    transport, _ = await serve(fixed(b"0123456789" * 3, pieces=3), GET)
    assert len(transport.writes) == 3
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK") and transport.writes[0].endswith(b"0123456789")
    assert transport.writes[1:] == [b"0123456789", b"0123456789"]


async def test_a_head_request_gets_its_head_written_at_once() -> None:
    transport, _ = await serve(fixed(), b"HEAD /v1/auth/me HTTP/1.1\r\nHost: sim\r\n\r\n")
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK") and transport.writes[0].endswith(b"\r\n\r\n")


async def test_a_streamed_response_without_a_length_is_not_held() -> None:
    transport = RecordingTransport()
    seen: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        seen.append(len(transport.writes))  # the head is out before the first chunk
        await send({"type": "http.response.body", "body": b"tick", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    await serve(app, GET, transport=transport)
    assert seen == [1]
    assert transport.writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    assert transport.writes[1:] == [b"4\r\ntick\r\n", b"0\r\n\r\n"]


async def test_a_100_continue_goes_alone_and_the_response_after_it_in_one_write() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["body"] == b"{}"
        await fixed()(scope, receive, send)

    request = (b"POST /v1/order/placeorder HTTP/1.1\r\nHost: sim\r\nExpect: 100-continue\r\n"
               b"Content-Length: 2\r\n\r\n{}")
    transport, _ = await serve(app, request)
    assert transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(transport.writes) == 2 and transport.writes[1].endswith(b'{"ok":true}')


async def test_an_application_failing_after_its_head_still_gets_the_head_out_before_the_close() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": JSON_HEAD})
        raise RuntimeError("boom")

    transport, _ = await serve(app, GET)
    assert transport.closed
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK")


async def test_an_error_500_is_one_write() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    transport, _ = await serve(app, GET)
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 500") and transport.writes[0].endswith(b"Internal Server Error")


async def test_a_finished_request_leaves_no_reference_cycle_for_the_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        before = sum(1 for o in gc.get_objects() if isinstance(o, RequestResponseCycle))
        await serve(fixed(), GET, GET, GET)
        after = sum(1 for o in gc.get_objects() if isinstance(o, RequestResponseCycle))
    finally:
        gc.enable()
    assert after == before  # freed by reference counting alone, with the collector off


def answering(body: bytes, *, at_once: bool, taken: list[bool]) -> App:
    """An API answer (`content-length`, then the JSON type): through `whole` or through uvicorn's two `send`s."""
    head = [(b"content-length", b"%d" % len(body)), JSON_TYPE]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        if at_once:
            taken.append(whole(send, 200, head, body))
            if taken[-1]:
                return
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": body})
    return app


POST = b"POST /v1/order/liquidateposition HTTP/1.1\r\nHost: sim\r\nContent-Length: 2\r\n\r\n{}"


async def test_an_answer_written_whole_is_byte_for_byte_uvicorns_and_leaves_the_connection_as_uvicorn_does() -> None:
    defaults = [(b"date", b"Tue, 01 Dec 2026 07:00:00 GMT"), (b"server", b"uvicorn")]
    body = b'{"orderId":7}'
    for requests in ((GET, POST, GET), (b"GET /v1/auth/me HTTP/1.0\r\n\r\n",), (POST.replace(b"1.1", b"1.0"),)):
        taken: list[bool] = []
        (slow, old), (fast, new) = [await serve(answering(body, at_once=at_once, taken=taken), *requests,
                                                default_headers=defaults) for at_once in (False, True)]
        assert taken == [True] * len(requests)
        assert fast.writes == slow.writes and len(fast.writes) == len(requests)
        assert fast.closed == slow.closed  # HTTP/1.0: `connection: close`, and closed
        assert new.server_state.total_requests == old.server_state.total_requests == len(requests)
    assert b"connection: close" in fast.writes[0] and fast.closed


async def test_an_answer_with_other_headers_or_default_headers_uvicorn_acts_on_goes_through_send() -> None:
    sent: list[bool] = []

    def app(headers: list[tuple[bytes, bytes]] | None) -> App:
        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            head = headers or [(b"content-length", b"2"), JSON_TYPE]
            sent.append(whole(send, 200, head, b"{}"))
            if not sent[-1]:
                await send({"type": "http.response.start", "status": 200, "headers": head})
                await send({"type": "http.response.body", "body": b"{}"})
        return inner

    await serve(app([(b"content-length", b"2"), (b"content-type", b"application/json")]), GET)  # not the constant
    await serve(app([(b"content-length", b"3"), JSON_TYPE]), GET)  # a length that is not the body's
    await serve(app(None), b"HEAD /v1/auth/me HTTP/1.1\r\nHost: sim\r\n\r\n")  # uvicorn writes no body then
    transport, _ = await serve(app(None), GET, default_headers=[(b"connection", b"close")])
    assert sent == [False, False, False, False]
    assert transport.closed and transport.writes[0].endswith(b"\r\n\r\n{}")
