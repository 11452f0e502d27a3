#!/usr/bin/python3
"""Black-box tests of chatd's Server-Sent Events route, GET /events, over real loopback sockets.

The readers are not chatd's code: curl (`curl -sNv`, its body read line by line from an asyncio subprocess,
its head from the -v trace) and a raw asyncio socket; the publishers are http.client (keep-alive, in threads), curl and python3-websockets;
tokens are minted by PyJWT (python3-jwt). Each stream is parsed strictly: every line ends in LF alone, an
event is an optional `id: <epoch>:<id>` line, one `event: <type>` line and one or more `data: ` lines, then
a blank line; a comment is exactly `: keepalive`.

Usage: /usr/bin/python3 test/python/test_sse.py /path/to/chatd

Prints one line per test ("ok NAME" or "FAIL NAME: why", after a line with its run time), then
"N passed, M failed"; exits 1 if any test failed.
"""

import asyncio
import http.client
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time

import jwt  # PyJWT, Debian's python3-jwt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import websockets.exceptions  # noqa: E402

EPOCH_RE = re.compile(r"[0-9a-f]{16}")
STREAM_LIMIT = 4 * 1024 * 1024  # longest line a reader takes (a data: line of a 64 KiB message, escaped)
BLOCK_TIMEOUT = 5.0  # seconds to wait for one event of a stream
MAX_MESSAGE_SIZE = 65536  # limits.max_message_size, the default: what `recovered` announces
LAST_EVENT_ID_ERROR = "Last-Event-ID must be an event's id as sent, <epoch>:<id>"
SINCE_ERROR = "since must be an event id (a whole number)"
GOING_AWAY = {"type": "close", "code": 1001, "reason": "going away"}
REMOVED = {"type": "close", "code": 4004, "reason": "removed by an operator"}
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


# --------------------------------------------------------------------------------------------------
# The stream reader: curl or a raw socket, parsed strictly
# --------------------------------------------------------------------------------------------------


class Block:
    """One dispatched block of a stream: an event (id or None, type, its data lines) or a comment."""

    def __init__(self, lines, arrived):
        self.lines = lines
        self.arrived = arrived  # time.monotonic() when its blank line was read
        self.comment = None
        self.id = None
        self.type = None
        self.data_lines = []
        if lines[0].startswith(":"):
            assert lines == [": keepalive"], f"a comment block other than the keepalive: {lines}"
            self.comment = lines[0][2:]
            return
        rest = lines
        if rest[0].startswith("id: "):
            self.id = rest[0][len("id: "):]
            rest = rest[1:]
        assert rest and rest[0].startswith("event: "), f"no `event:` line where expected: {lines}"
        self.type = rest[0][len("event: "):]
        self.data_lines = [line[len("data: "):] for line in rest[1:]]
        assert self.data_lines and all(line.startswith("data: ") for line in rest[1:]), \
            f"an event needs data: lines and nothing else after its event: line: {lines}"

    @property
    def data(self):
        """The data as an EventSource gives it: the data lines joined by LF."""
        return "\n".join(self.data_lines)

    def json(self):
        assert len(self.data_lines) == 1, f"JSON data on more than one line: {self.lines}"
        return json.loads(self.data_lines[0])

    def numeric_id(self, epoch):
        assert self.id is not None, f"an event without an id: {self.lines}"
        prefix, _, number = self.id.partition(":")
        assert prefix == epoch and number.isdigit(), f"id {self.id!r} is not {epoch}:<id>"
        return int(number)

    def __repr__(self):
        return f"<Block {self.lines!r}>"


class Stream:
    """One GET /events reader: its status line and headers, then its blocks as they arrive."""

    def __init__(self, reader, process=None, writer=None, head_reader=None):
        self.reader = reader
        # Where the head comes from: the socket itself, or curl's -v trace on stderr ("< " lines), which
        # curl writes as it reads them (with -i it holds the head back until body bytes come).
        self.head_reader = head_reader
        self._drain = None
        self.process = process  # the curl process, if curl reads
        self.writer = writer  # the socket's writer, if a raw socket reads
        self.close_on_eof = True  # a raw reader closes its end when the server's ends, as curl does
        self.status = None
        self.headers = {}
        self.header_names = []
        self.blocks = []  # every block read so far

    async def head_line(self, timeout):
        if self.head_reader is None:
            return await asyncio.wait_for(self.reader.readline(), timeout)
        while True:
            line = await asyncio.wait_for(self.head_reader.readline(), timeout)
            assert line, "curl ended before the response head"
            if line.startswith(b"< "):
                return line[2:]

    async def read_head(self, timeout=BLOCK_TIMEOUT):
        status_line = await self.head_line(timeout)
        assert status_line.startswith(b"HTTP/1.1 "), f"not an HTTP/1.1 status line: {status_line!r}"
        self.status = int(status_line.split()[1])
        while True:
            line = await self.head_line(timeout)
            assert line.endswith(b"\r\n"), f"the head ended early: {line!r}"
            if line == b"\r\n":
                if self.head_reader is not None:
                    self._drain = asyncio.create_task(self.head_reader.read())  # the rest of the trace
                return self
            name, _, value = line.decode("latin-1").partition(":")
            self.header_names.append(name.strip().lower())
            self.headers[name.strip().lower()] = value.strip()

    async def block(self, timeout=BLOCK_TIMEOUT):
        """The next block, or None at the end of the stream (which must not come inside a block)."""
        lines = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), timeout)
            if not raw:
                assert not lines, f"the stream ended inside a block: {lines}"
                if self.writer is not None and self.close_on_eof:
                    self.writer.close()
                return None
            assert raw.endswith(b"\n"), f"the stream ended inside a block (a torn line): {lines} {raw[:200]!r}"
            assert not raw.endswith(b"\r\n") and b"\r" not in raw, \
                f"a line that does not end in LF alone, or holds a CR: {raw[:200]!r}"
            line = raw[:-1].decode("utf-8")
            if not line:
                assert lines, "a blank line that dispatches nothing"
                block = Block(lines, time.monotonic())
                self.blocks.append(block)
                return block
            lines.append(line)

    async def event(self, timeout=BLOCK_TIMEOUT):
        """The next event, keepalives skipped; None at the end of the stream."""
        while True:
            block = await self.block(timeout)
            if block is None or block.comment is None:
                return block

    async def events(self, count, timeout=BLOCK_TIMEOUT):
        out = []
        for _ in range(count):
            event = await self.event(timeout)
            assert event is not None, f"the stream ended after {len(out)} of {count} events: {out[-3:]}"
            out.append(event)
        return out

    async def rest(self, timeout=BLOCK_TIMEOUT):
        """Every event until the end of the stream."""
        out = []
        while (event := await self.event(timeout)) is not None:
            out.append(event)
        return out

    async def expect_quiet(self, seconds=0.3):
        """Nothing (no event, no comment) within `seconds`."""
        try:
            block = await self.block(seconds)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected block {block!r}")

    async def close(self):
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._drain is not None:
            await self._drain
            self._drain = None
        if self.writer is not None:
            self.writer.close()

    async def exit_code(self, timeout=5.0):
        """The curl process's exit status once it has ended by itself."""
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._drain is not None:
            await self._drain
            self._drain = None
        return code


