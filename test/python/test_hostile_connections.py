#!/usr/bin/python3
"""Connections and rooms under hostile use (issue 10): limits.max_connections and max_connections_per_ip
close a connection past them at once and serve again once connections end; limits.handshake_rate answers
429 with Retry-After; rooms.create_rate answers 429 to a new room past the burst while rooms that exist
keep working, for every route that can make a room.

Clients are raw sockets and http.client bound to chosen loopback source addresses (127.0.0.1, 127.0.0.2,
...: Linux routes all of 127/8 to lo), so "another address" is real and per-address limits can be seen.

Usage: /usr/bin/python3 test/python/test_hostile_connections.py /path/to/chatd
"""

import base64
import http.client
import json
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

READ_TIMEOUT = 5.0


def open_from(server, source):
    """A TCP connection to chatd from the loopback address `source`."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT, source_address=(source, 0))
    return sock


def read_head(sock, step=4096):
    """The response head, b"" when the server closed the connection without answering (a refusal). With
    step=1 nothing after the head is consumed (the frames after a 101)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(step)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    return data


def read_body(sock, head):
    """The body after `head` (read_head may have read some of it already), by its Content-Length."""
    top, _, body = head.partition(b"\r\n\r\n")
    length = 0
    for line in top.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, "connection closed in the body"
        body += chunk
    return body


def healthz_on(sock):
    """Sends GET /healthz (keep-alive) and returns the status, or None for a connection closed unanswered."""
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: chatd\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        return None
    head = read_head(sock)
    if not head:
        return None
    status = int(head.split(b" ", 2)[1])
    body = read_body(sock, head)
    if status == 200:
        assert body == b"ok", body
    return status


def open_many(server, source, count):
    """`count` connections from `source`, each asked for /healthz: (served sockets, number refused)."""
    served, refused = [], 0
    socks = [open_from(server, source) for _ in range(count)]
    for sock in socks:
        status = healthz_on(sock)
        if status is None:
            refused += 1
            sock.close()
        else:
            assert status == 200, status
            served.append(sock)
    return served, refused


def request(server, method, path, body=None, source="127.0.0.1", headers=None):
    """(status, headers dict lower-cased, body) of one request on a fresh connection from `source`."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=READ_TIMEOUT, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def upgrade(server, query, source="127.0.0.1"):
    """A raw WebSocket upgrade: (status, headers, the open socket or None)."""
    sock = open_from(server, source)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /subscribe{query} HTTP/1.1\r\nHost: chatd\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = read_head(sock, step=1).decode("latin-1")
    assert head, "the upgrade got no answer"
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if status != 101:
        sock.close()
        return status, headers, None
    return status, headers, sock


def read_text_frame(sock):
    """One unmasked server text frame's payload (small frames only)."""
    sock.settimeout(READ_TIMEOUT)
    header = b""
    while len(header) < 2:
        header += sock.recv(2 - len(header))
    length = header[1] & 0x7F
    if length == 126:
        ext = b""
        while len(ext) < 2:
            ext += sock.recv(2 - len(ext))
        length = int.from_bytes(ext, "big")
    payload = b""
    while len(payload) < length:
        payload += sock.recv(length - len(payload))
    assert header[0] & 0x0F == 1, f"expected a text frame, opcode {header[0] & 0x0F}"
    return payload.decode()


