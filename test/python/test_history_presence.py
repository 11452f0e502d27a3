#!/usr/bin/python3
"""Black-box tests of chatd's presence, history and recovery features, driven only by independent clients.

Uses the server fixture and client helpers of harness.py.
Restart durability of the SQLite store is tested elsewhere.

Usage: /usr/bin/python3 test/python/test_history_presence.py /path/to/chatd

Prints one line per test ("ok NAME" or "FAIL NAME: why"), then "N passed, M failed"; exits 1 if any
test failed. CHATD_TEST_SEED=N replays the randomised test with a given seed.
"""

import asyncio
import http.client
import json
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import websockets.exceptions  # noqa: E402

PRESENCE_FIELDS = {"id", "room", "type", "name", "ts"}
MESSAGE_FIELDS = PRESENCE_FIELDS | {"text"}
EPOCH_RE = re.compile(r"[0-9a-f]{16}")


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def publish_many(server, room, texts, name="pub"):
    """POST each text over one keep-alive HTTP connection; return the ids of the 202 answers."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    ids = []
    try:
        for text in texts:
            connection.request("POST", f"/publish?room={room}&name={name}", body=text.encode(),
                               headers={"Content-Type": "text/plain"})
            response = connection.getresponse()
            body = response.read()
            assert response.status == 202, (response.status, body)
            answer = json.loads(body)
            assert answer["room"] == room, answer
            ids.append(answer["id"])
    finally:
        connection.close()
    return ids


async def apublish_many(server, room, texts, name="pub"):
    return await asyncio.get_running_loop().run_in_executor(None, lambda: publish_many(server, room, texts, name))


def get_json(server, path, status=200):
    response = harness.curl(server.http(path))
    assert response.status == status, (path, response)
    return response.json()


async def aget_json(server, path, status=200):
    return await asyncio.get_running_loop().run_in_executor(None, lambda: get_json(server, path, status))


def history_page(server, room, query=""):
    """One /history answer, checked for shape: ascending consecutive ids, the room's events."""
    page = get_json(server, f"/history?room={room}{query}")
    assert set(page) == {"room", "epoch", "events", "next_before"}, page
    assert page["room"] == room, page
    assert EPOCH_RE.fullmatch(page["epoch"]), page
    ids = [event["id"] for event in page["events"]]
    assert ids == list(range(ids[0], ids[0] + len(ids)) if ids else []), f"ids not consecutive: {ids}"
    for event in page["events"]:
        assert event["room"] == room and event["type"] in ("message", "join", "leave"), event
        assert set(event) == (MESSAGE_FIELDS if event["type"] == "message" else PRESENCE_FIELDS), event
    return page


def full_history(server, room):
    """Every retained event of the room, oldest first, walked back with limit=1000 and next_before."""
    pages = [history_page(server, room, "&limit=1000")]
    while pages[-1]["next_before"] is not None:
        pages.append(history_page(server, room, f"&limit=1000&before={pages[-1]['next_before']}"))
    events = [event for page in reversed(pages) for event in page["events"]]
    ids = [event["id"] for event in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)) if ids else []), "history has a gap or a duplicate"
    return events


async def afull_history(server, room):
    return await asyncio.get_running_loop().run_in_executor(None, lambda: full_history(server, room))


def users_of(answer):
    return [(user["name"], user["sessions"]) for user in answer["users"]]