async def curl_stream(server, query="", *args, path="/events"):
    """`curl -sNv URL`: the head is read from the -v trace, then the blocks as curl prints them."""
    process = await asyncio.create_subprocess_exec(
        "curl", "-sNv", "--max-time", "60", *args, server.http(path + query),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        limit=STREAM_LIMIT)
    stream = Stream(process.stdout, process=process, head_reader=process.stderr)
    try:
        await stream.read_head()
    except BaseException:
        await stream.close()
        raise
    return stream


async def raw_stream(server, query="", headers=(), after=b""):
    """The request written by hand on a raw socket (`after`: bytes sent right behind it, in the same
    write); the head read, then the blocks."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=STREAM_LIMIT)
    extra = "".join(f"{line}\r\n" for line in headers)
    writer.write(f"GET /events{query} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{extra}\r\n".encode() + after)
    stream = Stream(reader, writer=writer)
    try:
        await stream.read_head()
    except BaseException:
        await stream.close()
        raise
    return stream


def assert_stream_head(stream, origin=None):
    """200, text/event-stream, no-cache, X-Accel-Buffering: no, no Content-Length, no chunking."""
    assert stream.status == 200, (stream.status, stream.headers)
    assert stream.headers.get("content-type") == "text/event-stream", stream.headers
    assert stream.headers.get("cache-control") == "no-cache", stream.headers
    assert stream.headers.get("x-accel-buffering") == "no", stream.headers
    assert "content-length" not in stream.headers, stream.headers
    assert "transfer-encoding" not in stream.headers, stream.headers
    assert len(stream.header_names) == len(set(stream.header_names)), f"a header twice: {stream.header_names}"
    if origin is None:
        assert "access-control-allow-origin" not in stream.headers, stream.headers
    else:
        assert stream.headers.get("access-control-allow-origin") == origin, stream.headers
        assert stream.headers.get("vary") == "Origin", stream.headers


def assert_message_event(block, *, epoch, id, room, name, text):
    """`id: E:N`, `event: message`, one data line: the event's JSON with exactly the documented fields."""
    assert block.type == "message", block
    assert block.id == f"{epoch}:{id}", f"id line {block.id!r}, expected {epoch}:{id}: {block}"
    harness.assert_event(block.json(), id=id, room=room, name=name, text=text)


def assert_presence_event(block, *, epoch, id, room, type, name):
    assert block.type == type and block.id == f"{epoch}:{id}", (block, epoch, id, type)
    event = block.json()
    assert set(event) == {"id", "room", "type", "name", "ts"}, event
    assert (event["id"], event["room"], event["type"], event["name"]) == (id, room, type, name), event
    assert isinstance(event["ts"], int) and abs(event["ts"] - harness.now_ms()) < 5000, event


def assert_recovered(block, *, room, epoch, complete):
    """`recovered`: no id line (it must not move where a reconnect resumes), one data line of JSON."""
    assert block.type == "recovered" and block.id is None, block
    assert block.json() == {"type": "recovered", "room": room, "epoch": epoch, "complete": complete,
                            "max_message_size": MAX_MESSAGE_SIZE}, block


def assert_close(block, expected):
    assert block is not None, "the stream ended without its close event"
    assert block.type == "close" and block.id is None, block
    assert block.lines == ["event: close", "data: " + json.dumps(expected, separators=(",", ":"))], block.lines


# --------------------------------------------------------------------------------------------------
# Publishers, admin and other helpers
# --------------------------------------------------------------------------------------------------


def publish_many(server, room, texts, name="pub", before_each=None):
    """POST each text over one keep-alive connection; [(id, text)] of the 202 answers.
    before_each(i) runs before the i-th publish (the tests' gates and pacing)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    acked = []
    try:
        for i, text in enumerate(texts):
            if before_each:
                before_each(i)
            connection.request("POST", f"/publish?room={room}&name={name}", body=text.encode(),
                               headers={"Content-Type": "text/plain"})
            response = connection.getresponse()
            body = response.read()
            assert response.status == 202, (response.status, body)
            answer = json.loads(body)
            assert answer["room"] == room, answer
            acked.append((answer["id"], text))
    finally:
        connection.close()
    return acked


async def apublish(server, room, texts, name="pub"):
    return await asyncio.to_thread(publish_many, server, room, texts, name)


def get_json(url, *args, status=200):
    response = harness.curl(url, *args)
    assert response.status == status, (url, response)
    return response.json()


async def aget_json(url, *args, status=200):
    return await asyncio.to_thread(get_json, url, *args, status=status)


def room_epoch(server, room):
    page = get_json(server.http(f"/history?room={room}&limit=1"))
    assert EPOCH_RE.fullmatch(page["epoch"]), page
    return page["epoch"]


async def sessions_of(server, room):
    return (await aget_json(server.admin(f"/admin/sessions?room={room}")))["sessions"]


async def wait_sessions(server, room, predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        sessions = await sessions_of(server, room)
        if predicate(sessions):
            return sessions
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}; sessions {sessions}"
        await asyncio.sleep(0.02)


async def wait_users(server, room, names, timeout=5.0):
    """Poll /presence until its users are exactly `names` (sorted)."""
    deadline = time.monotonic() + timeout
    while True:
        users = [user["name"] for user in (await aget_json(server.http(f"/presence?room={room}")))["users"]]
        if users == names:
            return
        assert time.monotonic() < deadline, f"/presence lists {users}, expected {names}"
        await asyncio.sleep(0.02)


def scrape(server):
    response = harness.curl(server.admin("/metrics"))
    assert response.status == 200, response
    found = {}
    for line in response.body.decode().splitlines():
        if line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return found


def timed(test):
    """Prints how long the test took (the report needs it); the runner prints ok/FAIL after."""
    def run():
        started = time.monotonic()
        try:
            test()
        finally:
            print(f"  {test.__name__}: {time.monotonic() - started:.1f} s", flush=True)
    run.__name__ = test.__name__
    return run


def refused(server, query, *args, path="/events"):
    return harness.curl(server.http(path + query), *args)


# --------------------------------------------------------------------------------------------------
# Tests: the head, the event format, text, presence
# --------------------------------------------------------------------------------------------------


@timed
def test_head_event_format_and_json_as_on_websocket():
    """The 200 head; each event `id: E:N` / `event: message` / one data line holding byte for byte the JSON
    a WebSocket subscriber gets; the raw socket and curl read the same (the raw one pipelines another
    request behind its own, which is never answered: nothing but events comes); the body ends with the
    connection."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            curl = await curl_stream(server, "?room=fmt&name=reader")
            raw = await raw_stream(server, "?room=fmt&name=raw",
                                   after=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /publish?room=fmt HTTP/1.1\r\n"
                                         b"Host: x\r\nContent-Length: 6\r\n\r\nsneaky")
            for stream in (curl, raw):
                assert_stream_head(stream)
            assert curl.headers.get("connection") == "close", curl.headers
            async with harness.connect(server, "?room=fmt&name=ws") as ws:
                texts = ["plain", 'quotes "q" and \\ backslash', "tab\tand\u0001control", "unicode é ☃ 😀",
                         "</script><b>not html</b>", "x" * 3000]
                acked = await apublish(server, "fmt", texts, name="alice")
                epoch = await asyncio.to_thread(room_epoch, server, "fmt")
                frames = [await harness.recv(ws) for _ in texts]
                for stream in (curl, raw):
                    events = await stream.events(len(texts))
                    for event, (id, text), frame in zip(events, acked, frames):
                        assert_message_event(event, epoch=epoch, id=id, room="fmt", name="alice", text=text)
                        assert event.data_lines == [frame], f"SSE data {event.data!r} != WebSocket {frame!r}"
                        assert len(event.lines) == 3, event.lines
                    await stream.expect_quiet()
            # The raw reader closes its end: the server lets the stream go (it leaves the room).
            await raw.close()
            await wait_sessions(server, "fmt", lambda s: [x["name"] for x in s] == ["reader"], "raw reader gone")
            await curl.close()
        harness.run_async(body)


