"""Soak benchmark for chatd (issue 10): bounded hostile and ordinary load on loopback for a given time.

    /usr/bin/python3 test/soak/soak.py /path/to/chatd [seconds]

One chatd with a temp config (test/python/harness.py), and at the same time, for the whole run:

- long-lived JSON subscribers in a few rooms, which must receive every message published to their room
  exactly once and in order (ids strictly increasing, each publisher's sequence in order, every
  acknowledged text present, the id of every HTTP 202 the id they saw);
- publishers over HTTP (raw keep-alive sockets) and over WebSocket (python3-websockets), below
  publish.rate/burst, so a 429 is a failure here, not load shedding;
- churning subscribers that connect, read a little and leave, cleanly (close 1000) or abruptly (no close
  frame, sometimes a TCP RST);
- slow clients with a tiny receive buffer that subscribe to the busy "bulk" room and never read: the server
  must close them (1008) or drop them, or they must at least stay harmless to everyone else;
- clients sending bad frames, each of which must get its close code (RFC 6455 5.1, 5.2, 8.1);
- ping bursts, answered in order by pongs with their payloads, the last ping of each burst always (RFC 6455
  5.5.2; 5.5.3 lets a server answer only the latest of pings whose pongs it has not sent yet).

Every second it samples chatd's VmRSS (/proc/PID/status) and open fds (/proc/PID/fd) and prints a row. At
the end it asserts: RSS after the warm-up (the first 25% of the run) stays within 10% of its median (plus
what the slow clients may hold by the config, and without drift; see SLOW_ALLOWANCE_KIB), fds come back to
the baseline taken before any client connected, every check above held, /healthz answers 200, and chatd
exits 0 on SIGTERM (under ASan that includes LeakSanitizer's verdict). Exit status 0 when everything held, 1 otherwise.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import harness  # noqa: E402  (the suites' server fixture: temp config, free port, SIGTERM and exit check)

import websockets  # noqa: E402
import websockets.exceptions  # noqa: E402

# ---- bounds: a minute of this on 2 shared cores under ASan must be comfortable --------------------------

ROOMS = ["soak-a", "soak-b", "soak-c"]  # ordinary rooms, small messages
BULK_ROOM = "soak-bulk"  # large messages, so a client that does not read falls behind within seconds
SUBSCRIBERS_PER_ROOM = 3  # long-lived subscribers in each ordinary room
BULK_SUBSCRIBERS = 2  # long-lived subscribers in the bulk room (they read as fast as they can)
HTTP_RATE = 15.0  # messages/s per ordinary room over HTTP (one keep-alive socket per room)
BULK_RATE = 16.0  # messages/s into the bulk room over HTTP
BULK_SIZE = 48 * 1024  # bytes per bulk message: 768 KiB/s into each bulk reader
WS_PUBLISHERS_PER_ROOM = 1
WS_RATE = 8.0  # messages/s per WebSocket publisher
CHURNERS = 6  # concurrent churning subscribers
SLOW_CLIENTS = 2  # concurrent slow clients
SLOW_HOLD = 10.0  # seconds a slow client sits without reading before it looks at what the server did
SLOW_RCVBUF = 4096  # SO_RCVBUF of a slow client, set before connect so the window stays small
BAD_FRAME_INTERVAL = 0.25  # seconds between bad-frame clients
PING_BURST = 20  # pings per burst (125-byte payload limit: RFC 6455 5.5)
PING_INTERVAL = 0.5  # seconds between bursts

# publish.rate/burst: the HTTP publishers all come from 127.0.0.1 and so share one bucket (docs/api.md),
# 3 * 15 + 16 = 61/s; each WebSocket publisher has its own. 100/s with a burst of 50 leaves room for jitter
# while still being a limit a runaway publisher would hit.
PUBLISH_RATE = 100
PUBLISH_BURST = 50
WRITE_TIMEOUT = "2s"  # subscriber.write_timeout: how long a write to a stalled slow client may hang

WARMUP_FRACTION = 0.25  # the first quarter: the histories fill to max_events, allocator pools settle
RSS_TOLERANCE = 0.10
SUBSCRIBER_QUEUE = 16  # subscriber.queue, left at its default (so the slow clients meet the real policy)
# What the slow clients may hold at once by the config: each a full queue of bulk frames plus the one being
# written. A slow client is held until the server gives up on it, then freed, so RSS rises and falls by up to
# this much with the slow clients' cycle: that is bounded memory, not growth. On a release build it is 1.6 MiB
# against a median near 10 MiB, more than 10% of it; so every sample must be within 10% of the median plus this,
# and, for growth, the median of the last third of the samples within 10% of the first third's.
SLOW_ALLOWANCE_KIB = SLOW_CLIENTS * (SUBSCRIBER_QUEUE + 1) * (BULK_SIZE + 128) / 1024
RSS_NOTE = (
    f"RSS bound: after the warm-up every sample within 10% of the median + {SLOW_ALLOWANCE_KIB / 1024:.1f} MiB (what "
    f"the slow clients' queues may hold by the config), and no drift: the last third's median within 10% of the "
    f"first third's. Under ASan run with ASAN_OPTIONS quarantine_size_mb=16 (./dev soak-asan): the default 256 MiB "
    f"quarantine takes about 50 s of this load to fill, so RSS would climb through a one-minute run for a reason "
    f"that is not a leak.")

CONFIG = f"""
publish: {{ rate: {PUBLISH_RATE}, burst: {PUBLISH_BURST} }}
subscriber: {{ queue: {SUBSCRIBER_QUEUE}, write_timeout: {WRITE_TIMEOUT} }}
history: {{ store: memory, max_events: 100 }}
static: {{ root: "" }}
"""


class Failure(Exception):
    pass


class Stats:
    def __init__(self):
        self.sent = {}  # room -> {text: None or id (HTTP 202)}; every text we tried to publish
        self.acked = {}  # room -> {text: id or None}; acknowledged (HTTP 202, or a WS publisher saw it back)
        self.http_202 = 0
        self.http_429 = 0
        self.http_other = {}  # status -> count
        self.ws_published = 0
        self.deliveries = 0  # events received by long-lived subscribers
        self.churn_connects = 0
        self.churn_clean = 0
        self.churn_abrupt = 0
        self.slow_outcomes = {}  # "1008" / "dropped" / "open" / other code -> count
        self.bad_frames = {}  # kind -> count of right answers
        self.pings = 0
        self.pongs = 0
        self.errors = []  # what went wrong, in words

    def fail(self, what):
        if len(self.errors) < 50:
            self.errors.append(what)


STATS = Stats()
STOP = None  # an asyncio.Event made inside the running loop by soak(): set when the load must end


# ---- raw WebSocket client: a frame writer that can break rules, and a reader of server frames ----------


def client_frame(opcode, payload, *, masked=True, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def read_frame(reader):
    """One server frame (servers never mask, RFC 6455 5.1): (opcode, payload); IncompleteReadError at EOF."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    if b1 & 0x80:
        raise Failure("server sent a masked frame")
    return b0 & 0x0F, await reader.readexactly(n)