async def wait_presence(server, room, users, timeout=3.0):
    """Poll /presence until it lists exactly `users` [(name, sessions)], in this order."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await aget_json(server, f"/presence?room={room}")
        assert set(answer) == {"room", "users"} and answer["room"] == room, answer
        if users_of(answer) == users:
            return
        assert time.monotonic() < deadline, f"/presence is {users_of(answer)}, expected {users}"
        await asyncio.sleep(0.02)


async def expect_nothing(ws, seconds=0.3):
    try:
        extra = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected extra frame {extra!r}")


def assert_presence_event(event, *, id, room, type, name):
    """A join or leave event: exactly id, room, type, name, ts (no text)."""
    assert set(event) == PRESENCE_FIELDS, f"fields: {sorted(event)} in {event}"
    assert (event["id"], event["room"], event["type"], event["name"]) == (id, room, type, name), \
        f"{event} != {(id, room, type, name)}"
    assert isinstance(event["ts"], int) and abs(event["ts"] - harness.now_ms()) < 5000, event


def assert_recovered(frame, *, room, epoch, complete):
    assert frame == {"type": "recovered", "room": room, "epoch": epoch, "complete": complete,
                     "max_message_size": 65536}, frame


async def assert_refused(server, query, status=400):
    try:
        async with harness.connect(server, query):
            pass
    except websockets.exceptions.InvalidStatusCode as refused:
        assert refused.status_code == status, (query, refused)
    else:
        raise AssertionError(f"subscribe{query} was accepted")


# --------------------------------------------------------------------------------------------------
# Tests: presence
# --------------------------------------------------------------------------------------------------


def test_presence_counts_users_and_sessions():
    """join on a user's first session, leave on their last, nothing in between; /presence follows."""
    with harness.ChatServer() as server:
        async def body():
            plain = await harness.connect(server, "?room=lobby&name=plain")  # join id 1, not delivered to it
            watcher = await harness.connect(server, "?room=lobby&name=watcher&presence=true")
            assert_presence_event(await harness.recv_json(watcher), id=2, room="lobby", type="join", name="watcher")
            alice1 = await harness.connect(server, "?room=lobby&name=alice")
            assert_presence_event(await harness.recv_json(watcher), id=3, room="lobby", type="join", name="alice")
            alice2 = await harness.connect(server, "?room=lobby&name=alice")
            bob = await harness.connect(server, "?room=lobby&name=bob&presence=false")
            # If alice's second session had made an event, it would come here and take id 4.
            assert_presence_event(await harness.recv_json(watcher), id=4, room="lobby", type="join", name="bob")
            answer = await aget_json(server, "/presence?room=lobby")
            assert answer == {"room": "lobby", "users": [
                {"name": "alice", "sessions": 2}, {"name": "bob", "sessions": 1},
                {"name": "plain", "sessions": 1}, {"name": "watcher", "sessions": 1}]}, answer

            await alice1.close()  # not her last session: no event
            await wait_presence(server, "lobby", [("alice", 1), ("bob", 1), ("plain", 1), ("watcher", 1)])
            await bob.close()
            assert_presence_event(await harness.recv_json(watcher), id=5, room="lobby", type="leave", name="bob")
            await alice2.close()
            assert_presence_event(await harness.recv_json(watcher), id=6, room="lobby", type="leave", name="alice")
            await wait_presence(server, "lobby", [("plain", 1), ("watcher", 1)])

            # The subscriber without presence saw none of it, but the ids moved on.
            response = await harness.apost(server, "?room=lobby&name=carol", "after the crowd")
            assert response.status == 202 and response.json() == {"id": 7, "room": "lobby"}, response
            harness.assert_event(await harness.recv_json(plain), id=7, room="lobby", name="carol", text="after the crowd")
            harness.assert_event(await harness.recv_json(watcher), id=7, room="lobby", name="carol", text="after the crowd")
            await expect_nothing(plain)
            await plain.close()
            await watcher.close()
        harness.run_async(body)


def test_presence_route_errors_and_default_room():
    """/presence: default room general, 400/404 for a bad/unknown room, 405 for POST, presence=yes is 400."""
    with harness.ChatServer() as server:
        assert get_json(server, "/presence") == {"room": "general", "users": []}
        for route in ("/presence", "/history"):
            response = harness.curl(server.http(route))
            assert response.headers.get("cache-control") == "no-store", (route, response)
            harness.assert_json_error(harness.curl(server.http(route + "?room=bad%20name")), 400)
        error = get_json(server, "/presence?room=nowhere", 404)
        assert set(error) == {"error"} and error["error"], error
        response = harness.curl(server.http("/presence?room=general"), "-X", "POST", "--data", "x")
        assert response.status == 405, response
        assert "GET" in response.headers.get("allow", ""), response

        async def body():
            await assert_refused(server, "?room=lobby&presence=yes")
            await assert_refused(server, "?room=lobby&presence=")
            async with harness.connect(server, "?room=lobby&name=dave"):
                await wait_presence(server, "lobby", [("dave", 1)])
        harness.run_async(body)