@timed
def test_text_format_splits_lines_and_has_no_presence():
    """format=text: the data is the text, one data: line per line (CRLF, LF and CR alike); no join or
    leave even with presence=true, which a json reader in the same room does get."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            text_reader = await curl_stream(server, "?room=txt&name=t&format=text&presence=true")
            json_reader = await curl_stream(server, "?room=txt&name=j&presence=true")
            assert_stream_head(text_reader)
            epoch = await asyncio.to_thread(room_epoch, server, "txt")
            first = await json_reader.event()  # its own join
            assert_presence_event(first, epoch=epoch, id=2, room="txt", type="join", name="j")
            sent = [("a\nb\r\nc", ["a", "b", "c"]), ("one line", ["one line"]), ("x\ry", ["x", "y"]),
                    ("end\n", ["end", ""]), ("\n\nmid", ["", "", "mid"]), ('{"looks":"json"}', ['{"looks":"json"}'])]
            acked = await apublish(server, "txt", [text for text, _ in sent[:3]], name="bob")
            async with harness.connect(server, "?room=txt&name=visitor"):  # a join...
                await wait_users(server, "txt", ["j", "t", "visitor"])
            await wait_users(server, "txt", ["j", "t"])  # ...and a leave, between the messages
            acked += await apublish(server, "txt", [text for text, _ in sent[3:]], name="bob")
            for block, (id, text), (_, lines) in zip(await text_reader.events(len(sent)), acked, sent):
                assert block.type == "message" and block.id == f"{epoch}:{id}", block
                assert block.data_lines == lines, (text, block.lines)
            await text_reader.expect_quiet()
            events = await json_reader.events(len(sent) + 2)
            types = [(block.type, block.json()["id"]) for block in events]
            ids = [id for id, _ in acked]
            assert types == [("message", ids[0]), ("message", ids[1]), ("message", ids[2]),
                             ("join", ids[2] + 1), ("leave", ids[2] + 2),
                             ("message", ids[3]), ("message", ids[4]), ("message", ids[5])], types
            assert ids[3] == ids[2] + 3, ids
            for block, (id, text) in zip([e for e in events if e.type == "message"], acked):
                assert_message_event(block, epoch=epoch, id=id, room="txt", name="bob", text=text)
            for stream in (text_reader, json_reader):
                await stream.close()
        harness.run_async(body)


@timed
def test_presence_true_gives_join_and_leave():
    """presence=true: `event: join` / `event: leave` with the JSON event; a user's second stream makes no
    join; presence=false (and absent) give none; a reader with no name is guest-XXXX."""
    with harness.ChatServer() as server:
        async def body():
            watcher = await curl_stream(server, "?room=pres&name=watcher&presence=true")
            epoch = await asyncio.to_thread(room_epoch, server, "pres")
            assert_presence_event(await watcher.event(), epoch=epoch, id=1, room="pres", type="join", name="watcher")
            plain = await curl_stream(server, "?room=pres&name=plain&presence=false")
            assert_presence_event(await watcher.event(), epoch=epoch, id=2, room="pres", type="join", name="plain")
            bob1 = await curl_stream(server, "?room=pres&name=bob")
            assert_presence_event(await watcher.event(), epoch=epoch, id=3, room="pres", type="join", name="bob")
            bob2 = await raw_stream(server, "?room=pres&name=bob")
            guest = await curl_stream(server, "?room=pres")
            join = await watcher.event()
            assert join.type == "join" and re.fullmatch(r"guest-[0-9a-f]{4}", join.json()["name"]), join
            assert_presence_event(join, epoch=epoch, id=4, room="pres", type="join", name=join.json()["name"])
            presence = await aget_json(server.http("/presence?room=pres"))
            assert presence["users"] == sorted([{"name": "bob", "sessions": 2}, {"name": "plain", "sessions": 1},
                                                {"name": "watcher", "sessions": 1},
                                                {"name": join.json()["name"], "sessions": 1}],
                                               key=lambda user: user["name"]), presence
            await bob1.close()  # not bob's last session: no event
            await guest.close()
            leave = await watcher.event()
            assert_presence_event(leave, epoch=epoch, id=5, room="pres", type="leave", name=join.json()["name"])
            await bob2.close()
            assert_presence_event(await watcher.event(), epoch=epoch, id=6, room="pres", type="leave", name="bob")
            acked = await apublish(server, "pres", ["after"])
            assert acked == [(7, "after")], acked
            assert_message_event(await watcher.event(), epoch=epoch, id=7, room="pres", name="pub", text="after")
            assert_message_event(await plain.event(), epoch=epoch, id=7, room="pres", name="pub", text="after")
            await plain.expect_quiet()
            await watcher.expect_quiet()
            for stream in (watcher, plain):
                await stream.close()
        harness.run_async(body)


@timed
def test_keepalive_comment_every_ping_interval():
    """subscriber.ping_interval 1s: `: keepalive` and a blank line about every second, on an idle stream."""
    with harness.ChatServer("subscriber: { ping_interval: 1s }\n") as server:
        async def body():
            opened = time.monotonic()
            stream = await curl_stream(server, "?room=idle&name=quiet")
            blocks = []
            while time.monotonic() - opened < 3.6:
                blocks.append(await stream.block(timeout=2.0))
            assert all(block is not None and block.comment == "keepalive" for block in blocks), blocks
            assert len(blocks) >= 3, f"{len(blocks)} keepalives in 3.6 s"
            times = [opened] + [block.arrived for block in blocks]
            gaps = [b - a for a, b in zip(times, times[1:])]
            # The worker's tick (250 ms here) decides when one is due: 1 s to 1.25 s apart, with slack.
            assert all(0.8 <= gap <= 1.6 for gap in gaps), f"keepalive gaps {gaps}"
            await stream.close()
        harness.run_async(body)


# --------------------------------------------------------------------------------------------------
# Tests: resume
# --------------------------------------------------------------------------------------------------


@timed
def test_resume_with_last_event_id_and_since():
    """Last-Event-ID: E:N (and ?since=N&epoch=E) replays exactly the events after N, `recovered` first;
    Last-Event-ID wins over ?since=; a wrong epoch or an id past the end says complete false."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            room = "resume"
            acked = await apublish(server, room, [f"m{i}" for i in range(1, 7)], name="alice")
            assert [id for id, _ in acked] == [1, 2, 3, 4, 5, 6], acked  # no sessions: no joins
            epoch = await asyncio.to_thread(room_epoch, server, room)
            other = "0123456789abcdef" if epoch != "0123456789abcdef" else "fedcba9876543210"

            async def resumed(query, headers, complete, ids, recovered_epoch=epoch):
                args = [arg for header in headers for arg in ("-H", header)]
                stream = await curl_stream(server, f"?room={room}&name=back{query}", *args)
                assert_stream_head(stream)
                assert_recovered(await stream.event(), room=room, epoch=recovered_epoch, complete=complete)
                for id, event in zip(ids, await stream.events(len(ids))):
                    assert_message_event(event, epoch=epoch, id=id, room=room, name="alice", text=f"m{id}")
                await stream.expect_quiet(0.2)
                return stream

            cases = [
                ("", [f"Last-Event-ID: {epoch}:3"], True, [4, 5, 6]),
                (f"&since=3&epoch={epoch}", [], True, [4, 5, 6]),
                ("&since=5", [], True, [6]),  # no epoch: not checked
                ("", ["Last-Event-ID: :5"], True, [6]),  # an empty epoch, as sse_event_id writes for none
                ("&since=0", [], True, [1, 2, 3, 4, 5, 6]),
                ("", [f"Last-Event-ID: {epoch}:6"], True, []),
                # Last-Event-ID wins over the URL's since and epoch (a reconnecting EventSource sends both).
                (f"&since=1&epoch={epoch}", [f"Last-Event-ID: {epoch}:4"], True, [5, 6]),
                (f"&since=1&epoch={other}", [f"Last-Event-ID: {epoch}:4"], True, [5, 6]),
                # A wrong epoch: complete false, then what the room has after the id.
                ("", [f"Last-Event-ID: {other}:2"], False, [3, 4, 5, 6]),
                (f"&since=2&epoch={other}", [], False, [3, 4, 5, 6]),
                # Past the room's last id.
                ("", [f"Last-Event-ID: {epoch}:100"], False, []),
                ("&since=18446744073709551615", [], False, []),
            ]
            for query, headers, complete, ids in cases:
                stream = await resumed(query, headers, complete, ids)
                await stream.close()

            # Live after the replay, with no gap and no duplicate: a reader resumes, then more comes.
            # (The readers above are sessions named back: their joins and leaves took ids after 6.)
            stream = await resumed("", [f"Last-Event-ID: {epoch}:4"], True, [5, 6])
            more = await apublish(server, room, ["m7", "m8"], name="alice")
            assert more[0][0] > 6 and more[1][0] == more[0][0] + 1, more
            for (id, text), event in zip(more, await stream.events(2)):
                assert_message_event(event, epoch=epoch, id=id, room=room, name="alice", text=text)
            await stream.expect_quiet()
            await stream.close()

            # format=text resumes too: `recovered` (JSON, a named event its onmessage never sees), then texts.
            text = await curl_stream(server, f"?room={room}&format=text", "-H", f"Last-Event-ID: {epoch}:6")
            assert_recovered(await text.event(), room=room, epoch=epoch, complete=True)
            events = await text.events(2)
            assert [(e.type, e.id, e.data) for e in events] == [
                ("message", f"{epoch}:{id}", text) for id, text in more], events
            await text.expect_quiet()
            await text.close()
        harness.run_async(body)


