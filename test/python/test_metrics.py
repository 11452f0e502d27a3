"""GET /metrics and /readyz on the admin listener (admin.listen), judged by independent tools: Prometheus'
own `promtool check metrics` (Debian's prometheus package) on the text, curl for the requests,
python3-websockets and PyJWT for the clients. Each test runs a scripted sequence and asserts that the
counters moved by exactly what it did, nothing else.

Usage: /usr/bin/python3 test/python/test_metrics.py /path/to/chatd
"""
import asyncio
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time

import jwt  # PyJWT, Debian's python3-jwt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PROMTOOL = "/usr/bin/promtool"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")
SECRET = "an HS256 secret of more than 32 bytes, for the metrics test"


wait_until = harness.wait_until


def scrape(server):
    response = harness.curl(server.admin("/metrics"))
    assert response.status == 200, response.status
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", response.headers
    return response.body.decode()


def samples(text):
    """{'name{labels}': value} of every sample line."""
    found = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return found


def promtool_accepts(text):
    if not os.path.exists(PROMTOOL):
        raise harness.Skip(f"{PROMTOOL} is not installed (apt-get install prometheus)")
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    # promtool prints lint problems (names, units, help) and exits 1 on any.
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()


def moved(before, after, *, ignore=()):
    """The counters that changed, as {'series': delta}; gauges and process metrics are not counters."""
    changes = {}
    for key, value in after.items():
        name = key.split("{")[0]
        if not name.startswith("chatd_") or not (name.endswith("_total") or "_history_commit_seconds" in name):
            continue
        if any(key.startswith(prefix) for prefix in ignore):
            continue
        delta = value - before.get(key, 0)
        if delta:
            changes[key] = delta
    return changes


