#!/usr/bin/python3
"""chatd when memory runs out: an allocation that fails costs one request or one connection, never the
process, a room, or another client, and /healthz keeps telling the truth.

The memory limit is real: `prlimit` (util-linux) lowers the running server's address-space limit to a
little above what it has mapped, then a request that needs far more than that is sent. The limit is raised
again afterwards to check that nothing was lost.

Sanitizer builds are skipped: AddressSanitizer reserves terabytes of address space and ends the process
on any failed allocation instead of throwing std::bad_alloc.

Usage: /usr/bin/python3 test/python/test_resilience.py /path/to/chatd
"""

import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import urllib.request

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MiB = 1024 * 1024
HEADROOM = 16 * MiB  # above what the server has mapped: enough for small requests, not for big ones


def skip_under_sanitizers():
    if harness.sanitizer_build():
        raise harness.Skip("AddressSanitizer build: it aborts on a failed allocation instead of throwing")


def mapped_bytes(pid):
    return harness.proc_status_bytes(pid, "VmSize")


def limit_address_space(pid, limit):
    """Sets the soft RLIMIT_AS of a running process (None: no limit)."""
    value = "unlimited" if limit is None else str(limit)
    subprocess.run(["prlimit", f"--pid={pid}", f"--as={value}:"], check=True)


def request(server, method, path, body=None, timeout=10):
    """(status, body bytes) of one HTTP request; a timeout fails the test (the server stopped answering)."""
    req = urllib.request.Request(server.http(path), data=body, method=method,
                                 headers={"Content-Type": "text/plain"} if body is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def raw_websocket(port, path):
    """A connected socket past a 101 answer, for sending frames no library would."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed during the handshake: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def close_code_of(sock, timeout=5):
    """Reads server frames until a close frame; returns its code (0 if the stream ends without one)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        while len(data) >= 2:
            length = data[1] & 0x7F
            offset = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            if length >= 126:
                length = int.from_bytes(data[2:offset], "big")
            if len(data) < offset + length:
                break
            opcode, payload, data = data[0] & 0x0F, data[offset:offset + length], data[offset + length:]
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        chunk = sock.recv(65536)
        if not chunk:
            return 0
        data += chunk


def test_a_message_too_big_for_memory_closes_that_connection_with_1011():
    skip_under_sanitizers()
    yaml = "limits: { max_message_size: 1GiB }\n"  # and the default SQLite store, its writer thread too
    with harness.ChatServer(yaml) as server:
        pid = server.process.pid

        async def scenario():
            async with websockets.connect(server.ws("/subscribe?room=calm&name=bystander"), ping_interval=None) as ws:
                greedy = raw_websocket(server.port, "/subscribe?room=calm&name=greedy")
                limit_address_space(pid, mapped_bytes(pid) + HEADROOM)
                try:
                    # A frame header declaring 512 MiB, within limits.max_message_size: the buffer for it
                    # is asked for at once, and cannot be had.
                    greedy.sendall(bytes([0x81, 0x80 | 127]) + (512 * MiB).to_bytes(8, "big") + b"\x01\x02\x03\x04")
                    assert close_code_of(greedy) == 1011, "the greedy connection was not closed with 1011"
                    assert request(server, "GET", "/healthz") == (200, b"ok")
                    status, body = request(server, "POST", "/publish?room=calm&name=http", b"still here")
                    assert status == 202, (status, body)
                finally:
                    limit_address_space(pid, None)
                event = json.loads(await asyncio.wait_for(ws.recv(), 3))
                while event["type"] != "message":  # the greedy user's join and leave
                    event = json.loads(await asyncio.wait_for(ws.recv(), 3))
                assert event["text"] == "still here", event
                greedy.close()

        asyncio.run(scenario())
        assert server.process.poll() is None, "chatd died"
        assert any("input failed" in line for line in server.stderr_lines), server.log_tail()


def test_a_history_too_big_for_memory_fails_alone_and_the_room_goes_on():
    skip_under_sanitizers()
    # The memory store keeps 192 MiB off the disk; the test before this one runs with SQLite.
    # queue_bytes: 1GiB lets a /history page hold all 8 events (a page stops at queue_bytes, docs/api.md).
    yaml = ("limits: { max_message_size: 32MiB }\nhistory: { store: memory }\n"
            "publish: { rate: 100000, burst: 100000 }\nsubscriber: { queue_bytes: 1GiB }\n")
    big = 24 * MiB
    with harness.ChatServer(yaml) as server:
        pid = server.process.pid
        ids = []
        for i in range(8):
            status, body = request(server, "POST", "/publish?room=big&name=loader", bytes([ord("a") + i]) * big)
            assert status == 202, (status, body)
            ids.append(json.loads(body)["id"])
        limit_address_space(pid, mapped_bytes(pid) + HEADROOM)
        try:
            # 8 x 24 MiB in one JSON body: far more than the headroom.
            status, body = request(server, "GET", "/history?room=big&limit=8")
            assert status == 503, (status, body[:200])
            assert b"out of memory" in body, body
            # The room still serves: small publishes and small pages, and health says so.
            status, body = request(server, "POST", "/publish?room=big&name=http", b"after")
            assert status == 202, (status, body)
            after_id = json.loads(body)["id"]
            assert after_id == ids[-1] + 1, (after_id, ids)
            status, body = request(server, "GET", "/history?room=big&limit=1")
            assert status == 200 and [e["text"] for e in json.loads(body)["events"]] == ["after"], body[:200]
            assert request(server, "GET", "/healthz") == (200, b"ok")
        finally:
            limit_address_space(pid, None)
        # Nothing was lost: the whole history, now that memory allows it.
        status, body = request(server, "GET", "/history?room=big&limit=9", timeout=30)
        assert status == 200, (status, body[:200])
        events = json.loads(body)["events"]
        assert [e["id"] for e in events] == ids + [after_id], [e["id"] for e in events]
        assert [len(e["text"]) for e in events] == [big] * 8 + [5]
        assert server.process.poll() is None, "chatd died"
        assert any("a command failed and was refused" in line for line in server.stderr_lines), server.log_tail()


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