def test_join_and_leave_are_history_events():
    """join/leave take the room's next id and are stored in order with messages."""
    with harness.ChatServer() as server:
        async def body():
            alice = await harness.connect(server, "?room=seq&name=alice")
            await alice.send("hi")
            harness.assert_event(await harness.recv_json(alice), id=2, room="seq", name="alice", text="hi")
            bob = await harness.connect(server, "?room=seq&name=bob")
            response = await harness.apost(server, "?room=seq&name=carol", "yo")
            assert response.json() == {"id": 4, "room": "seq"}, response
            await bob.close()
            await wait_presence(server, "seq", [("alice", 1)])
            await alice.close()
            await wait_presence(server, "seq", [])
        harness.run_async(body)
        page = history_page(server, "seq")
        assert page["next_before"] is None, page
        got = [(e["id"], e["type"], e["name"], e.get("text")) for e in page["events"]]
        assert got == [(1, "join", "alice", None), (2, "message", "alice", "hi"), (3, "join", "bob", None),
                       (4, "message", "carol", "yo"), (5, "leave", "bob", None), (6, "leave", "alice", None)], got


# --------------------------------------------------------------------------------------------------
# Tests: history
# --------------------------------------------------------------------------------------------------


def test_history_paging_and_limit_clamp():
    """1100 messages: walking back with next_before visits each once; limit>1000 gives 1000; defaults."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        texts = [f"m{i}" for i in range(1, 1101)]
        assert publish_many(server, "p", texts) == list(range(1, 1101))

        for limit, expected_pages in ((400, [(701, 1100), (301, 700), (1, 300)]), (100, None)):
            pages = [history_page(server, "p", f"&limit={limit}")]
            while pages[-1]["next_before"] is not None:
                assert len(pages) < 20, "next_before never became null"
                pages.append(history_page(server, "p", f"&limit={limit}&before={pages[-1]['next_before']}"))
            spans = [(page["events"][0]["id"], page["events"][-1]["id"]) for page in pages]
            if expected_pages:
                assert spans == expected_pages, spans
            for page in pages[:-1]:
                assert len(page["events"]) == limit and page["next_before"] == page["events"][0]["id"], spans
            walked = [e["text"] for page in reversed(pages) for e in page["events"]]
            assert walked == texts, f"limit={limit}: walked {len(walked)} events, not each message once in order"
            assert len({page["epoch"] for page in pages}) == 1, "the epoch changed between pages"

        clamped = history_page(server, "p", "&limit=5000")
        assert [e["id"] for e in clamped["events"]] == list(range(101, 1101)), len(clamped["events"])
        assert clamped["next_before"] == 101, clamped["next_before"]
        default = history_page(server, "p")
        assert [e["id"] for e in default["events"]] == list(range(1001, 1101)) and default["next_before"] == 1001
        # before beyond the newest id means the newest; before=1 means nothing older.
        assert [e["id"] for e in history_page(server, "p", "&limit=3&before=99999")["events"]] == [1098, 1099, 1100]
        empty = history_page(server, "p", "&before=1")
        assert empty["events"] == [] and empty["next_before"] is None, empty
        one = history_page(server, "p", "&limit=1&before=2")
        assert [e["text"] for e in one["events"]] == ["m1"] and one["next_before"] is None, one


def test_history_bad_parameters():
    """/history: 400 for a bad limit or before, 404 for an unknown room, 405 for POST."""
    with harness.ChatServer() as server:
        assert harness.post(server, "?room=h", "one").status == 202
        for query in ("limit=0", "limit=abc", "limit=-1", "limit=", "limit=1.5", "before=0", "before=abc",
                      "before=-3", "before="):
            response = harness.curl(server.http(f"/history?room=h&{query}"))
            harness.assert_json_error(response, 400)
        harness.assert_json_error(harness.curl(server.http("/history?room=never-used")), 404)
        response = harness.curl(server.http("/history?room=h"), "-X", "POST", "--data", "x")
        assert response.status == 405, response
        # The default room is general, which exists from the start with an empty history.
        page = history_page(server, "general")
        assert page["events"] == [] and page["next_before"] is None, page


def test_retention_max_events():
    """max_events 50: only the newest 50 are kept, and paging stops at the oldest kept."""
    with harness.ChatServer(harness.FAST_PUBLISH + "history: { max_events: 50 }\n") as server:
        assert publish_many(server, "r", [f"r{i}" for i in range(1, 121)])[-1] == 120
        page = history_page(server, "r", "&limit=1000")
        assert [e["id"] for e in page["events"]] == list(range(71, 121)), [e["id"] for e in page["events"]][:3]
        assert page["next_before"] is None, page["next_before"]
        spans = []
        before = ""
        while True:
            page = history_page(server, "r", f"&limit=20{before}")
            spans.append((page["events"][0]["id"], page["events"][-1]["id"], page["next_before"]))
            if page["next_before"] is None:
                break
            before = f"&before={page['next_before']}"
        assert spans == [(101, 120, 101), (81, 100, 81), (71, 80, None)], spans


def test_retention_max_age():
    """max_age 1s: events older than that leave history."""
    with harness.ChatServer(harness.FAST_PUBLISH + "history: { max_age: 1s, store: memory }\n") as server:
        publish_many(server, "old", ["a", "b", "c"])
        time.sleep(1.3)
        publish_many(server, "old", ["d", "e"])
        page = history_page(server, "old")
        assert [(e["id"], e["text"]) for e in page["events"]] == [(4, "d"), (5, "e")], page
        assert page["next_before"] is None, page


# --------------------------------------------------------------------------------------------------
# Tests: recovery
# --------------------------------------------------------------------------------------------------


def test_recovery_replays_what_was_missed():
    """since+epoch: recovered complete:true, the missed messages (no join/leave), then live ones."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            ws = await harness.connect(server, "?room=rec&name=ann")  # join: id 1
            await apublish_many(server, "rec", ["m2", "m3", "m4", "m5", "m6"])
            seen = [await harness.recv_json(ws) for _ in range(3)]
            assert [(e["id"], e["text"]) for e in seen] == [(2, "m2"), (3, "m3"), (4, "m4")], seen
            await ws.close()
            await wait_presence(server, "rec", [])  # ann's leave is id 7
            await apublish_many(server, "rec", ["m8", "m9", "m10"])
            epoch = (await aget_json(server, "/history?room=rec&limit=1"))["epoch"]
            history = {e["id"]: e for e in await afull_history(server, "rec")}

            async with harness.connect(server, f"?room=rec&name=ann&since=4&epoch={epoch}") as ws:
                assert_recovered(await harness.recv_json(ws), room="rec", epoch=epoch, complete=True)
                replayed = [await harness.recv_json(ws) for _ in range(5)]
                assert replayed == [history[i] for i in (5, 6, 8, 9, 10)], replayed  # identical to the live events
                response = await harness.apost(server, "?room=rec&name=bo", "live")
                assert response.json() == {"id": 12, "room": "rec"}, response  # 11 is ann's join
                harness.assert_event(await harness.recv_json(ws), id=12, room="rec", name="bo", text="live")
                await expect_nothing(ws)
            await wait_presence(server, "rec", [])  # leave: 13

            # With presence=true the replay includes join/leave; the epoch is optional; own join comes live.
            async with harness.connect(server, "?room=rec&name=ann&since=4&presence=true") as ws:
                assert_recovered(await harness.recv_json(ws), room="rec", epoch=epoch, complete=True)
                replayed = [await harness.recv_json(ws) for _ in range(9)]
                got = [(e["id"], e["type"], e["name"]) for e in replayed]
                assert got == [(5, "message", "pub"), (6, "message", "pub"), (7, "leave", "ann"),
                               (8, "message", "pub"), (9, "message", "pub"), (10, "message", "pub"),
                               (11, "join", "ann"), (12, "message", "bo"), (13, "leave", "ann")], got
                assert_presence_event(await harness.recv_json(ws), id=14, room="rec", type="join", name="ann")
                await expect_nothing(ws)
            await wait_presence(server, "rec", [])  # leave: 15

            # since=0 in a room nothing was trimmed from: everything, complete.
            async with harness.connect(server, "?room=rec&since=0&presence=true") as ws:
                assert_recovered(await harness.recv_json(ws), room="rec", epoch=epoch, complete=True)
                ids = [(await harness.recv_json(ws))["id"] for _ in range(16)]
                assert ids == list(range(1, 17)), ids  # 16: this guest's own join, live
        harness.run_async(body)


