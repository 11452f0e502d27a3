#!/usr/bin/python3
"""Hostile HTTP clients (issue 10): heads a proxy and chatd could read two ways, requests dripped a byte at
a time, bodies that never finish, answers that are never read, history pages of huge events, and cross-site
POSTs to /publish. Each is answered as docs/api.md says (400, 408, 501, 403, a closed connection) and no
other client notices.

Raw sockets for what no real client sends, curl and python3-websockets as the healthy bystanders.

Usage: /usr/bin/python3 test/python/test_hostile_http.py /path/to/chatd
"""

import asyncio
import json
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MiB = 1024 * 1024
STATIC = f"static: {{ root: {json.dumps(harness.STATIC_ROOT)} }}\n"


def raw_exchange(server, data, timeout=5.0):
    """Send bytes on a fresh connection and read until the server closes it: (status, whole answer, seconds)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while True:
            chunk = sock.recv(65536)  # a timeout raises: the server did not close the connection
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return status, answer, time.monotonic() - start


def assert_refused(server, data, status):
    got, answer, _ = raw_exchange(server, data)
    assert got == status, f"{data!r}: expected {status}, got {answer[:300]!r}"
    assert b"\r\nConnection: close\r\n" in answer, answer[:300]
    assert answer.count(b"HTTP/1.1 ") == 1, f"{data!r}: more than one answer: {answer[:600]!r}"
    assert_healthy(server)


def assert_healthy(server):
    response = harness.curl(server.http("/healthz"))
    assert response.status == 200, response


def history(server, room, *query):
    url = server.http(f"/history?room={room}" + "".join("&" + q for q in query))
    response = harness.curl(url)
    assert response.status == 200, response
    return response.json()


def publish_many(server, room, texts):
    """POST each text to /publish on one keep-alive connection (quicker than a curl per message)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for text in texts:
            body = text.encode()
            head = (f"POST /publish?room={room}&name=filler HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            sock.sendall(head + body)
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 202"), status
            length = 0
            while True:
                line = reader.readline()
                if line == b"\r\n":
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)


def server_fds(server):
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# --------------------------------------------------------------------------------------------------
# Strict framing: each attack of the issue
# --------------------------------------------------------------------------------------------------


def test_space_before_colon_is_refused_and_publishes_nothing():
    with harness.ChatServer() as server:
        assert_refused(server, b"POST /publish?room=r HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", 400)
        assert harness.curl(server.http("/history?room=r")).status in (404, 200)
        page = harness.curl(server.http("/history?room=r"))
        assert page.status == 404 or page.json()["events"] == [], page


