"""What the access-control suites share: hashes and keys made by the chatd binary under test (once per
suite), a server in an auth mode, HTTP upgrades over a raw socket (a refused upgrade's status, headers and
body, which python3-websockets does not show), and a WebSocket close's code and reason.
"""

import asyncio
import json
import queue
import socket
import subprocess

import websockets.exceptions

import harness

_hashes = {}


def password_hash(password):
    """`chatd --hash-password` of password (scrypt, ~0.1 s), made once per password per suite."""
    if password not in _hashes:
        result = subprocess.run([harness.CHATD, "--hash-password"], input=(password + "\n").encode(),
                                capture_output=True, timeout=30)
        assert result.returncode == 0, f"--hash-password exited {result.returncode}: {result.stderr!r}"
        lines = result.stdout.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("$scrypt$"), f"--hash-password printed {result.stdout!r}"
        _hashes[password] = lines[0]
    return _hashes[password]


def new_api_key():
    """(key, sha256 hex) from `chatd --new-api-key`, whose lines are "key: K" and "sha256: H"."""
    result = subprocess.run([harness.CHATD, "--new-api-key"], capture_output=True, timeout=30)
    assert result.returncode == 0, f"--new-api-key exited {result.returncode}: {result.stderr!r}"
    fields = dict(line.split(":", 1) for line in result.stdout.decode().splitlines())
    assert set(fields) == {"key", "sha256"}, f"--new-api-key printed {result.stdout!r}"
    key, digest = fields["key"].strip(), fields["sha256"].strip()
    assert len(key) == 43 and len(digest) == 64, f"--new-api-key printed {result.stdout!r}"
    return key, digest


def raw_request(server, request, timeout=5.0):
    """Send one HTTP request on a fresh connection; return (status, headers with lower-cased names, body).

    Reads the head, then Content-Length bytes, so it works for refused upgrades and for a 101 alike."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"the server closed the connection before a whole head: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body


def upgrade(server, query, headers=()):
    """A WebSocket upgrade of /subscribe with extra header lines: (status, headers, body)."""
    extra = "".join(f"{line}\r\n" for line in headers)
    request = (f"GET /subscribe{query} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Sec-WebSocket-Version: 13\r\n{extra}\r\n")
    return raw_request(server, request.encode())


def assert_upgrade_refused(server, query, headers, status, error):
    """The upgrade is answered `status` with {"error": error} (401s also name the Bearer scheme)."""
    got, answer_headers, body = upgrade(server, query, headers)
    assert got == status, f"{query} {headers}: expected {status}, got {got} {body[:300]!r}"
    assert json.loads(body) == {"error": error}, f"{query} {headers}: body {body[:300]!r}, expected {error!r}"
    if status == 401:
        assert answer_headers.get("www-authenticate") == 'Bearer realm="chatd"', answer_headers


def assert_error(response, status, error):
    """A curl response with this status and exactly {"error": error}."""
    assert response.status == status, f"expected {status}: {response}"
    assert response.json() == {"error": error}, f"expected {error!r}: {response}"


def assert_who_refused(response, error, mode):
    """GET /login's 401: the reason, and the server's auth.mode beside it (the chat page shows a login form or
    asks its embedder for a token by it)."""
    assert response.status == 401, f"expected 401: {response}"
    assert response.json() == {"error": error, "mode": mode}, f"expected {error!r} in mode {mode}: {response}"
    assert response.headers.get("www-authenticate") == 'Bearer realm="chatd"', response


async def close_after(ws, timeout=harness.RECV_TIMEOUT):
    """Read until the server closes; return (code, reason) of its close frame."""
    async def drain():
        try:
            while True:
                await ws.recv()
        except websockets.exceptions.ConnectionClosed as closed:
            assert closed.rcvd is not None, f"the connection ended without a close frame from the server: {closed}"
            return closed.rcvd.code, closed.rcvd.reason
    return await asyncio.wait_for(drain(), timeout)


async def assert_ws_refused(server, query, status, **kwargs):
    """python3-websockets' own view of a refused upgrade: InvalidStatusCode with this status."""
    try:
        async with harness.connect(server, query, **kwargs):
            pass
    except websockets.exceptions.InvalidStatusCode as refused:
        assert refused.status_code == status, f"{query}: expected {status}, got {refused.status_code}"
    else:
        raise AssertionError(f"{query}: the upgrade succeeded, expected {status}")


def restart(server):
    """SIGTERM the server (asserting exit 0) and start it again on the same config and database.

    ChatServer.start() alone would read the old process's end-of-log marker from the shared line queue and
    wait for the new process to exit, so the old reader is joined and the queue replaced first."""
    code = server.stop()
    assert code == 0, f"chatd exited with {code} after SIGTERM:\n{server.log_tail()}"
    server._reader.join(timeout=5)
    server._lines = queue.Queue()
    server.start()