def publish_on(sock, room, text):
    body = text.encode()
    sock.sendall((f"POST /publish?room={room}&name=t HTTP/1.1\r\nHost: chatd\r\nContent-Type: text/plain\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    head = read_head(sock)
    status = int(head.split(b" ", 2)[1])
    read_body(sock, head)
    return status


def expect_event(sock, text):
    """Reads frames until a message event with `text` (presence events are off by default)."""
    deadline = time.monotonic() + READ_TIMEOUT
    while time.monotonic() < deadline:
        event = json.loads(read_text_frame(sock))
        if event.get("type") == "message":
            assert event["text"] == text, event
            return
    raise AssertionError(f"no event {text!r}")


def test_max_connections_refuses_past_the_bound_and_recovers():
    with harness.ChatServer("limits: { max_connections: 50 }\n" + harness.FAST_PUBLISH) as server:
        status, _, subscriber = upgrade(server, "?room=lobby")
        assert status == 101, status
        # 1 subscriber + 59 more = 60 connections: 50 served in all, 10 closed unanswered.
        served, refused = open_many(server, "127.0.0.1", 59)
        assert (len(served), refused) == (49, 10), (len(served), refused)
        # A served connection still works, and the subscriber still receives.
        assert publish_on(served[0], "lobby", "still here") == 202
        expect_event(subscriber, "still here")
        # Every slot comes back when connections end, however they end (here: the client closes).
        for sock in served:
            sock.close()
        time.sleep(0.3)
        again, refused_again = open_many(server, "127.0.0.1", 49)
        assert (len(again), refused_again) == (49, 0), (len(again), refused_again)
        for sock in again:
            sock.close()
        subscriber.close()
        time.sleep(0.3)
        assert request(server, "GET", "/healthz")[0] == 200
        assert server.process.poll() is None


def test_max_connections_per_ip_bounds_one_address_only():
    with harness.ChatServer("limits: { max_connections_per_ip: 5 }\n") as server:
        served, refused = open_many(server, "127.0.0.2", 7)
        assert (len(served), refused) == (5, 2), (len(served), refused)
        # Another address is not affected.
        others, others_refused = open_many(server, "127.0.0.3", 5)
        assert (len(others), others_refused) == (5, 0), (len(others), others_refused)
        assert request(server, "GET", "/healthz", source="127.0.0.1")[0] == 200
        for sock in served:
            sock.close()
        time.sleep(0.3)
        back, back_refused = open_many(server, "127.0.0.2", 5)
        assert (len(back), back_refused) == (5, 0), (len(back), back_refused)
        for sock in back + others:
            sock.close()


def test_handshake_rate_gets_429_with_retry_after():
    with harness.ChatServer("limits: { handshake_rate: 0.5, handshake_burst: 3 }\n") as server:
        sessions = []
        for _ in range(3):
            status, _, sock = upgrade(server, "?room=general")
            assert status == 101, status
            sessions.append(sock)
        status, headers, _ = upgrade(server, "?room=general")
        assert status == 429, status
        assert int(headers["retry-after"]) >= 1, headers
        # Another address has its own bucket; plain HTTP from the first address is not limited by it.
        status, _, other = upgrade(server, "?room=general", source="127.0.0.2")
        assert status == 101, status
        assert request(server, "GET", "/healthz")[0] == 200
        # The refused upgrade disturbed no one: a publish reaches the sessions opened before it.
        assert request(server, "POST", "/publish?room=general&name=t", b"hello",
                       headers={"Content-Type": "text/plain"})[0] == 202
        for sock in sessions + [other]:
            expect_event(sock, "hello")
            sock.close()


def test_room_creation_rate_for_every_route():
    yaml = "rooms: { create_rate: 0.2, create_burst: 3 }\n" + harness.FAST_PUBLISH
    with harness.ChatServer(yaml) as server:
        plain = {"Content-Type": "text/plain"}
        for i in range(3):
            status, _, body = request(server, "POST", f"/publish?room=new{i}&name=t", b"x", headers=plain)
            assert status == 202, (status, body)
        # Past the burst: a new room is refused on every route that can make one...
        status, headers, body = request(server, "POST", "/publish?room=new3&name=t", b"x", headers=plain)
        assert status == 429 and int(headers["retry-after"]) >= 1, (status, headers, body)
        assert b"creating rooms too fast" in body, body
        status, headers, _ = upgrade(server, "?room=new4")
        assert status == 429 and int(headers["retry-after"]) >= 1, (status, headers)
        # ...while rooms that exist keep working for the same address.
        status, _, sock = upgrade(server, "?room=new0")
        assert status == 101, status
        assert request(server, "POST", "/publish?room=new0&name=t", b"again", headers=plain)[0] == 202
        expect_event(sock, "again")
        sock.close()
        status, _, body = request(server, "GET", "/history?room=new1")
        assert status == 200, (status, body)
        # Asking about a room that does not exist costs nothing and says so.
        assert request(server, "GET", "/history?room=never")[0] == 404
        # Another address has its own bucket.
        status, _, body = request(server, "POST", "/publish?room=new5&name=t", b"x", source="127.0.0.2",
                                  headers=plain)
        assert status == 202, (status, body)


def publish(server, room, text, source="127.0.0.1"):
    status, _, body = request(server, "POST", f"/publish?room={room}&name=t", text.encode(), source=source,
                              headers={"Content-Type": "text/plain"})
    return status, (json.loads(body) if status == 202 else body)


def reclaim_config(store):
    # general + 2 dynamic rooms; reclaimed after 1 s idle (the sweep runs every 250 ms).
    return (f"rooms: {{ max: 3, idle_timeout: 1s }}\nhistory: {{ store: {store} }}\n" + harness.FAST_PUBLISH)


def test_idle_rooms_are_reclaimed_and_keep_their_ids_with_sqlite():
    with harness.ChatServer(reclaim_config("sqlite")) as server:
        status, first = publish(server, "r1", "one")
        assert status == 202, first
        assert publish(server, "r2", "two")[0] == 202
        status, body = publish(server, "r3", "three")
        assert status == 503 and b"room limit reached" in body, (status, body)
        # A room with a subscriber is in use however long it is quiet.
        status, _, held = upgrade(server, "?room=r2")
        assert status == 101, status
        time.sleep(1.8)
        status, third = publish(server, "r3", "three")
        assert status == 202, third  # r1 was reclaimed: room for r3
        assert publish(server, "r2", "two again")[0] == 202  # r2 was kept for its subscriber
        expect_event(held, "two again")
        held.close()
        status, _, page = request(server, "GET", "/history?room=r1")
        assert status == 503, (status, page)  # r1 would make a 4th live room: it is stored, not live
        time.sleep(1.8)
        # r1 comes back from the store: same epoch, ids continue, its event is there.
        status, _, page = request(server, "GET", "/history?room=r1")
        assert status == 200, (status, page)
        page = json.loads(page)
        assert [e["text"] for e in page["events"]] == ["one"], page
        epoch = page["epoch"]
        status, again = publish(server, "r1", "one again")
        assert status == 202 and again["id"] == first["id"] + 1, (first, again)
        # Recovery across the reclaim is complete.
        status, _, sock = upgrade(server, f"?room=r1&since={first['id']}&epoch={epoch}")
        assert status == 101, status
        recovered = json.loads(read_text_frame(sock))
        assert recovered["type"] == "recovered" and recovered["complete"] is True, recovered
        assert recovered["epoch"] == epoch, recovered
        expect_event(sock, "one again")
        sock.close()


def test_a_reclaimed_memory_room_starts_a_new_epoch():
    with harness.ChatServer(reclaim_config("memory")) as server:
        status, first = publish(server, "m1", "gone")
        assert status == 202, first
        status, _, sock = upgrade(server, f"?room=m1&since=0")
        recovered = json.loads(read_text_frame(sock))
        old_epoch = recovered["epoch"]
        sock.close()
        time.sleep(1.8)
        # The events are gone with the room: the epoch is new, so the old (epoch, id) cannot be taken for
        # the room's new events, and recovery from it says incomplete.
        status, _, sock = upgrade(server, f"?room=m1&since={first['id']}&epoch={old_epoch}")
        assert status == 101, status
        recovered = json.loads(read_text_frame(sock))
        assert recovered["type"] == "recovered", recovered
        assert recovered["epoch"] != old_epoch and recovered["complete"] is False, (old_epoch, recovered)
        sock.close()


class server_stopped_after:
    """Stops (and checks the exit of) a ChatServer started by hand."""

    def __init__(self, server):
        self.server = server

    def __enter__(self):
        return self.server

    def __exit__(self, *exc):
        return self.server.__exit__(*exc)


def test_max_connections_stays_below_the_open_file_limit():
    # Last: the limit is lowered in this process for chatd to inherit, and raising the hard limit back
    # needs privilege; 150 descriptors are plenty for what is left.
    old = resource.getrlimit(resource.RLIMIT_NOFILE)

    def restore():
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, old)
        except (ValueError, OSError):
            pass

    resource.setrlimit(resource.RLIMIT_NOFILE, (150, 150))
    try:
        server = harness.ChatServer()
        server.start()  # chatd inherits the limit when it is started
    except BaseException:
        restore()
        server.__exit__(*sys.exc_info())
        raise
    restore()
    with server_stopped_after(server):
        # 150 - (64 + 4 x 2 threads) reserved = 78 connections.
        assert any("lowered to 78" in line for line in server.stderr_lines), server.log_tail()
        served, refused = open_many(server, "127.0.0.1", 85)
        assert (len(served), refused) == (78, 7), (len(served), refused)
        for sock in served:
            sock.close()
        time.sleep(0.3)
        assert request(server, "GET", "/healthz")[0] == 200


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
