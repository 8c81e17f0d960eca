"""Each HTTP response reaches the client in one piece (issue 8, point 3): head and body in one write, so one TCP
segment on loopback. A client that reads once and closes (one popular Python client reads the head and closes)
must still have the body.

The count is the kernel's: `tcpi_data_segs_in` of the client's socket (Linux `TCP_INFO`) is the number of segments
with data it received. The server sets TCP_NODELAY, so two writes are two segments; one write of a few hundred
bytes is one. No timing is involved."""

import socket
import struct
import sys

import pytest
from server import Desk, ServerProcess

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO's layout is Linux's")

TCPI_DATA_SEGS_IN = 152  # offset of tcpi_data_segs_in in struct tcp_info (Linux >= 4.6)


def data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    assert len(info) >= TCPI_DATA_SEGS_IN + 4, "this kernel's tcp_info has no tcpi_data_segs_in"
    return int(struct.unpack_from("I", info, TCPI_DATA_SEGS_IN)[0])


def request(method: str, path: str, token: str | None = None, body: bytes | None = None, *,
            close: bool = False) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: sim\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode() + (body or b"")


def read_response(sock: socket.socket) -> bytes:
    """One whole response (with a content-length), however many reads it takes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the body"
        body += chunk
    assert len(body) == length
    return data


def calls(desk: Desk) -> list[bytes]:
    order = (b'{"accountId": %d, "symbol": "ESZ6", "action": "Buy", "orderQty": 1, "orderType": "Limit", '
             b'"price": 6000}' % desk.demo1)
    return [
        request("GET", "/v1/auth/me", desk.demo),
        request("GET", "/v1/auth/me"),  # 401
        request("GET", "/v1/account/list", desk.demo),
        request("GET", f"/v1/account/item?id={desk.demo1}", desk.demo),
        request("GET", "/v1/account/item?id=999999999", desk.demo),  # 404
        request("POST", "/v1/order/placeorder", desk.demo, order),
        request("POST", "/v1/order/placeorder", desk.demo, b"{not json"),  # 400
        request("GET", "/v1/nothing/here", desk.demo),
    ]


def test_each_response_on_a_keep_alive_connection_arrives_as_one_segment(desk: Desk, server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        for _ in range(3):
            for call in calls(desk):
                before = data_segments_in(sock)
                sock.sendall(call)
                response = read_response(sock)
                assert data_segments_in(sock) - before == 1, (call, response[:200])


def test_a_client_that_reads_once_and_closes_has_the_whole_response(desk: Desk, server: ServerProcess) -> None:
    for _ in range(5):
        for call in calls(desk):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(call)
                data = sock.recv(65536)  # one read, as soon as anything arrives
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                          if line.lower().startswith(b"content-length:"))
            assert length > 0 and len(body) == length, (call, data[:200])