def slow_subscriber(server, room):
    """A raw WebSocket that never reads, with a 4 KiB receive buffer: truly slow."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall((f"GET /subscribe?room={room}&name=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # one byte at a time: nothing after the head is taken off the socket
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_metrics_text_passes_promtool_and_counts_exactly():
    # Four upgrades may be made, then the handshake limiter answers 429; messages of up to 64 KiB; a
    # subscriber's queue of 8 messages or 64 KiB, so that one that never reads is soon too slow.
    config = (harness.FAST_PUBLISH + "limits: { handshake_rate: 0.001, handshake_burst: 4 }\n"
              "subscriber: { queue: 8, queue_bytes: 64KiB }\nhistory: { max_events: 20 }\n")
    with harness.ChatServer(config) as server:
        first = scrape(server)
        promtool_accepts(first)
        before = samples(first)
        for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                     "process_max_fds", "process_start_time_seconds", "chatd_rooms",
                     'chatd_connections_open{transport="websocket"}', "chatd_history_pending_events"):
            assert name in before, f"{name} missing:\n{first}"
        assert before["process_resident_memory_bytes"] > 1e6, before["process_resident_memory_bytes"]
        assert abs(before["process_start_time_seconds"] - time.time()) < 60, before["process_start_time_seconds"]

        received = {}

        async def scenario():
            async with harness.connect(server, "?room=m&name=alice&format=text") as alice, \
                    harness.connect(server, "?room=m&name=bob&format=text") as bob:
                during = samples(scrape(server))
                assert during['chatd_connections_open{transport="websocket"}'] == 2, during
                for i in range(3):
                    response = await harness.apost(server, "?room=m", f"http {i}")
                    assert response.status == 202, response.status
                await alice.send("ws 0")
                await alice.send("ws 1")
                for ws, who in ((alice, "alice"), (bob, "bob")):
                    received[who] = [await harness.recv(ws) for _ in range(5)]
        harness.run_async(scenario)
        assert received["alice"] == received["bob"] == ["http 0", "http 1", "http 2", "ws 0", "ws 1"], received

        # The third and fourth upgrades: a slow subscriber (never reads) and one more; the fifth is 429.
        slow = slow_subscriber(server, "big")
        extra = slow_subscriber(server, "idle")
        refused = harness.curl(server.http("/subscribe?room=m"), "-H", "Upgrade: websocket", "-H",
                               "Connection: Upgrade", "-H", "Sec-WebSocket-Version: 13", "-H",
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
        assert refused.status == 429, refused.status
        # 60 KiB messages into the slow subscriber's room until it is closed as too slow (1008).
        big = "x" * (60 * 1024)
        published_big = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert harness.post(server, "?room=big", big).status == 202
            published_big += 1
            if samples(scrape(server)).get("chatd_slow_client_closes_total", 0) > before.get(
                    "chatd_slow_client_closes_total", 0):
                break
        slow.close()
        extra.close()
        wait_until(lambda: samples(scrape(server))['chatd_connections_open{transport="websocket"}'] == 0,
                           10, "every WebSocket closed")
        after_text = scrape(server)
        promtool_accepts(after_text)
        after = samples(after_text)
        changes = moved(before, after, ignore=("chatd_sent_bytes_total", "chatd_history_", "chatd_deliveries_total",
                                               "chatd_websocket_"))
        # Every TCP connection: 3 HTTP publishes, 2 + 2 upgrades, the refused one, the big publishes, and
        # the scrapes on the public port's... none: scrapes are on the admin listener, not counted here.
        expected = {
            'chatd_connections_accepted_total{transport="http"}': 3 + 4 + 1 + published_big,
            'chatd_connections_accepted_total{transport="websocket"}': 4,
            'chatd_messages_published_total{route="http"}': 3 + published_big,
            'chatd_messages_published_total{route="ws"}': 2,
            'chatd_rate_limited_total{limiter="handshake"}': 1,
            'chatd_handshake_rejections_total{status="429"}': 1,
            "chatd_slow_client_closes_total": 1,
        }
        assert changes == expected, f"moved {changes}, expected {expected}"
        # 5 messages to 2 subscribers, then what reached the slow one before it was closed (at least one).
        deliveries = after["chatd_deliveries_total"] - before["chatd_deliveries_total"]
        assert 10 < deliveries <= 10 + published_big, (deliveries, published_big)
        assert after['chatd_websocket_closes_total{code="1008"}'] - before['chatd_websocket_closes_total{code="1008"}'] == 1
        # alice and bob closed with 1000 (the server echoes the client's), the idle raw one ended without.
        assert after['chatd_websocket_closes_total{code="1000"}'] - before['chatd_websocket_closes_total{code="1000"}'] == 2
        sent = after["chatd_sent_bytes_total"] - before["chatd_sent_bytes_total"]
        assert sent >= 2 * sum(len(text) for text in received["alice"]), sent
        # The SQLite writer committed every event (the store is the default), in at least one transaction:
        # the messages, and the join and leave of each of the 4 WebSocket users.
        committed = after["chatd_history_committed_events_total"] - before.get("chatd_history_committed_events_total", 0)
        wait_until(lambda: samples(scrape(server))["chatd_history_committed_events_total"]
                           - before.get("chatd_history_committed_events_total", 0) == 5 + published_big + 2 * 4,
                           5, f"every event committed ({committed} so far)")
        final = samples(scrape(server))
        assert final["chatd_history_commit_seconds_count"] >= 1, final
        assert final['chatd_history_commit_seconds_bucket{le="+Inf"}'] == final["chatd_history_commit_seconds_count"]
        assert final["chatd_history_lost_events_total"] == 0, final
        assert final["chatd_history_pending_events"] == 0, final


def test_auth_failures_and_readiness():
    server = harness.ChatServer("auth: { mode: jwt, jwt: { secret_file: jwt.secret } }\n"
                                "history: { store: memory }\n")
    with open(os.path.join(os.path.dirname(server.config_path), "jwt.secret"), "w") as f:
        f.write(SECRET + "\n")
    with server:
        ready = harness.curl(server.admin("/readyz"))
        assert (ready.status, ready.body) == (200, b"ready"), (ready.status, ready.body)
        # Only GET and HEAD; and the admin listener serves nothing of the public table.
        assert harness.curl(server.admin("/metrics"), "-X", "POST").status == 405
        assert harness.curl(server.admin("/publish?room=a"), "-X", "POST", "--data", "x").status == 404
        before = samples(scrape(server))
        now = int(time.time())
        good = jwt.encode({"sub": "alice", "exp": now + 600, "rooms": ["a"]}, SECRET, algorithm="HS256")
        expired = jwt.encode({"sub": "alice", "exp": now - 3600}, SECRET, algorithm="HS256")
        forged = jwt.encode({"sub": "alice", "exp": now + 600}, SECRET + "?", algorithm="HS256")
        attempts = [
            ("room=a", 401),                     # no token: missing
            (f"room=a&token={forged}", 401),     # a bad signature: invalid
            (f"room=a&token={expired}", 401),    # expired
            (f"room=b&token={good}", 403),       # its rooms are ["a"]: forbidden_room
            ("room=a&token=not.a.jwt", 401),     # malformed: invalid
        ]
        for query, status in attempts:
            got = harness.curl(server.http("/subscribe?" + query), "-H", "Upgrade: websocket", "-H",
                               "Connection: Upgrade", "-H", "Sec-WebSocket-Version: 13", "-H",
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
            assert got.status == status, (query, got.status, got.body)
        # A publish with no token: 401 too, and counted the same way.
        assert harness.post(server, "?room=a", "hello").status == 401
        after_text = scrape(server)
        promtool_accepts(after_text)
        changes = moved(before, samples(after_text))
        expected = {
            'chatd_connections_accepted_total{transport="http"}': len(attempts) + 1,
            'chatd_auth_failures_total{reason="missing"}': 2,
            'chatd_auth_failures_total{reason="invalid"}': 2,
            'chatd_auth_failures_total{reason="expired"}': 1,
            'chatd_auth_failures_total{reason="forbidden_room"}': 1,
            'chatd_handshake_rejections_total{status="401"}': 4,
            'chatd_handshake_rejections_total{status="403"}': 1,
        }
        assert changes == expected, f"moved {changes}, expected {expected}"


def test_admin_listen_empty_turns_it_off_and_a_taken_port_is_a_config_error():
    with harness.ChatServer('admin: { listen: "" }\n') as server:
        assert server.admin_port is None
        assert not any("admin listening" in line for line in server.stderr_lines), server.log_tail()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = harness.ChatServer(f'admin: {{ listen: "127.0.0.1:{port}" }}\n')
        result = subprocess.run([harness.CHATD, "--config", server.config_path], capture_output=True, timeout=10,
                                stdin=subprocess.DEVNULL)
        server._dir.cleanup()
        assert result.returncode == 2, (result.returncode, result.stderr)
        message = result.stderr.decode()
        assert re.search(r"chat\.yaml:\d+:\d+: admin\.listen: cannot listen on 127\.0\.0\.1:%d: " % port, message), message


def admin_json(server, path, *args):
    response = harness.curl(server.admin(path), *args)
    return response.status, (json.loads(response.body) if response.body else None)


def test_admin_rooms_sessions_and_disconnect():
    with harness.ChatServer("rooms: { names: [general, a, b] }\n") as server:
        before = samples(scrape(server))

        async def scenario():
            async with harness.connect(server, "?room=a&name=alice&format=text") as alice_a, \
                    harness.connect(server, "?room=b&name=alice&format=text") as alice_b, \
                    harness.connect(server, "?room=a&name=bob&format=text") as bob:
                assert (await harness.apost(server, "?room=a", "hello")).status == 202
                for ws in (alice_a, bob):
                    assert await harness.recv(ws) == "hello"
                status, listing = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: admin_json(server, "/admin/rooms"))
                assert status == 200, listing
                by_name = {room["room"]: room for room in listing["rooms"]}
                assert [room["room"] for room in listing["rooms"]] == sorted(by_name), listing
                assert by_name["a"]["subscribers"] == 2 and by_name["b"]["subscribers"] == 1, listing
                assert by_name["general"]["subscribers"] == 0, listing
                # alice's join, bob's join, then the message: ids 1 to 3.
                assert by_name["a"]["last_id"] == 3, listing
                assert set(by_name["a"]) == {"room", "epoch", "last_id", "subscribers"}, listing
                status, room = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: admin_json(server, "/admin/sessions?room=a"))
                assert status == 200, room
                sessions = {session["name"]: session for session in room["sessions"]}
                assert sorted(sessions) == ["alice", "bob"], room
                for session in room["sessions"]:
                    assert re.fullmatch(r"[0-9a-f]{16}", session["session"]), session
                    assert re.fullmatch(r"127\.0\.0\.1:\d+", session["peer"]), session
                    assert session["transport"] == "websocket", session
                    assert abs(session["connected_at"] - harness.now_ms()) < 10000, session
                    assert session["queued_bytes"] == 0, session
                # The session id names one connection: bob's alone goes, with 4004.
                status, answer = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: admin_json(server, f"/admin/disconnect?session={sessions['bob']['session']}",
                                             "-X", "POST"))
                assert (status, answer) == (200, {"disconnected": 1}), answer
                assert await harness.close_code_after(bob) == 4004
                assert (await harness.apost(server, "?room=a", "still here")).status == 202
                assert await harness.recv(alice_a) == "still here"
                # By name: every session of alice's, in every room.
                status, answer = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: admin_json(server, "/admin/disconnect?name=alice", "-X", "POST"))
                assert (status, answer) == (200, {"disconnected": 2}), answer
                assert await harness.close_code_after(alice_a) == 4004
                assert await harness.close_code_after(alice_b) == 4004
        harness.run_async(scenario)

        refusals = [
            ("/admin/disconnect", ("-X", "POST"), 400, "give one of name= and session="),
            ("/admin/disconnect?name=a&session=0123456789abcdef", ("-X", "POST"), 400,
             "give one of name= and session="),
            ("/admin/disconnect?session=xyz", ("-X", "POST"), 400,
             "session= is a session id from GET /admin/sessions (16 hex digits)"),
            ("/admin/sessions", (), 400, "room= is required"),
            ("/admin/sessions?room=nowhere", (), 404, 'no room named "nowhere"'),
        ]
        for path, args, status, error in refusals:
            got = admin_json(server, path, *args)
            assert got == (status, {"error": error}), (path, got)
        assert harness.curl(server.admin("/admin/disconnect?name=x")).status == 405
        after = samples(scrape(server))
        assert after['chatd_websocket_closes_total{code="4004"}'] - before['chatd_websocket_closes_total{code="4004"}'] == 3


def test_admin_routes_need_an_api_key_for_every_room_when_auth_is_on():
    key, limited = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    digest = hashlib.sha256(key.encode()).hexdigest()
    limited_digest = hashlib.sha256(limited.encode()).hexdigest()
    server = harness.ChatServer(
        "auth:\n  mode: jwt\n  jwt: { secret_file: jwt.secret }\n  api_keys:\n"
        f"    - {{ name: ops, sha256: {digest} }}\n"
        f"    - {{ name: deploy, sha256: {limited_digest}, rooms: [general] }}\n"
        "history: { store: memory }\n")
    with open(os.path.join(os.path.dirname(server.config_path), "jwt.secret"), "w") as f:
        f.write(SECRET + "\n")
    with server:
        user = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
        cases = [
            ((), 401),
            (("-H", f"Authorization: Bearer {user}"), 403),
            (("-H", f"Authorization: Bearer {limited}"), 403),
            (("-H", f"Authorization: Bearer {key}"), 200),
        ]
        for args, status in cases:
            got, body = admin_json(server, "/admin/rooms", *args)
            assert got == status, (args, got, body)
        # Never in the URL, where logs and proxies keep it.
        assert admin_json(server, "/admin/rooms?token=" + key)[0] == 401
        assert admin_json(server, "/admin/rooms", "-H", f"Authorization: Bearer {user}")[1] == {
            "error": "the admin routes need an API key (auth.api_keys) when auth.mode is not open"}
        assert admin_json(server, "/admin/rooms", "-H", f"Authorization: Bearer {limited}")[1] == {
            "error": 'API key "deploy" is limited to some rooms: the admin routes need a key for every room'}
        # /metrics and /readyz stay open to the scraper and the probe.
        assert harness.curl(server.admin("/metrics")).status == 200
        assert harness.curl(server.admin("/readyz")).status == 200


def main():
    return harness.main(globals())


def test_redis_links_and_readiness_when_clustered():
    import cluster_support  # a real redis-server on a free port (test/python/cluster_support.py)
    with cluster_support.Cluster(nodes=1) as cluster:
        node = cluster.nodes[0]

        def gauges():
            return samples(scrape(node))

        # The probe goes every second: its round trip is there within two.
        wait_until(lambda: "chatd_redis_round_trip_seconds" in gauges(), cluster_support.scaled(3), "a probe")
        now = gauges()
        assert now['chatd_redis_link_up{link="command"}'] == 1 and now['chatd_redis_link_up{link="subscriber"}'] == 1
        assert 0 < now["chatd_redis_round_trip_seconds"] < 1, now["chatd_redis_round_trip_seconds"]
        promtool_accepts(scrape(node))
        assert harness.curl(node.admin("/readyz")).status == 200
        cluster.redis.kill()
        wait_until(lambda: gauges()['chatd_redis_link_up{link="command"}'] == 0, cluster_support.scaled(5),
                   "the command link seen down")
        down = harness.curl(node.admin("/readyz"))
        assert down.status == 503, (down.status, down.body)
        assert re.search(rb"Redis at 127\.0\.0\.1:\d+ is unavailable \(commands\)", down.body), down.body
        # Alive all the same: /healthz says degraded with 200 (keep the process, send traffic elsewhere).
        assert harness.curl(node.http("/healthz")).status == 200
        cluster.redis.start()
        wait_until(lambda: harness.curl(node.admin("/readyz")).status == 200, cluster_support.scaled(10),
                   "ready again once Redis is back")
        back = gauges()
        assert back['chatd_redis_link_up{link="command"}'] == 1 and back['chatd_redis_link_up{link="subscriber"}'] == 1


if __name__ == "__main__":
    sys.exit(main())