@timed
def test_resume_replays_presence_only_when_asked():
    """A resume with presence=true replays the joins and leaves it missed; without, only messages."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            room = "rp"
            acked = await apublish(server, room, ["before"])  # id 1
            async with harness.connect(server, f"?room={room}&name=visitor"):  # join 2
                await wait_users(server, room, ["visitor"])
            await wait_users(server, room, [])  # leave 3
            acked += await apublish(server, room, ["after"])
            assert [id for id, _ in acked] == [1, 4], acked
            epoch = await asyncio.to_thread(room_epoch, server, room)
            with_presence = await curl_stream(server, f"?room={room}&name=w&presence=true", "-H",
                                              f"Last-Event-ID: {epoch}:1")
            assert_recovered(await with_presence.event(), room=room, epoch=epoch, complete=True)
            got = [(e.type, e.numeric_id(epoch)) for e in await with_presence.events(4)]
            assert got == [("join", 2), ("leave", 3), ("message", 4), ("join", 5)], got  # 5: its own join
            without = await curl_stream(server, f"?room={room}&name=v", "-H", f"Last-Event-ID: {epoch}:1")
            assert_recovered(await without.event(), room=room, epoch=epoch, complete=True)
            got = [(e.type, e.numeric_id(epoch)) for e in await without.events(1)]
            assert got == [("message", 4)], got
            await without.expect_quiet()
            for stream in (with_presence, without):
                await stream.close()
        harness.run_async(body)


# --------------------------------------------------------------------------------------------------
# Tests: the key test, every event once and in order under concurrent publishers, across a reconnect
# --------------------------------------------------------------------------------------------------


@timed
def test_every_event_once_in_order_under_concurrent_publishers():
    """5 HTTP publishers post 100 messages each at once; a curl reader, a raw-socket reader and a
    format=text reader each get exactly the 500 acknowledged messages, once, in id order, with the bytes
    a WebSocket subscriber gets."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            room = "busy"
            curl = await curl_stream(server, f"?room={room}&name=curl")
            raw = await raw_stream(server, f"?room={room}&name=raw")
            text = await curl_stream(server, f"?room={room}&name=text&format=text")
            async with harness.connect(server, f"?room={room}&name=ws", max_queue=None) as ws:
                publishers, per = 5, 100
                total = publishers * per

                async def read_all(stream):
                    return await stream.events(total, timeout=10)

                async def read_ws():
                    return [await harness.recv(ws, 10) for _ in range(total)]

                readers = [asyncio.create_task(read_all(s)) for s in (curl, raw, text)] + [
                    asyncio.create_task(read_ws())]
                posts = [asyncio.to_thread(publish_many, server, room,
                                           [f"p{k} #{i} é \"{k}\"" for i in range(per)], f"pub{k}")
                         for k in range(publishers)]
                acked_lists = await asyncio.gather(*posts)
                by_curl, by_raw, by_text, by_ws = await asyncio.gather(*readers)
            acked = sorted(pair for acks in acked_lists for pair in acks)
            assert len(acked) == total and len({id for id, _ in acked}) == total, "duplicate ids in the acks"
            # The publishers really interleaved (else this test proves little).
            senders = [text.split()[0] for _, text in acked]
            switches = sum(1 for a, b in zip(senders, senders[1:]) if a != b)
            assert switches > publishers, f"publishers hardly interleaved: {switches} switches"
            epoch = await asyncio.to_thread(room_epoch, server, room)
            frames = {json.loads(frame)["id"]: frame for frame in by_ws}
            assert sorted(frames) == [id for id, _ in acked], "the WebSocket subscriber's ids"
            for name, events in (("curl", by_curl), ("raw", by_raw)):
                got = [(e.numeric_id(epoch), json.loads(e.data)["text"]) for e in events]
                assert got == acked, f"{name}: the events differ from the acknowledged messages, in order"
                for event, (id, _) in zip(events, acked):
                    assert event.type == "message" and event.data_lines == [frames[id]], (name, event)
            got = [(e.numeric_id(epoch), e.data) for e in by_text]
            assert got == acked, "text: the events differ from the acknowledged messages, in order"
            for stream in (curl, raw, text):
                await stream.expect_quiet(0.2)
                await stream.close()
        harness.run_async(body)