def test_recovery_incomplete_cases():
    """complete:false for a wrong epoch, for since beyond the last id, and when events after since were
    trimmed (then the retained ones are replayed); since+1 == oldest kept is still complete."""
    with harness.ChatServer(harness.FAST_PUBLISH + "history: { max_events: 5 }\n") as server:
        async def body():
            rooms = ("t1", "t2", "t3", "t4")
            for room in rooms:  # ids 1..10 in each; 6..10 retained
                await apublish_many(server, room, [f"{room}-{i}" for i in range(1, 11)])
            epochs = {room: (await aget_json(server, f"/history?room={room}"))["epoch"] for room in rooms}
            cases = (("t1", f"since=5&epoch={epochs['t1']}", True, [6, 7, 8, 9, 10]),
                     ("t2", f"since=2&epoch={epochs['t2']}", False, [6, 7, 8, 9, 10]),
                     ("t3", f"since=100&epoch={epochs['t3']}", False, []),
                     ("t4", "since=7&epoch=0123456789abcdef", False, [8, 9, 10]))  # replayed anyway
            for room, query, complete, replay in cases:
                async with harness.connect(server, f"?room={room}&{query}") as ws:
                    assert_recovered(await harness.recv_json(ws), room=room, epoch=epochs[room], complete=complete)
                    got = [(await harness.recv_json(ws))["id"] for _ in replay]
                    assert got == replay, (room, got)
                    # Then live events follow (id 11 is this subscriber's join).
                    response = await harness.apost(server, f"?room={room}", "live")
                    assert response.json() == {"id": 12, "room": room}, response
                    live = await harness.recv_json(ws)
                    assert live["id"] == 12 and live["text"] == "live", (room, live)
                    await expect_nothing(ws)
        harness.run_async(body)