async def raw_subscribe(port, room):
    """Opens a TCP connection, does the WebSocket handshake; returns (reader, writer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /subscribe?room={room}&name=raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" ":
        writer.close()
        raise Failure(f"handshake to {room} answered {status!r}")
    return reader, writer


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


async def wait_close(reader, timeout):
    """Reads frames until the server's close frame; returns its code, "eof" if TCP closed first."""
    async def loop():
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x8:
                return close_code(payload)
    try:
        return await asyncio.wait_for(loop(), timeout)
    except (asyncio.IncompleteReadError, ConnectionError):
        return "eof"


def kill(writer, rst=False):
    """Ends a raw client without a close frame: a FIN, or with rst a RST."""
    if rst:  # SO_LINGER 0: close sends a RST instead of a FIN
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort() if rst else writer.close()


# ---- the load ---------------------------------------------------------------------------------------------


class LongLived:
    """A subscriber that reads everything, from before the first publish until after the last one."""

    def __init__(self, server, room, index):
        self.server, self.room, self.index = server, room, index
        self.events = []  # (id, text)
        self.ws = None
        self.closing = False

    async def open(self):
        self.ws = await harness.connect(self.server, f"?room={self.room}&name=ll{self.index}", ping_interval=None)

    async def run(self):
        try:
            async for frame in self.ws:
                event = json.loads(frame)
                if event.get("type") == "message":
                    self.events.append((event["id"], event["text"]))
                    STATS.deliveries += 1
        except websockets.exceptions.ConnectionClosed:
            pass  # judged below: a long-lived subscriber's connection may only end when we close it
        if not self.closing:
            code = self.ws.close_code
            STATS.fail(f"long-lived subscriber {self.room}/{self.index} was closed by the server ({code} "
                       f"{self.ws.close_reason!r})")

    async def close(self):
        self.closing = True
        await self.ws.close()