@timed
def test_reconnect_with_last_event_id_mid_publishing_misses_nothing():
    """A presence=true curl reader is killed (SIGKILL) while 5 publishers keep posting; a new one resumes
    with Last-Event-ID from the last complete event the first printed, while they still post. The union of
    the two is every id of the room once, in order: all 600 messages, both joins and the first's leave;
    the second begins with recovered complete:true."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            room = "resume-live"
            publishers, per = 5, 120
            total = publishers * per
            killed, b_open = threading.Event(), threading.Event()
            progress = {"started": 0}
            lock = threading.Lock()

            def gate(i):
                # A third of each publisher's messages may go before the kill; the rest goes slower (3 ms
                # apart), so that they are still posting while the new reader opens; the last sixth waits
                # for that reader's 200, so that some certainly come after it. The gates only hold a
                # publisher that gets ahead.
                if i == per // 3:
                    assert killed.wait(15), "the first reader was never killed"
                if i == 5 * per // 6:
                    assert b_open.wait(15), "the second reader never opened"
                with lock:
                    progress["started"] += 1
                time.sleep(0.0005 if i < per // 3 else 0.003)

            first = await curl_stream(server, f"?room={room}&name=reader-a&presence=true")
            epoch = await asyncio.to_thread(room_epoch, server, room)
            posts = asyncio.gather(*[
                asyncio.to_thread(publish_many, server, room, [f"p{k}-{i}" for i in range(per)], f"pub{k}", gate)
                for k in range(publishers)])
            seen_a = []
            while sum(1 for e in seen_a if e.type == "message") < total // 6:
                event = await first.event(10)
                assert event is not None, "the first reader's stream ended"
                seen_a.append(event)
            killed.set()  # the publishers go on...
            await first.close()  # ...while the first reader is killed
            at_kill = progress["started"]
            # What curl had printed before it died: its complete events count, a torn one does not.
            try:
                while (event := await first.event(2)) is not None:
                    seen_a.append(event)
            except AssertionError as torn:
                assert "inside a block" in str(torn), torn
            last_id = seen_a[-1].id
            assert last_id is not None and last_id.startswith(epoch + ":"), seen_a[-1]
            second = await curl_stream(server, f"?room={room}&name=reader-b&presence=true",
                                       "-H", f"Last-Event-ID: {last_id}")
            b_open.set()
            at_b_open = progress["started"]
            assert_recovered(await second.event(), room=room, epoch=epoch, complete=True)
            seen_b = []
            messages_a = sum(1 for e in seen_a if e.type == "message")
            while messages_a + sum(1 for e in seen_b if e.type == "message") < total:
                event = await second.event(10)
                assert event is not None, "the second reader's stream ended"
                seen_b.append(event)
            acked = sorted(pair for acks in await posts for pair in acks)
            # reader-a's leave may come after the last message: wait for it to be gone, then a last message
            # closes the union.
            deadline = time.monotonic() + 5
            while [u["name"] for u in (await aget_json(server.http(f"/presence?room={room}")))["users"]] != ["reader-b"]:
                assert time.monotonic() < deadline, "reader-a never left"
                await asyncio.sleep(0.02)
            acked += await apublish(server, room, ["the last"], name="closer")
            while not seen_b or seen_b[-1].type != "message" or json.loads(seen_b[-1].data)["text"] != "the last":
                event = await second.event(10)
                assert event is not None, "the second reader's stream ended"
                seen_b.append(event)
            await second.expect_quiet(0.2)
            await second.close()

            union = seen_a + seen_b
            ids = [event.numeric_id(epoch) for event in union]
            assert ids == list(range(1, len(ids) + 1)), \
                f"ids not each once in order: first break after {next((a for a, b in zip(ids, ids[1:]) if b != a + 1), None)}"
            messages = [(e.numeric_id(epoch), json.loads(e.data)["text"]) for e in union if e.type == "message"]
            assert messages == acked, "the messages differ from the acknowledged ones"
            presence = [(e.type, json.loads(e.data)["name"]) for e in union if e.type != "message"]
            assert sorted(presence) == [("join", "reader-a"), ("join", "reader-b"), ("leave", "reader-a")], presence
            assert presence[0] == ("join", "reader-a"), presence
            assert 0 < at_kill < total and 0 < at_b_open < total, \
                f"not mid-publishing: {at_kill} and {at_b_open} of {total} begun at the kill and the reopen"
            print(f"  killed after {len(seen_a)} events ({at_kill} of {total} published), resumed from {last_id} "
                  f"({at_b_open} published)", flush=True)
        harness.run_async(body)


# --------------------------------------------------------------------------------------------------
# Tests: slow readers, operators, shutdown
# --------------------------------------------------------------------------------------------------


@timed
def test_slow_reader_is_disconnected_and_others_get_everything():
    """A raw socket that sends its request and never reads (4 KiB receive buffer) while 32 KiB messages
    are published is disconnected (queue_bytes 256KiB, write_timeout 1s); a curl reader in the same room,
    which keeps up (the publisher waits for it after every two messages), gets every message; the server
    stays healthy."""
    config = (harness.FAST_PUBLISH + "subscriber: { queue_bytes: 256KiB, write_timeout: 1s }\n"
              "history: { store: memory, max_events: 50 }\n")
    with harness.ChatServer(config) as server:
        async def body():
            room = "slow"
            before = await asyncio.to_thread(scrape, server)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(f"GET /events?room={room}&name=slow HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)  # nothing after the head is taken off the socket
            assert head.startswith(b"HTTP/1.1 200 "), head
            healthy = await curl_stream(server, f"?room={room}&name=healthy")
            names = sorted(s["name"] for s in await sessions_of(server, room))
            assert names == ["healthy", "slow"], names

            reading = asyncio.create_task(healthy.events(5000, timeout=15))  # more than will come

            async def caught_up(count):
                deadline = time.monotonic() + 15
                while len(healthy.blocks) < count:
                    assert not reading.done(), f"the healthy reader's stream ended: {healthy.blocks[-1:]}"
                    assert time.monotonic() < deadline, f"the healthy reader has {len(healthy.blocks)} of {count}"
                    await asyncio.sleep(0.002)

            acked = []
            started = time.monotonic()
            gone_after = None
            while len(acked) < 2000:  # 64 MiB
                batch = [f"{len(acked) + i:05d} " + "y" * (32 * 1024) for i in range(2)]
                acked += await apublish(server, room, batch)
                await caught_up(len(acked))
                if len(acked) % 20 == 0:
                    names = [s["name"] for s in await sessions_of(server, room)]
                    assert "healthy" in names, names
                    if "slow" not in names:
                        gone_after = time.monotonic() - started
                        break
            assert gone_after is not None, f"the slow reader was never disconnected ({len(acked)} messages of 32 KiB)"
            acked += await apublish(server, room, ["done"])
            # The healthy reader has every message, in order, and is still in the room.
            await caught_up(len(acked))
            assert [s["name"] for s in await sessions_of(server, room)] == ["healthy"]
            epoch = await asyncio.to_thread(room_epoch, server, room)
            got = [(b.numeric_id(epoch), json.loads(b.data)["text"]) for b in healthy.blocks if b.comment is None]
            assert got == acked, "the healthy reader's messages differ from the acknowledged ones"
            reading.cancel()
            # The slow socket was closed by the server: what is in flight drains, then the end (or a reset).
            sock.settimeout(0.5)
            drained, deadline = 0, time.monotonic() + 10
            ended = False
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(1 << 20)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    ended = True
                    break
                if not chunk:
                    ended = True
                    break
                drained += len(chunk)
            sock.close()
            assert ended, f"the slow socket was not closed by the server ({drained} bytes drained)"
            health = await asyncio.to_thread(harness.curl, server.http("/healthz"))
            assert (health.status, health.body) == (200, b"ok"), health
            after = await asyncio.to_thread(scrape, server)
            assert after["chatd_slow_client_closes_total"] - before["chatd_slow_client_closes_total"] == 1, after
            assert after['chatd_connections_open{transport="sse"}'] == 1, after
            await healthy.close()
            print(f"  the slow reader was gone after {len(acked) - 1} messages, {gone_after:.1f} s", flush=True)
        harness.run_async(body)


@timed
def test_reader_that_falls_behind_gets_a_prefix_then_close_1008():
    """A reader that stops reading while 32 KiB messages come is closed as too slow (queue_bytes 256KiB):
    when it reads again it finds the messages that were already on their way, consecutive from the first,
    then `event: close` 1008 "too slow", then EOF: what was still queued is dropped, never torn."""
    config = (harness.FAST_PUBLISH + "subscriber: { queue_bytes: 256KiB, write_timeout: 10s }\n"
              "history: { store: memory, max_events: 50 }\n")
    with harness.ChatServer(config) as server:
        async def body():
            room = "behind"
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(f"GET /events?room={room}&name=late HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            assert head.startswith(b"HTTP/1.1 200 "), head
            acked = []
            while len(acked) < 2000:
                acked += await apublish(server, room, [f"{len(acked) + i:05d} " + "z" * (32 * 1024) for i in range(4)])
                if not await sessions_of(server, room):
                    break
            assert not await sessions_of(server, room), f"not closed as too slow after {len(acked)} messages"

            def drain():
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # reading again, and fast
                data = b""
                while chunk := sock.recv(1 << 20):
                    data += chunk
                return data
            data = await asyncio.to_thread(drain)
            sock.close()
            reader = asyncio.StreamReader(limit=STREAM_LIMIT)
            reader.feed_data(data)
            reader.feed_eof()
            blocks = await Stream(reader).rest()
            assert blocks, "nothing after the head"
            assert_close(blocks[-1], {"type": "close", "code": 1008, "reason": "too slow"})
            epoch = await asyncio.to_thread(room_epoch, server, room)
            got = [(b.numeric_id(epoch), b.json()["text"]) for b in blocks[:-1]]
            assert got == acked[:len(got)], "what the late reader got is not the first messages, in order"
            assert 0 < len(got) < len(acked), (len(got), len(acked))
            print(f"  {len(got)} of {len(acked)} messages, then the close event", flush=True)
        harness.run_async(body)


@timed
def test_admin_lists_and_disconnects_streams():
    """GET /admin/sessions lists a stream with transport "sse"; POST /admin/disconnect?session= (and ?name=)
    ends it after what was queued, with `event: close` 4004 and then EOF; the others stay."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            room = "adm"
            alice = await curl_stream(server, f"?room={room}&name=alice")
            bob = await curl_stream(server, f"?room={room}&name=bob&format=text")
            async with harness.connect(server, f"?room={room}&name=carol"):
                sessions = {s["name"]: s for s in await sessions_of(server, room)}
                assert sorted(sessions) == ["alice", "bob", "carol"], sessions
                for name in ("alice", "bob"):
                    session = sessions[name]
                    assert set(session) == {"session", "name", "peer", "transport", "connected_at", "queued_bytes"}, session
                    assert session["transport"] == "sse", session
                    assert re.fullmatch(r"[0-9a-f]{16}", session["session"]), session
                    assert re.fullmatch(r"127\.0\.0\.1:\d+", session["peer"]), session
                    assert abs(session["connected_at"] - harness.now_ms()) < 10000, session
                    assert session["queued_bytes"] == 0, session
                assert sessions["carol"]["transport"] == "websocket", sessions
                rooms = (await aget_json(server.admin("/admin/rooms")))["rooms"]
                assert [r["subscribers"] for r in rooms if r["room"] == room] == [3], rooms

                acked = await apublish(server, room, ["q1", "q2", "q3"])
                answer = await aget_json(server.admin(f"/admin/disconnect?session={sessions['alice']['session']}"),
                                         "-X", "POST")
                assert answer == {"disconnected": 1}, answer
                epoch = await asyncio.to_thread(room_epoch, server, room)
                got = await alice.events(4)
                for event, (id, text) in zip(got, acked):
                    assert_message_event(event, epoch=epoch, id=id, room=room, name="pub", text=text)
                assert_close(got[3], REMOVED)
                assert await alice.event() is None, "more after the close event"
                assert await alice.exit_code() == 0, "curl did not see a clean end of the body"

                more = await apublish(server, room, ["q4"])
                got = await bob.events(4)
                assert [(e.id, e.data) for e in got] == [(f"{epoch}:{id}", t) for id, t in acked + more], got
                answer = await aget_json(server.admin(f"/admin/disconnect?name=bob&room={room}"), "-X", "POST")
                assert answer == {"disconnected": 1}, answer
                assert_close(await bob.event(), REMOVED)
                assert await bob.event() is None, "more after the close event"
                assert await bob.exit_code() == 0
                left = await wait_sessions(server, room, lambda s: len(s) == 1, "the two streams gone")
                assert [s["name"] for s in left] == ["carol"], left

                # A reader that keeps its end open after the close event and EOF: the server closes the
                # connection (and lets the session go) about 1 s later.
                dave = await raw_stream(server, f"?room={room}&name=dave")
                dave.close_on_eof = False
                await wait_sessions(server, room, lambda s: len(s) == 2, "dave in the room")
                answer = await aget_json(server.admin("/admin/disconnect?name=dave"), "-X", "POST")
                assert answer == {"disconnected": 1}, answer
                assert_close(await dave.event(), REMOVED)
                assert await dave.event() is None, "more after the close event"
                closed_at = time.monotonic()
                await wait_sessions(server, room, lambda s: [x["name"] for x in s] == ["carol"], "dave gone")
                held = time.monotonic() - closed_at
                assert 0.6 <= held <= 2.5, f"the server let a reader that kept its end open go after {held:.2f} s"
                await dave.close()
        harness.run_async(body)