def test_subscribe_recovery_bad_parameters():
    """epoch without since, non-numeric or negative since: 400."""
    with harness.ChatServer() as server:
        async def body():
            for query in ("?room=x&epoch=0123456789abcdef", "?room=x&since=abc", "?room=x&since=-1",
                          "?room=x&since=", "?room=x&since=1e3"):
                await assert_refused(server, query)
        harness.run_async(body)


def test_recovery_format_text_gets_raw_texts():
    """format=text with since: only the replayed message texts (no recovered frame, no join/leave), then live."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            await apublish_many(server, "txt", ["a", 'b {"x": 1}'])  # 1, 2
            async with harness.connect(server, "?room=txt&name=x"):  # join 3
                pass
            await wait_presence(server, "txt", [])  # leave 4
            await apublish_many(server, "txt", ["c ✓"])  # 5
            epoch = (await aget_json(server, "/history?room=txt"))["epoch"]
            missed = ['b {"x": 1}', "c ✓"]
            for query in (f"since=1&epoch={epoch}", "since=1&presence=true"):
                async with harness.connect(server, f"?room=txt&format=text&{query}") as ws:
                    assert [await harness.recv(ws) for _ in missed] == missed
                    live = f"live {len(missed)}"
                    assert (await harness.apost(server, "?room=txt", live)).status == 202
                    assert await harness.recv(ws) == live
                    await expect_nothing(ws)
                missed.append(live)  # the next subscriber recovers it too
        harness.run_async(body)


# --------------------------------------------------------------------------------------------------
# Test: many clients resuming under concurrent publishing
# --------------------------------------------------------------------------------------------------

BIG_ROOM = "big"
BIG_MESSAGES = 1500  # half over HTTP, half over one WebSocket
BIG_END = "the end"  # one more message, published after them: a client stops when it sees it
BIG_CLIENTS = 50
BIG_PRESENCE_CLIENTS = 5  # of BIG_CLIENTS
BIG_TIMEOUT = 60.0
BIG_RECV_TIMEOUT = 15.0  # one frame, on a busy 2-core machine


def connect_unbounded(server, query):
    """max_queue=None: with websockets' default bound a client holding unread frames stops reading its
    socket, never sees the server's close frame behind them, and each clean close costs close_timeout."""
    return harness.connect(server, query, max_queue=None)