def test_obs_fold_is_refused():
    with harness.ChatServer() as server:
        assert_refused(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n", 400)
        assert_refused(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: one\r\n\tContent-Length: 5\r\n\r\n", 400)


def test_bare_lf_cannot_fold_content_length_into_host():
    with harness.ChatServer() as server:
        # Read by a CRLF-only proxy as one Host header "x\nContent-Length: 5"; by a lenient one as two lines.
        assert_refused(server, b"POST /publish?room=r HTTP/1.1\r\nHost: x\nContent-Length: 5\r\n\r\nhello", 400)
        assert_refused(server, b"GET /healthz HTTP/1.1\nHost: x\n\n", 400)
        assert_refused(server, b"GET /healthz HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400)


def test_nul_and_controls_in_headers_are_refused():
    with harness.ChatServer() as server:
        assert_refused(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400)
        assert_refused(server, b"GET /healthz HTTP/1.1\r\nHost: x\x00.evil\r\n\r\n", 400)
        assert_refused(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: \x1b[2J\r\n\r\n", 400)


def test_two_hosts_or_none_are_refused():
    with harness.ChatServer() as server:
        assert_refused(server, b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        assert_refused(server, b"GET /healthz HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400)
        assert_refused(server, b"GET /healthz HTTP/1.1\r\n\r\n", 400)


def test_nul_in_the_path_does_not_truncate_it():
    with harness.ChatServer(STATIC) as server:
        status, answer, _ = raw_exchange(server, b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == 200, answer[:300]  # the control: the file is there
        assert_refused(server, b"GET /index.html\x00.png HTTP/1.1\r\nHost: x\r\n\r\n", 400)
        assert_refused(server, b"GET /index.html\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400)
        assert_refused(server, b"GET /index.html x HTTP/1.1\r\nHost: x\r\n\r\n", 400)


def test_content_length_rules():
    with harness.ChatServer() as server:
        base = b"POST /publish?room=r HTTP/1.1\r\nHost: x\r\n"
        assert_refused(server, base + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400)
        assert_refused(server, base + b"Content-Length: +5\r\n\r\nhello", 400)
        assert_refused(server, base + b"Content-Length: 5, 5\r\n\r\nhello", 400)


def test_transfer_encoding_is_not_implemented_and_with_content_length_is_refused():
    with harness.ChatServer() as server:
        base = b"POST /publish?room=r HTTP/1.1\r\nHost: x\r\n"
        # The smuggling pair: one hop reads the chunked body, the other the Content-Length one.
        assert_refused(server, base + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
                       b"5\r\nhello\r\n0\r\n\r\n", 400)
        assert_refused(server, base + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"5\r\nhello\r\n0\r\n\r\n", 400)
        assert_refused(server, base + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501)
        page = harness.curl(server.http("/history?room=r"))
        assert page.status == 404 or page.json()["events"] == [], page


def test_curl_requests_still_pass():
    with harness.ChatServer() as server:
        response = harness.post(server, "?room=r", "deploy done")
        assert response.status == 202, response
        assert [e["text"] for e in history(server, "r")["events"]] == ["deploy done"]


# --------------------------------------------------------------------------------------------------
# Deadlines
# --------------------------------------------------------------------------------------------------


def test_a_dripped_head_gets_408_within_header_timeout_and_frees_its_fd():
    with harness.ChatServer("limits: { header_timeout: 1s }\n") as server:
        baseline = server_fds(server)
        drippers = []
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.settimeout(5)
            drippers.append(sock)
        start = time.monotonic()
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"a" * 1000
        answers = [b""] * len(drippers)
        closed_at = [None] * len(drippers)
        sent = 0
        # One byte every 0.1 s to each: under the old idle timer every byte restarted the clock.
        while time.monotonic() - start < 4.0 and None in closed_at:
            for i, sock in enumerate(drippers):
                if closed_at[i] is not None:
                    continue
                try:
                    sock.send(request[sent:sent + 1])
                except OSError:
                    pass
            sent += 1
            # A healthy client meanwhile, on its own connection.
            if sent % 5 == 0:
                assert_healthy(server)
            time.sleep(0.1)
            for i, sock in enumerate(drippers):
                if closed_at[i] is not None:
                    continue
                sock.setblocking(False)
                try:
                    while True:
                        chunk = sock.recv(4096)
                        if not chunk:
                            closed_at[i] = time.monotonic() - start
                            break
                        answers[i] += chunk
                except (BlockingIOError, ConnectionResetError):
                    pass
                sock.setblocking(True)
        for i, answer in enumerate(answers):
            assert answer.startswith(b"HTTP/1.1 408 "), f"dripper {i}: {answer[:200]!r}"
            assert closed_at[i] is not None and closed_at[i] < 1.0 + 1.5, f"dripper {i} closed at {closed_at[i]}"
        print(f"  20 drippers: 408 and closed after {min(closed_at):.2f}..{max(closed_at):.2f} s "
              f"(header_timeout 1 s)", flush=True)
        for sock in drippers:
            sock.close()
        assert wait_until(lambda: server_fds(server) <= baseline, 2), (server_fds(server), baseline)


def test_a_body_that_never_finishes_gets_408_within_body_timeout():
    with harness.ChatServer("limits: { body_timeout: 1s }\n") as server:
        status, answer, seconds = raw_exchange(
            server, b"POST /publish?room=r HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert status == 408, answer[:300]
        assert 0.9 <= seconds < 2.5, seconds
        assert_healthy(server)


def test_an_idle_keep_alive_connection_is_not_held_to_the_head_deadline():
    with harness.ChatServer("limits: { header_timeout: 1s }\n") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            sock.sendall(request)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            time.sleep(1.5)  # longer than header_timeout, between requests: the idle timer applies
            sock.sendall(request)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


# --------------------------------------------------------------------------------------------------
# Answers that are never read, and bounded history pages
# --------------------------------------------------------------------------------------------------

BIG = 60 * 1024


def big_texts(count):
    return [f"{i:06d}" + "x" * (BIG - 6) for i in range(count)]


def test_a_history_page_stops_at_queue_bytes_and_next_before_goes_on():
    config = harness.FAST_PUBLISH + "subscriber: { queue_bytes: 1MiB }\nhistory: { store: memory }\n"
    with harness.ChatServer(config) as server:
        publish_many(server, "big", big_texts(50))
        seen = []
        before = None
        pages = 0
        while True:
            response = harness.curl(server.http("/history?room=big&limit=1000" +
                                                (f"&before={before}" if before else "")))
            assert response.status == 200, response
            assert len(response.body) <= MiB, len(response.body)
            page = response.json()
            assert 1 <= len(page["events"]) < 50
            ids = [e["id"] for e in page["events"]]
            assert ids == sorted(ids)
            seen = ids + seen
            pages += 1
            before = page["next_before"]
            if before is None:
                break
            assert before == ids[0], (before, ids[0])
        assert len(seen) == 50 and len(set(seen)) == 50, seen
        assert [e["text"][:6] for e in history(server, "big", "limit=3")["events"]] == ["000047", "000048",
                                                                                         "000049"]
        print(f"  50 events of 60 KiB: {pages} pages of at most 1 MiB", flush=True)


def test_an_unread_history_page_is_dropped_after_write_timeout_and_its_memory_returns():
    config = (harness.FAST_PUBLISH + "subscriber: { queue_bytes: 24MiB, write_timeout: 1s }\n"
              "history: { store: memory, max_events: 1000 }\n")
    with harness.ChatServer(config) as server:
        publish_many(server, "big", big_texts(400))  # about 23 MiB of history
        assert_healthy(server)
        # One page read in full first: the room keeps each event's encoded frame (history memory, bounded
        # by history.max_events), so what is measured below is only what the unread answers pin.
        assert len(history(server, "big", "limit=1000")["events"]) == 400
        time.sleep(0.3)
        fds_before = server_fds(server)
        rss_before = harness.server_rss(server)
        stalled = []
        for _ in range(2):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /history?room=big&limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
            stalled.append(sock)  # never read
        start = time.monotonic()
        peak = rss_before
        while time.monotonic() - start < 0.5:
            peak = max(peak, harness.server_rss(server))
            time.sleep(0.02)
        # Others are served meanwhile: a curl and a WebSocket subscriber.

        async def bystander():
            async with harness.connect(server, "?room=big&name=watcher") as ws:
                assert harness.post(server, "?room=big", "still here").status == 202
                while True:
                    event = await harness.recv_json(ws)
                    if event.get("text") == "still here":
                        return
        harness.run_async(bystander)
        released = wait_until(lambda: server_fds(server) <= fds_before + 0, 1.0 + 2.0)
        closed_after = time.monotonic() - start
        assert released, f"fds {server_fds(server)} > {fds_before} after {closed_after:.1f} s"
        time.sleep(0.3)
        rss_after = harness.server_rss(server)
        print(f"  2 unread pages: RSS {rss_before / MiB:.1f} -> peak {peak / MiB:.1f} -> {rss_after / MiB:.1f} MiB, "
              f"fds released after {closed_after:.1f} s (write_timeout 1 s)", flush=True)
        harness.assert_memory_bound(rss_after - rss_before, 16 * MiB, "2 unread pages, after their drop")
        for sock in stalled:
            sock.close()
        assert_healthy(server)


# --------------------------------------------------------------------------------------------------
# Origin on /publish
# --------------------------------------------------------------------------------------------------


def test_a_cross_site_publish_is_refused_and_same_origin_and_curl_pass():
    with harness.ChatServer() as server:
        own = f"http://127.0.0.1:{server.port}"
        refused = harness.post(server, "?room=r", "from evil", "-H", "Origin: https://evil.example",
                               "-H", "Content-Type: text/plain")
        assert refused.status == 403, refused
        assert harness.post(server, "?room=r", "null origin", "-H", "Origin: null").status == 403
        assert harness.post(server, "?room=r", "other port", "-H",
                            f"Origin: http://127.0.0.1:{server.port + 1}").status == 403
        assert harness.post(server, "?room=r", "same origin", "-H", f"Origin: {own}").status == 202
        assert harness.post(server, "?room=r", "deploy done").status == 202  # curl sends no Origin
        assert [e["text"] for e in history(server, "r")["events"]] == ["same origin", "deploy done"]


def test_publish_honours_allowed_origins():
    with harness.ChatServer('subscriber: { allowed_origins: ["https://chat.example"] }\n') as server:
        own = f"http://127.0.0.1:{server.port}"
        assert harness.post(server, "?room=r", "listed", "-H", "Origin: https://chat.example").status == 202
        assert harness.post(server, "?room=r", "unlisted", "-H", f"Origin: {own}").status == 403
        assert harness.post(server, "?room=r", "evil", "-H", "Origin: https://evil.example").status == 403
        assert harness.post(server, "?room=r", "curl").status == 202
        assert [e["text"] for e in history(server, "r")["events"]] == ["listed", "curl"]


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
