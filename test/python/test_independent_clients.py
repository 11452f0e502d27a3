#!/usr/bin/python3
"""Black-box tests of chatd, driven only by independent clients.

The server is exercised through python3-websockets (10.x, asyncio) and the curl command, never through
chatd's own code, so these tests check the wire behaviour a real client sees. The server fixture and the
clients are in harness.py, shared with the other suites.

Usage: /usr/bin/python3 test/python/test_independent_clients.py /path/to/chatd

Prints one line per test ("ok NAME" or "FAIL NAME: why"), then "N passed, M failed"; exits 1 if any
test failed.
"""

import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time

import websockets.exceptions

import harness
from harness import (
    ChatServer,
    curl,
    post,
    connect,
    recv,
    recv_json,
    close_code_after,
    acurl,
    apost,
    assert_event,
    run_async,
    assert_json_error,
    STATIC_ROOT,
    RECV_TIMEOUT,
)


# --------------------------------------------------------------------------------------------------
# Tests: subscribing and events
# --------------------------------------------------------------------------------------------------


def test_http_publish_reaches_subscriber():
    with ChatServer() as server:
        async def body():
            async with connect(server, "?room=ops&name=alice") as ws:
                response = await apost(server, "?room=ops", "deploy done")
                assert response.status == 202, response
                # Id 1 was alice's join: join and leave events take ids too.
                assert response.json() == {"id": 2, "room": "ops"}, response
                event = await recv_json(ws)
                # The HTTP publisher has no name in this request; the spec does not fix the default.
                assert isinstance(event.get("name"), str) and event["name"], event
                assert_event(event, id=2, room="ops", name=event["name"], text="deploy done")
        run_async(body)


def test_ids_count_up_per_room():
    with ChatServer() as server:
        async def body():
            async with connect(server, "?room=x") as x_ws, connect(server, "?room=y") as y_ws:
                # Interleave the rooms: each keeps its own counter, where id 1 was its subscriber's join.
                expected = [("x", 2), ("y", 2), ("x", 3), ("x", 4), ("y", 3)]
                for room, want_id in expected:
                    response = await apost(server, f"?room={room}", f"msg {room}{want_id}")
                    assert response.status == 202, response
                    assert response.json() == {"id": want_id, "room": room}, response
                for ws, room, ids in ((x_ws, "x", [2, 3, 4]), (y_ws, "y", [2, 3])):
                    for want_id in ids:
                        event = await recv_json(ws)
                        assert event["room"] == room and event["id"] == want_id, event
                        assert event["text"] == f"msg {room}{want_id}", event
        run_async(body)


def test_ws_message_published_to_room_including_sender():
    with ChatServer() as server:
        async def body():
            async with connect(server, "?room=team&name=alice") as alice, \
                    connect(server, "?room=team&name=bob") as bob:
                # Ids 1 and 2 were their joins.
                await alice.send("hello team")
                for ws in (alice, bob):
                    assert_event(await recv_json(ws), id=3, room="team", name="alice", text="hello team")
                await bob.send("hi alice")
                for ws in (alice, bob):
                    assert_event(await recv_json(ws), id=4, room="team", name="bob", text="hi alice")
        run_async(body)


def test_format_text_delivers_raw_text():
    with ChatServer() as server:
        async def body():
            async with connect(server, "?room=ops&format=text") as ws:
                text = 'deploy {"done": true} ✓'  # JSON-looking and non-ASCII: must arrive untouched
                response = await apost(server, "?room=ops", text)
                assert response.status == 202, response
                frame = await recv(ws)
                assert frame == text, f"{frame!r} != {text!r}"
        run_async(body)


def test_defaults_room_general_and_guest_name():
    with ChatServer() as server:
        async def body():
            async with connect(server) as ws:
                await ws.send("who am i")
                event = await recv_json(ws)
                assert event["room"] == "general", event
                assert re.fullmatch(r"guest-[0-9a-f]{4}", event["name"]), event
                assert_event(event, id=2, room="general", name=event["name"], text="who am i")  # 1: its join
                # A POST naming no room goes to the default room too.
                response = await apost(server, "", "to the default room")
                assert response.status == 202, response
                assert response.json() == {"id": 3, "room": "general"}, response
                event = await recv_json(ws)
                assert event["id"] == 3 and event["text"] == "to the default room", event
        run_async(body)