async def resuming_client(server, name, presence, rng, epoch, ws, stats):
    """Read events, drop the connection at random points (after 1 to 4 random numbers of messages), and
    resume with since/epoch until the last message. Returns the concatenated stream of events."""
    stream = []
    messages_seen = 0
    points = sorted(rng.randint(1, BIG_MESSAGES - 1) for _ in range(rng.randint(1, 4)))
    extra = "&presence=true" if presence else ""
    while True:
        stop_at = points.pop(0) if points else None
        while stop_at is None or messages_seen < stop_at:
            event = await harness.recv_json(ws, BIG_RECV_TIMEOUT)
            assert event.get("type") != "recovered", f"{name}: a second recovered frame {event}"
            stream.append(event)
            if event["type"] == "message":
                messages_seen += 1
                if event["text"] == BIG_END:
                    await ws.close()
                    return stream
        if rng.random() < 0.5:
            await ws.close()  # a clean close handshake
        else:
            ws.transport.abort()  # the connection just drops (TCP reset)
            await asyncio.wait_for(ws.wait_closed(), BIG_RECV_TIMEOUT)
        await asyncio.sleep(rng.random() * 0.05)  # away for a moment while publishing goes on
        stats["reconnects"] += 1
        stats["during_publishing"] += not stats["published"]
        ws = await connect_unbounded(server, f"?room={BIG_ROOM}&name={name}{extra}"
                                             f"&since={stream[-1]['id']}&epoch={epoch}")
        assert_recovered(await harness.recv_json(ws, BIG_RECV_TIMEOUT), room=BIG_ROOM, epoch=epoch, complete=True)