@timed
def test_sigterm_closes_streams_with_1001():
    """SIGTERM: every open stream gets what was queued, then `event: close` with 1001 "going away", then
    EOF; chatd exits 0 within 2 s."""
    with harness.ChatServer(harness.FAST_PUBLISH) as server:
        async def body():
            streams = [await curl_stream(server, "?room=bye&name=a"),
                       await curl_stream(server, "?room=bye&name=b&format=text&presence=true"),
                       await raw_stream(server, "?room=other&name=c")]
            acked = await apublish(server, "bye", ["last words"])
            epoch = await asyncio.to_thread(room_epoch, server, "bye")
            started = time.monotonic()
            stopping = asyncio.create_task(asyncio.to_thread(server.stop, 5))
            ends = await asyncio.gather(*[stream.rest(timeout=4) for stream in streams])
            code = await stopping
            assert code == 0, f"chatd exited {code}:\n{server.log_tail()}"
            assert time.monotonic() - started < 2.0, f"{time.monotonic() - started:.1f} s to stop"
            for index, events in enumerate(ends):
                assert events, f"stream {index} ended with no close event"
                assert_close(events[-1], GOING_AWAY)
            assert [(e.id, e.type) for e in ends[0][:-1]] == [(f"{epoch}:{acked[0][0]}", "message")], ends[0]
            assert [(e.id, e.data) for e in ends[1][:-1]] == [(f"{epoch}:{acked[0][0]}", "last words")], ends[1]
            assert ends[2][:-1] == [], ends[2]
            for stream in streams[:2]:
                assert await stream.exit_code() == 0, "curl did not see a clean end of the body"
            await streams[2].close()
        harness.run_async(body)