def test_rooms_are_isolated():
    with ChatServer() as server:
        async def body():
            async with connect(server, "?room=a") as a_ws, connect(server, "?room=b") as b_ws:
                # Publish to b first: if rooms leaked, a's subscriber would see b's message first.
                assert (await apost(server, "?room=b", "for b")).status == 202
                assert (await apost(server, "?room=a", "for a")).status == 202
                first_a = await recv_json(a_ws)
                assert first_a["room"] == "a" and first_a["text"] == "for a", first_a
                first_b = await recv_json(b_ws)
                assert first_b["room"] == "b" and first_b["text"] == "for b", first_b
                # And nothing else is pending for either.
                for ws in (a_ws, b_ws):
                    try:
                        extra = await asyncio.wait_for(ws.recv(), 0.3)
                    except asyncio.TimeoutError:
                        continue
                    raise AssertionError(f"unexpected extra message {extra!r}")
        run_async(body)


def test_ping_gets_pong():
    with ChatServer() as server:
        async def body():
            async with connect(server) as ws:
                waiter = await ws.ping(b"are you there")
                await asyncio.wait_for(waiter, RECV_TIMEOUT)
                assert waiter.done() and not waiter.cancelled()
        run_async(body)


# --------------------------------------------------------------------------------------------------
# Tests: HTTP publish
# --------------------------------------------------------------------------------------------------


def test_publish_json_body():
    with ChatServer() as server:
        async def body():
            async with connect(server, "?room=ops") as ws:
                payload = json.dumps({"room": "ops", "text": "deploy done", "name": "bob"})
                response = await apost(server, "", payload, "-H", "Content-Type: application/json")
                assert response.status == 202, response
                assert response.headers.get("content-type", "").startswith("application/json"), response
                assert response.json() == {"id": 2, "room": "ops"}, response  # 1: the subscriber's join
                assert_event(await recv_json(ws), id=2, room="ops", name="bob", text="deploy done")
        run_async(body)



def test_publish_rejects_bad_bodies():
    with ChatServer() as server:
        json_header = ("-H", "Content-Type: application/json")
        assert_json_error(post(server, "?room=ops", '{"text": "unterminated', *json_header), 400)
        assert_json_error(post(server, "?room=ops", '{"room": "ops", "text": ""}', *json_header), 400)
        assert_json_error(post(server, "?room=ops", ""), 400)
        with tempfile.NamedTemporaryFile(suffix=".bin") as f:
            f.write(b"bad \xff\xfe utf-8 \xc3")
            f.flush()
            response = curl(server.http("/publish?room=ops"), "-X", "POST", "--data-binary", "@" + f.name)
        assert_json_error(response, 400)
        # None of the rejected posts may have been published: the next id in ops is still 1.
        response = post(server, "?room=ops", "valid")
        assert response.status == 202 and response.json() == {"id": 1, "room": "ops"}, response


# With "Expect: 100-continue" curl holds the body back and waits up to 1 s (--expect100-timeout) for the
# server's interim "100 Continue" or its final answer; a server that ignores Expect costs a full second.
# curl 7.88 only adds the header itself for --data bodies of 1 MiB or more, so it is sent explicitly.
EXPECT_CONTINUE = ("-H", "Expect: 100-continue")


def test_publish_too_large_is_413():
    with ChatServer("limits: { max_message_size: 1KiB }\n") as server:
        assert post(server, "?room=ops", "x" * 1024).status == 202  # exactly the limit is fine
        response = post(server, "?room=ops", "x" * 2000)
        assert_json_error(response, 413)
        response = post(server, "?room=ops", "x" * 2000, *EXPECT_CONTINUE)
        assert_json_error(response, 413)
        assert response.time_total < 0.8, f"413 took {response.time_total}s: Expect: 100-continue ignored?"


def test_publish_large_body_answers_expect_continue_quickly():
    with ChatServer() as server:
        response = post(server, "?room=ops", "y" * 4000, *EXPECT_CONTINUE)
        assert response.status == 202, response
        assert response.interim == [100], f"interim responses {response.interim}, expected [100]"
        assert response.json() == {"id": 1, "room": "ops"}, response
        assert response.time_total < 0.8, f"took {response.time_total}s: Expect: 100-continue ignored?"


def test_publish_unknown_room_is_404_when_rooms_are_fixed():
    with ChatServer("rooms: { dynamic: false, names: [general] }\n") as server:
        assert_json_error(post(server, "?room=nope", "hello"), 404)
        response = post(server, "?room=general", "hello")
        assert response.status == 202 and response.json() == {"id": 1, "room": "general"}, response


def test_get_publish_is_405_with_allow():
    with ChatServer() as server:
        response = curl(server.http("/publish?room=ops"))
        assert response.status == 405, response
        allow = [m.strip() for m in response.headers.get("allow", "").split(",")]
        assert "POST" in allow, response