class HttpPublisher:
    """POSTs to /publish over one raw keep-alive socket, one request at a time, at a fixed rate."""

    def __init__(self, server, room, rate, size, tag):
        self.server, self.room, self.rate, self.size, self.tag = server, room, rate, size, tag
        self.reader = self.writer = None

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.server.port, limit=1 << 20)

    async def publish(self, text):
        body = text.encode()
        request = (f"POST /publish?room={self.room}&name={self.tag} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        self.writer.write(request)
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        payload = await asyncio.wait_for(self.reader.readexactly(int(headers.get("content-length", "0"))), 10)
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, payload

    async def run(self):
        sent = STATS.sent.setdefault(self.room, {})
        acked = STATS.acked.setdefault(self.room, {})
        seq = 0
        next_at = time.monotonic()
        while not STOP.is_set():
            seq += 1
            pad = "x" * max(0, self.size - 40)
            text = f"{self.tag}:{seq}:{pad}"
            sent[text] = None
            try:
                if self.writer is None:
                    await self.connect()
                status, payload = await self.publish(text)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError) as error:
                # Not acknowledged: it may or may not have been published, so it is in `sent`, not `acked`.
                STATS.fail(f"HTTP publisher {self.tag}: {type(error).__name__} {error}")
                self.writer = None
            else:
                if status == 202:
                    STATS.http_202 += 1
                    answer = json.loads(payload)
                    if answer.get("room") != self.room:
                        STATS.fail(f"202 for the wrong room: {answer}")
                    acked[text] = answer["id"]
                elif status == 429:
                    STATS.http_429 += 1
                else:
                    STATS.http_other[status] = STATS.http_other.get(status, 0) + 1
                    STATS.fail(f"HTTP publish answered {status}: {payload[:200]!r}")
            next_at += 1.0 / self.rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if self.writer is not None:
            self.writer.close()


class WsPublisher:
    """Publishes text frames on its own subscription; a message is acknowledged when it comes back."""

    def __init__(self, server, room, index):
        self.server, self.room, self.tag = server, room, f"wp{index}-{room}"
        self.ws = None
        self.closing = False

    async def open(self):
        self.ws = await harness.connect(self.server, f"?room={self.room}&name={self.tag}")

    async def reader(self):
        acked = STATS.acked.setdefault(self.room, {})
        try:
            async for frame in self.ws:
                event = json.loads(frame)
                if event.get("type") == "message" and event["text"].startswith(self.tag + ":"):
                    acked[event["text"]] = None
        except websockets.exceptions.ConnectionClosed:
            pass
        if not self.closing:
            STATS.fail(f"WebSocket publisher {self.tag} was closed by the server ({self.ws.close_code})")

    async def run(self):
        sent = STATS.sent.setdefault(self.room, {})
        reading = asyncio.create_task(self.reader())
        seq = 0
        try:
            while not STOP.is_set():
                seq += 1
                text = f"{self.tag}:{seq}"
                sent[text] = None
                await self.ws.send(text)
                STATS.ws_published += 1
                await asyncio.sleep(1.0 / WS_RATE)
            await asyncio.sleep(1.0)  # let its last messages come back before it stops reading
        finally:
            self.closing = True
            await self.ws.close()
            await reading