# --------------------------------------------------------------------------------------------------
# Tests: refusals, access control, metrics
# --------------------------------------------------------------------------------------------------


@timed
def test_refusals_methods_and_bad_queries():
    """405 with Allow: GET for other methods; 400 JSON errors for a bad format, presence, since, epoch
    without since, room, name, percent-encoding and Last-Event-ID; none of them opens a stream."""
    with harness.ChatServer() as server:
        before = scrape(server)
        for method in ("POST", "PUT", "DELETE"):
            response = refused(server, "?room=r", "-X", method, *(("--data", "x") if method != "DELETE" else ()))
            harness.assert_json_error(response, 405)
            assert response.headers.get("allow") == "GET", response
        response = refused(server, "?room=r", "-I")  # HEAD
        assert response.status == 405 and response.headers.get("allow") == "GET", response
        bad = [
            ("?room=r&format=xml", (), "format must be json or text"),
            ("?room=r&format=sse_json", (), "format must be json or text"),
            ("?room=r&format=", (), "format must be json or text"),
            ("?room=r&presence=yes", (), "presence must be true or false"),
            ("?room=r&since=abc", (), SINCE_ERROR),
            ("?room=r&since=-1", (), SINCE_ERROR),
            ("?room=r&since=", (), SINCE_ERROR),
            ("?room=r&since=1.5", (), SINCE_ERROR),
            ("?room=r&since=18446744073709551616", (), SINCE_ERROR),
            ("?room=r&epoch=0123456789abcdef", (), "epoch is given only with since"),
            ("?room=bad%20name", (), None),
            ("?room=r&name=", (), None),
            ("?room=r&name=%ZZ", (), None),
        ]
        for header in ("abc", "0123456789abcdef", "0123456789abcdef:", "0123456789abcdef:x",
                       "0123456789abcdef:-1", "0123456789abcdef:1.5", "0123456789abcdef: 3",
                       "0123456789abcdef:18446744073709551616",
                       "e:" + "1" * 21, "0123456789abcdef:+3"):
            bad.append(("?room=r", ("-H", f"Last-Event-ID: {header}"), LAST_EVENT_ID_ERROR))
        # Two Last-Event-ID headers: the server reads them as one value joined by ", ", which is no id.
        bad.append(("?room=r", ("-H", "Last-Event-ID: a", "-H", "Last-Event-ID: 0123456789abcdef:1"),
                    LAST_EVENT_ID_ERROR))
        for query, args, error in bad:
            response = refused(server, query, *args)
            harness.assert_json_error(response, 400)
            if error is not None:
                assert response.json() == {"error": error}, (query, args, response)
        # Not one of them got as far as the room: it was never made live.
        assert harness.curl(server.admin("/admin/sessions?room=r")).status == 404
        after = scrape(server)
        assert after['chatd_connections_open{transport="sse"}'] == 0, after
        assert after['chatd_connections_accepted_total{transport="sse"}'] == \
            before['chatd_connections_accepted_total{transport="sse"}'], after
        assert after['chatd_handshake_rejections_total{status="400"}'] - \
            before['chatd_handshake_rejections_total{status="400"}'] == len(bad), (len(bad), after)


@timed
def test_unknown_room_origins_and_rate_limit_as_subscribe():
    """rooms.dynamic false: an unknown room is 404 on /events as on /subscribe; allowed_origins: a listed
    Origin gets Access-Control-Allow-Origin, another 403 (as /subscribe); the handshake bucket covers both."""
    config = ("rooms: { dynamic: false, names: [general, ops] }\n"
              "subscriber: { allowed_origins: [\"https://chat.example\"] }\n")
    with harness.ChatServer(config) as server:
        async def body():
            response = await asyncio.to_thread(refused, server, "?room=nowhere")
            harness.assert_json_error(response, 404)
            try:
                async with harness.connect(server, "?room=nowhere"):
                    raise AssertionError("/subscribe?room=nowhere was accepted")
            except websockets.exceptions.InvalidStatusCode as refusal:
                assert refusal.status_code == response.status, (refusal.status_code, response.status)
            response = await asyncio.to_thread(refused, server, "?room=ops", "-H", "Origin: https://evil.example")
            harness.assert_json_error(response, 403)
            try:
                async with harness.connect(server, "?room=ops", origin="https://evil.example"):
                    raise AssertionError("/subscribe from another Origin was accepted")
            except websockets.exceptions.InvalidStatusCode as refusal:
                assert refusal.status_code == 403, refusal
            listed = await curl_stream(server, "?room=ops", "-H", "Origin: https://chat.example")
            assert_stream_head(listed, origin="https://chat.example")
            plain = await curl_stream(server, "")  # no Origin (curl), default room general
            assert_stream_head(plain)
            names = [s["transport"] for s in await sessions_of(server, "general")]
            assert names == ["sse"], names
            for stream in (listed, plain):
                await stream.close()
        harness.run_async(body)

    with harness.ChatServer("limits: { handshake_rate: 0.001, handshake_burst: 2 }\n") as server:
        async def limited():
            first = await curl_stream(server, "?room=r")
            second = await asyncio.to_thread(refused, server, "?room=r&format=xml")  # a token spent, then 400
            harness.assert_json_error(second, 400)
            third = await asyncio.to_thread(refused, server, "?room=r")
            harness.assert_json_error(third, 429)
            assert int(third.headers.get("retry-after", "0")) >= 1, third
            await first.close()
        harness.run_async(limited)