def first_difference(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"at {i}: got {a}, want {b}"
    return f"lengths {len(got)} vs {len(want)}"


def test_many_clients_resume_without_gap_or_duplicate():
    """50 clients drop and resume at random points while 1500 messages are published: each one's
    concatenated stream equals the room's history (messages only, or all events with presence=true)."""
    seed = int(os.environ.get("CHATD_TEST_SEED") or random.randrange(1 << 32))
    print(f"# test_many_clients_resume_without_gap_or_duplicate: seed {seed}", flush=True)
    rng = random.Random(seed)
    config = harness.FAST_PUBLISH + "history: { max_events: 100000 }\nsubscriber: { queue: 100000 }\n"
    with harness.ChatServer(config) as server:
        stats = {"reconnects": 0, "during_publishing": 0, "published": False}

        async def body():
            names = [f"c{i:02d}" for i in range(BIG_CLIENTS)]
            presence = set(rng.sample(names, BIG_PRESENCE_CLIENTS))
            first = {}
            for name in names:  # all in the room before the first message
                first[name] = await connect_unbounded(
                    server, f"?room={BIG_ROOM}&name={name}{'&presence=true' if name in presence else ''}")
            epoch = (await aget_json(server, f"/history?room={BIG_ROOM}&limit=1"))["epoch"]
            publisher = await harness.connect(server, f"?room={BIG_ROOM}&name=pub-ws&format=text")

            async def drain_publisher():
                for _ in range(BIG_MESSAGES):
                    await harness.recv(publisher, BIG_RECV_TIMEOUT)

            ws_texts = [f"w{i}" for i in range(BIG_MESSAGES // 2)]
            http_texts = [f"h{i}" for i in range(BIG_MESSAGES - len(ws_texts))]

            chunks = random.Random(rng.random())

            async def publish_over_ws():
                sent = 0
                while sent < len(ws_texts):  # in bursts of 1 to 20, meanwhile HTTP posts go on
                    n = chunks.randint(1, 20)
                    for text in ws_texts[sent:sent + n]:
                        await publisher.send(text)
                    sent += n
                    await asyncio.sleep(0.002)

            async def publish_all():
                results = await asyncio.gather(apublish_many(server, BIG_ROOM, http_texts), publish_over_ws(),
                                               drain_publisher())
                stats["published"] = True
                assert (await harness.apost(server, f"?room={BIG_ROOM}&name=pub-end", BIG_END)).status == 202
                return results[0]

            client_rngs = [random.Random(rng.random()) for _ in names]
            publishing = asyncio.ensure_future(publish_all())
            streams = await asyncio.gather(*(resuming_client(server, name, name in presence, client_rng, epoch,
                                                             first[name], stats)
                                             for name, client_rng in zip(names, client_rngs)),
                                           return_exceptions=True)
            for name, result in zip(names, streams):  # one clear failure rather than 50 tracebacks
                if isinstance(result, BaseException):
                    publishing.cancel()
                    raise AssertionError(f"client {name} (seed {seed}): {type(result).__name__}: {result}")
            http_ids = await publishing
            await publisher.close()
            return dict(zip(names, streams)), presence, http_ids

        async def bounded():
            return await asyncio.wait_for(body(), BIG_TIMEOUT)

        started = time.monotonic()
        streams, presence, http_ids = asyncio.run(bounded())
        history = full_history(server, BIG_ROOM)
        assert history[0]["id"] == 1, history[0]
        messages = [e for e in history if e["type"] == "message"]
        assert len(messages) == BIG_MESSAGES + 1 and messages[-1]["text"] == BIG_END, len(messages)
        by_id = {e["id"]: e for e in history}
        # The publishers' own view: HTTP ids name their texts, WS texts keep their order.
        assert [by_id[i]["text"] for i in http_ids] == [f"h{i}" for i in range(len(http_ids))], "HTTP ids"
        assert [e["text"] for e in messages if e["name"] == "pub-ws"] == [f"w{i}" for i in range(BIG_MESSAGES // 2)]
        for name, stream in streams.items():
            if name in presence:
                assert stream[0]["type"] == "join" and stream[0]["name"] == name, f"{name}: first {stream[0]}"
                want = [by_id[i] for i in range(stream[0]["id"], stream[-1]["id"] + 1)]
            else:
                want = messages
            assert stream == want, f"{name} (seed {seed}): stream differs {first_difference(stream, want)}"
        own_leaves = sum(e["type"] == "leave" and e["name"] == name for name in presence for e in streams[name])
        print(f"# {stats['reconnects']} resumes, {stats['during_publishing']} while publishing, "
              f"{own_leaves} own leave events recovered; {len(history)} events; {time.monotonic() - started:.1f}s",
              flush=True)
        assert stats["during_publishing"] > 0, "no client resumed while publishing went on: the test tests nothing"


# --------------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------------




if __name__ == "__main__":
    sys.exit(harness.main(globals()))