async def churner(server, rng):
    """Connect, read a little, leave: clean close, close without a close frame, or RST."""
    while not STOP.is_set():
        room = rng.choice(ROOMS + [BULK_ROOM])
        how = rng.choice(["clean", "fin", "rst"])
        STATS.churn_connects += 1
        try:
            if how == "clean":
                async with harness.connect(server, f"?room={room}&name=churn") as ws:
                    end = time.monotonic() + rng.uniform(0.1, 0.8)
                    while time.monotonic() < end:
                        try:
                            await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic()))
                        except asyncio.TimeoutError:
                            break
                STATS.churn_clean += 1
            else:
                reader, writer = await raw_subscribe(server.port, room)
                try:
                    await asyncio.wait_for(reader.read(rng.randint(1, 4096)), rng.uniform(0.05, 0.5))
                except asyncio.TimeoutError:
                    pass
                kill(writer, rst=(how == "rst"))
                STATS.churn_abrupt += 1
        except websockets.exceptions.ConnectionClosed as closed:
            STATS.fail(f"churning subscriber (reading) closed by the server: {closed}")
        except (OSError, Failure, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as error:
            STATS.fail(f"churning subscriber: {type(error).__name__} {error}")
        await asyncio.sleep(rng.uniform(0.0, 0.1))


async def slow_subscribe(port, room):
    """The handshake on a bare non-blocking socket, so that nothing reads it afterwards: an asyncio stream
    would keep reading into its own buffer (up to twice its limit) and the client would not be slow at all."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)  # before connect: the window stays small
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(sock, (f"GET /subscribe?room={room}&name=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                                       f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1), 5)  # byte by byte: take no frame bytes
            if not chunk:
                raise Failure("slow client: EOF during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101 "):
            status = head.split(b"\r\n")[0]
            raise Failure(f"slow client: handshake answered {status!r}")
        return sock
    except BaseException:
        sock.close()
        raise


async def slow_outcome(sock, timeout):
    """Drains what the server wrote: its close code, "dropped" (EOF or RST first), or "open" when frames are
    still flowing after `timeout` seconds (the server kept the client and it did no harm)."""
    loop = asyncio.get_running_loop()
    buffer = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        # Skip whole frames; stop at a close frame (servers never mask: RFC 6455 5.1).
        while len(buffer) >= 2:
            n, at = buffer[1] & 0x7F, 2
            if n == 126:
                if len(buffer) < 4:
                    break
                n, at = struct.unpack("!H", buffer[2:4])[0], 4
            elif n == 127:
                if len(buffer) < 10:
                    break
                n, at = struct.unpack("!Q", buffer[2:10])[0], 10
            if len(buffer) < at + n:
                break
            if buffer[0] & 0x0F == 0x8:
                return close_code(bytes(buffer[at:at + n]))
            del buffer[:at + n]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "open"
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), remaining)
        except asyncio.TimeoutError:
            return "open"
        except ConnectionError:
            return "dropped"
        if not chunk:
            return "dropped"
        buffer += chunk


async def slow_client(server):
    """Subscribes to the bulk room with a tiny receive window and never reads; then looks at the outcome."""
    while not STOP.is_set():
        try:
            sock = await slow_subscribe(server.port, BULK_ROOM)
        except (OSError, Failure, asyncio.TimeoutError) as error:
            STATS.fail(f"slow client could not subscribe: {error}")
            await asyncio.sleep(1)
            continue
        try:
            try:
                await asyncio.wait_for(STOP.wait(), SLOW_HOLD)
                break  # the publishers stop with the run: a hold cut short says nothing, so it is not counted
            except asyncio.TimeoutError:
                pass
            # 1008 "too slow" somewhere in what is buffered, or EOF/RST (dropped after subscriber.write_timeout).
            outcome = await slow_outcome(sock, 3.0)
        finally:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        STATS.slow_outcomes[str(outcome)] = STATS.slow_outcomes.get(str(outcome), 0) + 1
        if outcome not in (1008, "dropped", "open"):
            STATS.fail(f"slow client ended with {outcome!r}, not 1008 or a drop")


BAD_FRAMES = {
    # kind: (frame bytes, expected close code)
    "unmasked": (lambda: client_frame(0x1, b"hello", masked=False), 1002),  # RFC 6455 5.1
    "opcode-3": (lambda: client_frame(0x3, b"x"), 1002),  # reserved non-control opcode, RFC 6455 5.2
    "opcode-b": (lambda: client_frame(0xB, b""), 1002),  # reserved control opcode
    "rsv1": (lambda: bytes([0xC1]) + client_frame(0x1, b"x")[1:], 1002),  # no extension negotiated
    "bad-utf8": (lambda: client_frame(0x1, b"ok \xc3\x28 no"), 1007),  # RFC 6455 8.1
    "binary": (lambda: client_frame(0x2, b"\x00\x01"), 1003),  # docs/api.md: binary is not supported
}


async def bad_framer(server, rng):
    while not STOP.is_set():
        kind = rng.choice(sorted(BAD_FRAMES))
        make, expected = BAD_FRAMES[kind]
        try:
            reader, writer = await raw_subscribe(server.port, "soak-bad")
            writer.write(make())
            await writer.drain()
            got = await wait_close(reader, 5.0)
            if got != expected:
                STATS.fail(f"bad frame {kind}: closed with {got}, expected {expected}")
            else:
                STATS.bad_frames[kind] = STATS.bad_frames.get(kind, 0) + 1
            kill(writer)
        except (OSError, Failure, asyncio.TimeoutError) as error:
            STATS.fail(f"bad frame {kind}: {type(error).__name__} {error}")
        await asyncio.sleep(BAD_FRAME_INTERVAL)


async def pinger(server):
    """Bursts of pings on a subscription to a busy room; each pong carries the payload of a ping still owed, in
    order, and the last ping of each burst is answered."""
    reader, writer = await raw_subscribe(server.port, ROOMS[0])
    burst = 0
    try:
        while not STOP.is_set():
            burst += 1
            payloads = [f"b{burst}-{i}-".encode() + b"p" * 100 for i in range(PING_BURST)]
            writer.write(b"".join(client_frame(0x9, p) for p in payloads))
            await writer.drain()
            STATS.pings += len(payloads)
            expected = list(payloads)

            async def collect():
                while expected:
                    opcode, payload = await read_frame(reader)
                    if opcode == 0xA:
                        # RFC 6455 5.5.3: with earlier pongs still unsent, a server may answer only the most
                        # recent ping (chatd replaces an unsent pong), so a pong answers one of the pings still
                        # owed and every one before it; the burst is answered once its last ping is.
                        if payload not in expected:
                            raise Failure(f"pong {payload[:20]!r} answers no ping still owed "
                                          f"(next owed {expected[0][:20]!r})")
                        del expected[:expected.index(payload) + 1]
                        STATS.pongs += 1
                    elif opcode == 0x9:  # the server's own keep-alive ping
                        writer.write(client_frame(0xA, payload))
                    elif opcode == 0x8:
                        raise Failure(f"pinger closed by the server with {close_code(payload)}")

            await asyncio.wait_for(collect(), 10)
            await asyncio.sleep(PING_INTERVAL)
    except (OSError, Failure, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
        STATS.fail(f"pinger: {type(error).__name__} {error}")
    finally:
        writer.write(client_frame(0x8, struct.pack("!H", 1000)))
        kill(writer)


# ---- sampling and checks -----------------------------------------------------------------------------------


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure("no VmRSS")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


async def healthz(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return int(answer.split(b" ", 2)[1])


async def sampler(server, start, samples):
    pid = server.process.pid
    print(f"{'t/s':>5} {'RSS/MiB':>8} {'fds':>5} {'pub':>7} {'deliv':>8} {'churn':>6} {'slow':>12} {'bad':>5} "
          f"{'pongs':>6} {'429':>4} health", flush=True)
    while not STOP.is_set():
        await asyncio.sleep(1.0)
        t = time.monotonic() - start
        rss, fds = rss_kib(pid), fd_count(pid)
        try:
            health = await healthz(server.port)
        except (OSError, asyncio.TimeoutError, IndexError, ValueError) as error:
            health = f"{type(error).__name__}"
        if health != 200:
            STATS.fail(f"/healthz answered {health} at t={t:.0f}s")
        samples.append((t, rss, fds))
        slow = ",".join(f"{k}:{v}" for k, v in sorted(STATS.slow_outcomes.items())) or "-"
        published = STATS.http_202 + STATS.ws_published
        print(f"{t:5.0f} {rss / 1024:8.1f} {fds:5d} {published:7d} {STATS.deliveries:8d} {STATS.churn_connects:6d} "
              f"{slow:>12} {sum(STATS.bad_frames.values()):5d} {STATS.pongs:6d} {STATS.http_429:4d} {health}",
              flush=True)


def check_deliveries(subscribers):
    checked = 0
    for sub in subscribers:
        sent = STATS.sent.get(sub.room, {})
        acked = STATS.acked.get(sub.room, {})
        seen = {}
        last_id = 0
        last_seq = {}
        for event_id, text in sub.events:
            if event_id <= last_id:
                STATS.fail(f"{sub.room}/{sub.index}: id {event_id} after {last_id} (repeat or out of order)")
            last_id = event_id
            if text in seen:
                STATS.fail(f"{sub.room}/{sub.index}: {text[:40]!r} received twice")
            seen[text] = event_id
            if text not in sent:
                STATS.fail(f"{sub.room}/{sub.index}: received {text[:40]!r}, which nobody published")
            tag, seq = text.split(":", 2)[:2]
            if int(seq) <= last_seq.get(tag, 0):
                STATS.fail(f"{sub.room}/{sub.index}: {tag} message {seq} after {last_seq[tag]}")
            last_seq[tag] = int(seq)
        for text, event_id in acked.items():
            checked += 1
            if text not in seen:
                STATS.fail(f"{sub.room}/{sub.index}: acknowledged message {text[:40]!r} never arrived")
            elif event_id is not None and seen[text] != event_id:
                STATS.fail(f"{sub.room}/{sub.index}: {text[:40]!r} has id {seen[text]}, 202 said {event_id}")
    return checked


def check_rss(samples, duration):
    after = [rss for t, rss, _ in samples if t >= duration * WARMUP_FRACTION]
    if len(after) < 6:
        STATS.fail(f"only {len(after)} RSS samples after the warm-up")
        return None
    median = statistics.median(after)
    allowed = median * RSS_TOLERANCE + SLOW_ALLOWANCE_KIB
    low, high = min(after), max(after)
    if high - median > allowed or median - low > allowed:
        STATS.fail(f"RSS after warm-up ranged {low / 1024:.1f}..{high / 1024:.1f} MiB around a median of "
                   f"{median / 1024:.1f} MiB; allowed +-{allowed / 1024:.1f} MiB")
    third = len(after) // 3
    first, last = statistics.median(after[:third]), statistics.median(after[-third:])
    if abs(last - first) > first * RSS_TOLERANCE:
        STATS.fail(f"RSS drifted: median {first / 1024:.1f} MiB in the first third after warm-up, "
                   f"{last / 1024:.1f} MiB in the last")
    return low, median, high, allowed, first, last


async def soak(server, duration):
    global STOP
    STOP = asyncio.Event()
    rng = random.Random(10)
    pid = server.process.pid
    await asyncio.sleep(0.5)
    baseline_fds = fd_count(pid)
    start = time.monotonic()

    subscribers = [LongLived(server, room, i) for room in ROOMS for i in range(SUBSCRIBERS_PER_ROOM)]
    subscribers += [LongLived(server, BULK_ROOM, i) for i in range(BULK_SUBSCRIBERS)]
    for sub in subscribers:
        await sub.open()
    ws_publishers = [WsPublisher(server, room, i) for room in ROOMS for i in range(WS_PUBLISHERS_PER_ROOM)]
    for pub in ws_publishers:
        await pub.open()
    http_publishers = [HttpPublisher(server, room, HTTP_RATE, 0, f"hp-{room}") for room in ROOMS]
    http_publishers.append(HttpPublisher(server, BULK_ROOM, BULK_RATE, BULK_SIZE, "hp-bulk"))

    samples = []
    readers = [asyncio.create_task(sub.run()) for sub in subscribers]
    load = [asyncio.create_task(p.run()) for p in http_publishers + ws_publishers]
    load += [asyncio.create_task(churner(server, random.Random(rng.random()))) for _ in range(CHURNERS)]
    load += [asyncio.create_task(slow_client(server)) for _ in range(SLOW_CLIENTS)]
    load += [asyncio.create_task(bad_framer(server, random.Random(rng.random())))]
    load += [asyncio.create_task(pinger(server))]
    sampling = asyncio.create_task(sampler(server, start, samples))

    await asyncio.sleep(duration)
    STOP.set()
    results = await asyncio.gather(*load, sampling, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            STATS.fail(f"a load task raised {type(result).__name__}: {result}")
    await asyncio.sleep(1.0)  # the last acknowledged messages reach the long-lived subscribers
    for sub in subscribers:
        await sub.close()
    await asyncio.gather(*readers)
    checked = check_deliveries(subscribers)

    # fds back to the baseline once every client is gone (a server closing a slow client waits up to 1 s for
    # its close frame, docs/api.md): poll for up to 5 s.
    deadline = time.monotonic() + 5
    while fd_count(pid) != baseline_fds and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    end_fds = fd_count(pid)
    if end_fds != baseline_fds:
        STATS.fail(f"fds: {end_fds} at the end, {baseline_fds} before the run")
    health = await healthz(server.port)
    if health != 200:
        STATS.fail(f"/healthz answered {health} after the run")

    rss = check_rss(samples, duration)
    peak_fds = max(fds for _, _, fds in samples) if samples else 0
    published = sum(len(v) for v in STATS.sent.values())
    acked = sum(len(v) for v in STATS.acked.values())
    print(f"\nsoak: {duration:.0f} s, chatd {os.path.basename(harness.CHATD)} pid {pid}")
    if rss:
        low, median, high, allowed, first, last = rss
        print(f"  RSS after warm-up: min {low / 1024:.1f} / median {median / 1024:.1f} / max {high / 1024:.1f} "
              f"MiB (allowed +-{allowed / 1024:.1f} MiB); first third {first / 1024:.1f}, last third "
              f"{last / 1024:.1f} MiB")
    print(f"  fds: baseline {baseline_fds}, peak {peak_fds}, end {end_fds}")
    print(f"  messages: {published} published ({STATS.http_202} HTTP 202, {STATS.ws_published} WS), {acked} "
          f"acknowledged, HTTP 429 {STATS.http_429}, other HTTP {STATS.http_other or 0}")
    print(f"  deliveries to long-lived subscribers: {STATS.deliveries} ({len(subscribers)} subscribers, "
          f"{checked} acknowledged (subscriber, message) pairs checked)")
    print(f"  churn: {STATS.churn_connects} connects ({STATS.churn_clean} clean, {STATS.churn_abrupt} abrupt)")
    print(f"  slow clients: {STATS.slow_outcomes}")
    print(f"  bad frames answered right: {STATS.bad_frames}")
    print(f"  pings {STATS.pings}, pongs {STATS.pongs}")
    if STATS.http_429:
        STATS.fail(f"{STATS.http_429} HTTP publishes got 429 below publish.rate")
    if not STATS.slow_outcomes:
        STATS.fail("no slow client finished")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chatd")
    parser.add_argument("seconds", nargs="?", type=float, default=60.0)
    args = parser.parse_args()
    if args.seconds < SLOW_HOLD + 5:
        parser.error(f"a soak needs at least {SLOW_HOLD + 5:.0f} seconds: a slow client holds for {SLOW_HOLD:.0f} s "
                     f"and then drains for up to 3 s")
    harness.CHATD = os.path.abspath(args.chatd)
    print(RSS_NOTE, flush=True)
    with harness.ChatServer(CONFIG) as server:
        asyncio.run(soak(server, args.seconds))
    # ChatServer's exit asserted a clean exit 0 after SIGTERM (with ASan: no leak reported).
    if STATS.errors:
        print(f"\nsoak FAILED ({len(STATS.errors)} problems, first ones):")
        for error in STATS.errors[:20]:
            print(f"  - {error}")
        return 1
    print("\nsoak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