SECRET = "an HS256 secret of more than 32 bytes, for the SSE tests"


def jwt_token(sub="alice", ttl=600, **more):
    now = int(time.time())
    return jwt.encode({"sub": sub, "exp": now + ttl, "iat": now, **more}, SECRET, algorithm="HS256")


@timed
def test_jwt_access_control():
    """auth.mode jwt: no token 401 (WWW-Authenticate: Bearer), a bad or expired one 401, a room the token
    does not list 403; a good one by Authorization or ?token= opens the stream under its sub; a token that
    expires while the stream is open ends it with `event: close` 4001."""
    with tempfile.TemporaryDirectory(prefix="chatd-sse-jwt-") as folder:
        secret_file = os.path.join(folder, "hs.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        config = (f"auth:\n  mode: jwt\n  jwt:\n    secret_file: {json.dumps(secret_file)}\n    leeway: 0s\n"
                  "history: { store: memory }\n")
        with harness.ChatServer(config) as server:
            async def body():
                none = await asyncio.to_thread(refused, server, "?room=team-red")
                harness.assert_json_error(none, 401)
                assert none.headers.get("www-authenticate") == 'Bearer realm="chatd"', none
                forged = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, "another secret of 32 bytes or more!!",
                                    algorithm="HS256")
                for token, reason in ((forged, "bad signature"), (jwt_token(ttl=-5), "token expired")):
                    response = await asyncio.to_thread(refused, server, "?room=team-red", "-H",
                                                       f"Authorization: Bearer {token}")
                    assert (response.status, response.json()) == (401, {"error": reason}), response
                limited = jwt_token(rooms=["team-*"])
                response = await asyncio.to_thread(refused, server, "?room=ops", "-H", f"Authorization: Bearer {limited}")
                assert (response.status, response.json()) == (403, {"error": 'this token may not use room "ops"'}), response
                stream = await curl_stream(server, "?room=team-red&name=mallory&presence=true", "-H",
                                           f"Authorization: Bearer {limited}")
                assert_stream_head(stream)
                join = (await stream.event()).json()
                assert (join["type"], join["name"]) == ("join", "alice"), join  # the sub, not ?name=
                by_query = await curl_stream(server, f"?room=team-red&token={jwt_token(sub='bob')}")
                assert_stream_head(by_query)
                assert (await stream.event()).json()["name"] == "bob"
                await stream.close()
                await by_query.close()
                # Expiring while open: exp + leeway (0 s) passes, the stream ends with 4001.
                short = await curl_stream(server, "?room=team-red", "-H", f"Authorization: Bearer {jwt_token(ttl=2)}")
                assert_stream_head(short)
                ended = await short.rest(timeout=5)
                assert_close(ended[-1] if ended else None, {"type": "close", "code": 4001, "reason": "token expired"})
                assert ended[:-1] == [], ended
                assert await short.exit_code() == 0
            harness.run_async(body)


@timed
def test_password_login_and_logout_close_the_stream():
    """auth.mode password: no credentials 401; a session token opens the stream under the login's name;
    POST /logout ends it with `event: close` 4003 "logged out"."""
    from auth_support import password_hash  # noqa: E402 (needs harness.CHATD, set by main)
    config = (f"auth:\n  mode: password\n  password_hash: \"{password_hash('hunter2 hunter2')}\"\n"
              "history: { store: memory }\n")
    with harness.ChatServer(config) as server:
        async def body():
            harness.assert_json_error(await asyncio.to_thread(refused, server, "?room=r"), 401)
            login = await asyncio.to_thread(
                harness.curl, server.http("/login"), "-X", "POST", "-H", "Content-Type: application/json",
                "--data-binary", json.dumps({"name": "dora", "password": "hunter2 hunter2"}))
            assert login.status == 200, login
            token = login.json()["token"]
            stream = await curl_stream(server, "?room=r&name=other&presence=true", "-H", f"Authorization: Bearer {token}")
            assert_stream_head(stream)
            assert (await stream.event()).json()["name"] == "dora"
            out = await asyncio.to_thread(harness.curl, server.http("/logout"), "-X", "POST", "-H",
                                          f"Authorization: Bearer {token}")
            assert out.status == 204, out
            assert_close(await stream.event(), {"type": "close", "code": 4003, "reason": "logged out"})
            assert await stream.event() is None
            assert await stream.exit_code() == 0
            harness.assert_json_error(await asyncio.to_thread(refused, server, "?room=r", "-H",
                                                              f"Authorization: Bearer {token}"), 401)
        harness.run_async(body)


@timed
def test_metrics_count_streams_exactly():
    """chatd_connections_open{transport="sse"} is the number of open streams (not counted as http or
    websocket); chatd_connections_accepted_total{transport="sse"} moves by exactly the streams opened."""
    with harness.ChatServer() as server:
        async def body():
            before = await asyncio.to_thread(scrape, server)
            assert before['chatd_connections_open{transport="sse"}'] == 0, before
            streams = [await curl_stream(server, "?room=m1"), await curl_stream(server, "?room=m2&format=text"),
                       await raw_stream(server, "?room=m1")]
            async with harness.connect(server, "?room=m1"):
                during = await asyncio.to_thread(scrape, server)
                assert during['chatd_connections_open{transport="sse"}'] == 3, during
                assert during['chatd_connections_open{transport="websocket"}'] == 1, during
                assert during['chatd_connections_open{transport="http"}'] == 0, during
            refused_now = await asyncio.to_thread(refused, server, "?room=m1&since=x")
            assert refused_now.status == 400
            await streams[0].close()
            await streams[2].close()
            deadline = time.monotonic() + 5
            while (now := await asyncio.to_thread(scrape, server))['chatd_connections_open{transport="sse"}'] != 1:
                assert time.monotonic() < deadline, now
                await asyncio.sleep(0.02)
            await streams[1].close()
            deadline = time.monotonic() + 5
            while (after := await asyncio.to_thread(scrape, server))['chatd_connections_open{transport="sse"}'] != 0:
                assert time.monotonic() < deadline, after
                await asyncio.sleep(0.02)
            delta = {key: after[key] - before.get(key, 0) for key in after
                     if key.startswith("chatd_connections_accepted_total")}
            assert delta == {'chatd_connections_accepted_total{transport="http"}': 5,  # 3 streams, 1 ws, the 400
                             'chatd_connections_accepted_total{transport="websocket"}': 1,
                             'chatd_connections_accepted_total{transport="sse"}': 3}, delta
            assert after['chatd_connections_open{transport="http"}'] == 0, after
        harness.run_async(body)


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