def test_publish_rate_limit_is_429_with_retry_after():
    with ChatServer("publish: { rate: 1, burst: 3 }\n") as server:
        statuses = [post(server, "?room=ops", f"m{i}") for i in range(4)]
        assert [r.status for r in statuses[:3]] == [202, 202, 202], statuses
        limited = statuses[3]
        assert limited.status == 429, limited
        retry_after = limited.headers.get("retry-after", "")
        assert retry_after.isdigit() and int(retry_after) >= 1, limited


# --------------------------------------------------------------------------------------------------
# Tests: health and static files
# --------------------------------------------------------------------------------------------------


def test_healthz():
    with ChatServer() as server:
        response = curl(server.http("/healthz"))
        assert response.status == 200, response
        assert response.body == b"ok", response


def static_server():
    return ChatServer(f"static: {{ root: {json.dumps(STATIC_ROOT)} }}\n")


def test_static_files_with_content_types():
    with static_server() as server:
        for path, file_name, media_type in (("/", "index.html", "text/html"),
                                            ("/app.js", "app.js", "text/javascript"),
                                            ("/style.css", "style.css", "text/css")):
            response = curl(server.http(path))
            assert response.status == 200, (path, response)
            content_type = response.headers.get("content-type", "")
            assert content_type.split(";")[0].strip() == media_type, (path, content_type)
            with open(os.path.join(STATIC_ROOT, file_name), "rb") as f:
                assert response.body == f.read(), f"{path}: body differs from {file_name}"


def test_static_path_traversal_is_404():
    with static_server() as server:
        for path in ("/../etc/passwd", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd"):
            response = curl(server.http(path), "--path-as-is")
            assert response.status == 404, (path, response)
            assert b"root:" not in response.body, (path, response)


# --------------------------------------------------------------------------------------------------
# Tests: WebSocket handshake and close codes
# --------------------------------------------------------------------------------------------------


def test_subscribe_without_upgrade_is_426():
    with ChatServer() as server:
        response = curl(server.http("/subscribe?room=ops"))
        assert response.status == 426, response


def test_allowed_origins():
    with ChatServer('subscriber: { allowed_origins: ["https://chat.example.com"] }\n') as server:
        async def body():
            try:
                async with connect(server, "?room=ops", origin="https://evil.example.com"):
                    pass
            except websockets.exceptions.InvalidStatusCode as refused:
                assert refused.status_code == 403, refused
            else:
                raise AssertionError("a foreign Origin was accepted")
            async with connect(server, "?room=ops&name=alice", origin="https://chat.example.com") as ws:
                await ws.send("from an allowed origin")
                # Id 1 is alice's join: the refused connection never joined.
                assert_event(await recv_json(ws), id=2, room="ops", name="alice", text="from an allowed origin")
        run_async(body)


def test_oversized_ws_message_closes_1009():
    with ChatServer("limits: { max_message_size: 1KiB }\n") as server:
        async def body():
            async with connect(server, "?room=ops") as ws:
                await ws.send("z" * 2000)
                assert await close_code_after(ws) == 1009
                assert ws.close_code == 1009
            # The oversized message must not have been published. (Not judged by carol's id: the first
            # subscriber's leave may be recorded before or after carol's message.)
            async with connect(server, "?room=ops&name=carol") as ws:
                await ws.send("small")
                event = await recv_json(ws)
                assert event["text"] == "small", event
            history = (await acurl(server.http("/history?room=ops"))).json()
            messages = [e["text"] for e in history["events"] if e["type"] == "message"]
            assert messages == ["small"], messages
        run_async(body)


def test_binary_ws_message_closes_1003():
    with ChatServer() as server:
        async def body():
            async with connect(server, "?room=ops") as ws:
                await ws.send(b"\x00\x01binary")
                assert await close_code_after(ws) == 1003
                assert ws.close_code == 1003
        run_async(body)


def test_sigterm_closes_clients_1001_and_exits_0():
    with ChatServer() as server:
        async def body():
            clients = [await connect(server, f"?room=r{i % 2}&name=c{i}") for i in range(3)]
            try:
                # Make sure every client is fully open and served before the signal.
                for ws in clients:
                    await asyncio.wait_for(await ws.ping(), RECV_TIMEOUT)
                started = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                codes = await asyncio.gather(*(close_code_after(ws, 3.0) for ws in clients))
                assert codes == [1001] * len(clients), codes
                loop = asyncio.get_running_loop()
                exit_code = await loop.run_in_executor(None, lambda: server.process.wait(timeout=3.0))
                elapsed = time.monotonic() - started
                assert exit_code == 0, f"exit status {exit_code}:\n{server.log_tail()}"
                assert elapsed < 2.0, f"shutdown took {elapsed:.2f}s"
            finally:
                for ws in clients:
                    await ws.close()
        run_async(body)


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
