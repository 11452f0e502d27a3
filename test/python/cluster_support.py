"""What the cluster suite (test_cluster.py) is built from: a real redis-server on a free loopback port, a TCP
proxy between one chatd node and Redis that a test can cut, black-hole, delay and heal, chatd nodes in
`cluster.engine: redis`, and a subscriber that checks every event it receives as it arrives.

None of it is chatd's code: the proxy and the RESP helper are written against the sockets, the subscriber
is python3-websockets, publishes go through http.client. Every wait is a condition with a deadline.

Thread affinity: RedisServer, ClusterNode and the HTTP helpers are plain blocking code (call them from the
test's thread, or through run_in_executor from async code). RedisProxy runs its own event loop in a thread
of its own; its public methods are called from any other thread and return once the change is in force.
Watcher lives in the test's event loop.
"""

import asyncio
import contextlib
import http.client
import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import websockets.exceptions

import harness

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_START_TIMEOUT = 5.0  # seconds until a started redis-server answers PING
RESP_TIMEOUT = 2.0  # one command of the test's own RESP helper
HTTP_TIMEOUT = 10.0  # one HTTP request to a node: longer than any wait the engine may take before answering
OPEN_TIMEOUT = 5.0  # one WebSocket opening handshake (harness.connect's default)
NODE_TTL = 3.0  # cluster.node_ttl of every node unless a test says otherwise, seconds
UNAVAILABLE_WAIT = 1.0  # cluster.unavailable_wait of every node, seconds

# Under the ASan+UBSan build every duration of chatd in the suite is multiplied by this: the nodes' node_ttl
# and unavailable_wait, each deadline the tests assert and each wait they make (an outage, a partition), so
# the same things are checked in slow motion; the release build keeps the values above exactly (factor 1).
# Measured on a 2-core machine: a publish takes 0.43 ms under ASan against 0.27 ms (x1.6), a node's exit on
# SIGTERM 0.06 s against 0.01 s (leak check), and the unscaled suite passed once there when the machine was
# idle. But its tightest deadlines (leaves 1 s after SIGTERM, a 503 within unavailable_wait + 0.5 s) leave
# no room for a stall of the slower build while other jobs share the cores: 3 gives that room (the suite
# passed with it at a load average of 5 to 9, in about 95 s). Durations that are not chatd's
# (REDIS_START_TIMEOUT, RESP_TIMEOUT, the proxy self-check's) are not scaled.
SANITIZER_SLOWDOWN = 3


def slowdown():
    """The factor every duration of chatd is scaled by: SANITIZER_SLOWDOWN under ASan+UBSan, else 1.
    A function, not a constant: the binary (harness.CHATD) is known only once harness.main() has run."""
    return SANITIZER_SLOWDOWN if harness.sanitizer_build() else 1


def scaled(seconds):
    """A duration of the release build, in seconds, as this build needs it (see SANITIZER_SLOWDOWN)."""
    return seconds * slowdown()


def duration_yaml(seconds):
    """seconds as a chat.yaml duration, in whole milliseconds ("3000ms")."""
    return f"{round(seconds * 1000)}ms"


def require_redis():
    """The suite needs Debian's redis-server (CI installs it): without it, say so and skip."""
    if not os.access(REDIS_SERVER, os.X_OK):
        raise harness.Skip(f"{REDIS_SERVER} is not installed (apt-get install redis-server)")


def free_port():
    """A loopback port nothing listens on right now (the kernel's choice for a bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


wait_until = harness.wait_until


async def await_until(condition, timeout, what, interval=0.02):
    """wait_until for async code: condition() is a plain function, polled between sleeps of the loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(interval)


async def in_thread(fn, *args):
    """Run blocking code (HTTP, a proxy or Redis change) without stopping the event loop's subscribers."""
    return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args))


# --------------------------------------------------------------------------------------------------
# RESP: just enough of the protocol to send a command and read its reply
# (https://redis.io/docs/reference/protocol-spec/)
# --------------------------------------------------------------------------------------------------


class RespError(Exception):
    """An error reply (`-ERR ...`) from Redis."""


def encode_command(args):
    """A command as clients send it: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RespReader:
    """Reads RESP2 replies from a blocking socket: simple strings and bulk strings come back as str, integers as
    int, arrays as lists, nil as None, errors as RespError (returned, not raised, inside arrays)."""

    def __init__(self, sock):
        self._sock = sock
        self._buffer = b""

    def _fill(self):
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("Redis closed the connection")
        self._buffer += chunk

    def _line(self):
        while b"\r\n" not in self._buffer:
            self._fill()
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def _exactly(self, n):
        while len(self._buffer) < n:
            self._fill()
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            return self._exactly(length + 2)[:-2].decode("utf-8", "replace")
        if kind == b"*":
            length = int(rest)
            if length < 0:
                return None
            return [self.reply() for _ in range(length)]
        raise ConnectionError(f"not a RESP reply: {line!r}")


def resp_command(port, *args, timeout=RESP_TIMEOUT):
    """One command on a fresh connection to 127.0.0.1:port; an error reply is raised as RespError."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(encode_command(args))
        reply = RespReader(sock).reply()
    if isinstance(reply, RespError):
        raise reply
    return reply


# --------------------------------------------------------------------------------------------------
# redis-server
# --------------------------------------------------------------------------------------------------


class RedisServer:
    """One redis-server on a loopback port, in a temp dir, with nothing persisted (a restart loses every key,
    as a failover to an empty replica would) and noeviction (the design's requirement: evicting a room's
    stream would lose history silently).

    Use as a context manager; kill() and restart() keep the port, so nodes and proxies find it again.
    """

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="chatd-redis-")
        self.port = free_port()
        self.log_path = os.path.join(self._dir.name, "redis.log")
        self.process = None
        self.paused = False

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.process is not None and self.process.poll() is None:
                self.kill()
        finally:
            self._dir.cleanup()

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--maxmemory-policy", "noeviction", "--dir", self._dir.name, "--logfile", self.log_path,
             "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.paused = False

        def answers():
            if self.process.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                return self.command("PING", timeout=0.5) == "PONG"
            except (OSError, RespError):
                return False
        wait_until(answers, REDIS_START_TIMEOUT, f"redis-server on port {self.port} answers PING")

    def stop(self):
        """SIGTERM (with `--save ""` nothing is written) and wait for the exit."""
        self.resume()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)

    def kill(self):
        """SIGKILL: gone at once, every connection reset by the kernel."""
        self.process.kill()
        self.process.wait(timeout=10)
        self.paused = False

    def restart(self):
        """kill -9, then a fresh redis-server on the same port: empty, with a new run_id."""
        if self.process.poll() is None:
            self.kill()
        self.start()

    def pause(self):
        """SIGSTOP: connections stay open and commands are accepted by the kernel, but nothing answers."""
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.paused:
            self.process.send_signal(signal.SIGCONT)
            self.paused = False

    def command(self, *args, timeout=RESP_TIMEOUT):
        return resp_command(self.port, *args, timeout=timeout)

    def info(self, section):
        """INFO SECTION as a dict of its `key:value` lines."""
        fields = {}
        for line in self.command("INFO", section).splitlines():
            if line and not line.startswith("#") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value
        return fields

    def command_calls(self):
        """{command name in lower case: calls} from INFO commandstats (`cmdstat_xrange:calls=3,usec=...`)."""
        calls = {}
        for key, value in self.info("commandstats").items():
            if key.startswith("cmdstat_"):
                stats = dict(item.split("=", 1) for item in value.split(","))
                calls[key[len("cmdstat_"):]] = int(stats["calls"])
        return calls

    def run_id(self):
        return self.info("server")["run_id"]

    def clients(self, kind=None):
        """CLIENT LIST (of one TYPE: normal, pubsub, ...) as a list of dicts; this helper's own connection is
        among them when kind is None or normal."""
        args = ("CLIENT", "LIST") + (("TYPE", kind) if kind else ())
        return [dict(field.split("=", 1) for field in line.split(" ") if "=" in field)
                for line in self.command(*args).splitlines() if line]

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------------------------------
# The proxy between a node and Redis
# --------------------------------------------------------------------------------------------------


def _reset(writer):
    """Close a connection with a TCP RST (SO_LINGER 0), as a dead path or a firewall's reject would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class _ProxiedConnection:
    """One node connection and its Redis connection. Bytes are read from each side at once (the kernel's
    buffers never fill), timestamped, and written to the other side once the proxy's gate is open and the
    proxy's delay has passed since they arrived, in order. So a black hole holds everything and lets it
    through after heal, as TCP would retransmit it after a partition shorter than its own timeouts; an end
    of stream follows the bytes before it. The Redis side is connected only once the gate is open."""

    def __init__(self, proxy, node_reader, node_writer):
        self._proxy = proxy
        self._node_reader = node_reader
        self._node_writer = node_writer
        self._redis_writer = None
        self._tasks = []
        self._runner = None
        self._ended = set()  # directions whose end of stream was forwarded
        self._finished = asyncio.Event()  # both ends forwarded, or a reset
        self._closed = False

    async def run(self):
        self._runner = asyncio.current_task()
        to_redis = asyncio.Queue()
        to_node = asyncio.Queue()
        self._tasks.append(asyncio.ensure_future(self._read(self._node_reader, to_redis, "up")))
        try:
            await self._proxy._gate.wait()
            try:
                redis_reader, self._redis_writer = await asyncio.open_connection("127.0.0.1", self._proxy.upstream_port)
            except OSError:
                return  # Redis refuses: so does the proxy (the reset below)
            self._tasks += [asyncio.ensure_future(self._read(redis_reader, to_node, "down")),
                            asyncio.ensure_future(self._forward(to_redis, self._redis_writer, "up")),
                            asyncio.ensure_future(self._forward(to_node, self._node_writer, "down"))]
            await self._finished.wait()
        finally:
            if self._ended == {"up", "down"}:
                self._close()
            else:
                self.reset()

    def _close(self):
        self._closed = True
        self._node_writer.close()
        self._redis_writer.close()

    def reset(self):
        """RST both sides and stop forwarding; what was held is dropped. Called from the proxy's loop."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self._runner is not None and self._runner is not asyncio.current_task():
            self._runner.cancel()
        _reset(self._node_writer)
        if self._redis_writer is not None:
            _reset(self._redis_writer)
        self._finished.set()

    async def _read(self, reader, queue, direction):
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time(), data))  # b"": the end of the stream, forwarded in turn
                if not data:
                    return
                self._proxy._count(direction, len(data))
        except OSError:  # reset by a peer: reset the other side too
            self._finished.set()

    async def _forward(self, queue, writer, direction):
        loop = asyncio.get_running_loop()
        try:
            while True:
                arrived, data = await queue.get()
                while True:
                    await self._proxy._gate.wait()
                    due = arrived + self._proxy._delay
                    if loop.time() >= due:
                        break
                    await asyncio.sleep(due - loop.time())  # then check the gate again: a black hole may have begun
                if not data:
                    writer.write_eof()
                    self._ended.add(direction)
                    if self._ended == {"up", "down"}:
                        self._finished.set()
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            self._finished.set()


class RedisProxy:
    """A TCP proxy on its own loopback port, for one node, in front of Redis on upstream_port.

    cut(): every connection is reset (RST on both sides) and the port refuses connections until heal().
    blackhole(): connections stay open and new ones are accepted, but nothing goes through in either
    direction until heal(), which lets through what was held, in order.
    delay(ms): each chunk goes through ms after it arrived.
    heal(): everything goes through again at once, with no delay.
    """

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.port = None
        self.accepted = 0  # connections the proxy has accepted from the node
        self.bytes_up = 0  # node -> Redis, counted as read from the node
        self.bytes_down = 0  # Redis -> node, counted as read from Redis
        self._delay = 0.0
        self._server = None
        self._connections = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="redis-proxy", daemon=True)
        self._gate = None  # an asyncio.Event of the proxy's loop: set while bytes may pass

    def __enter__(self):
        self._thread.start()
        self._call(self._open())
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self._call(self._close_all())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _open(self):
        self._gate = asyncio.Event()
        self._gate.set()
        await self._listen()

    async def _listen(self):
        # The same port after a cut, so the node's configured address works again.
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port or 0, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader, writer):
        self.accepted += 1
        connection = _ProxiedConnection(self, reader, writer)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)

    def _count(self, direction, n):
        if direction == "up":
            self.bytes_up += n
        else:
            self.bytes_down += n

    async def _cut(self):
        self._gate.clear()
        if self._server is not None:
            self._server.close()  # closes the listening socket now: new connections are refused
            self._server = None
        for connection in list(self._connections):
            connection.reset()
        return len(self._connections)

    async def _blackhole(self):
        self._gate.clear()

    async def _heal(self):
        self._delay = 0.0
        if self._server is None:
            await self._listen()
        self._gate.set()

    async def _set_delay(self, seconds):
        self._delay = seconds

    async def _close_all(self):
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self._connections):
            connection.reset()

    def cut(self):
        self._call(self._cut())

    def blackhole(self):
        self._call(self._blackhole())

    def delay(self, ms):
        self._call(self._set_delay(ms / 1000.0))

    def heal(self):
        self._call(self._heal())

    def open_connections(self):
        return len(self._connections)


# --------------------------------------------------------------------------------------------------
# chatd nodes
# --------------------------------------------------------------------------------------------------

_prefixes = itertools.count(1)


def new_prefix():
    """A key prefix no other test of this run uses (cluster.redis.prefix: [A-Za-z0-9_.-], 1 to 32)."""
    return f"t{os.getpid()}-{next(_prefixes)}"


class ClusterNode(harness.ChatServer):
    """A chatd node, started by start_node(); as a context manager it only stops (SIGTERM, exit 0 asserted)."""

    def __init__(self, name, extra_yaml):
        super().__init__(extra_yaml)
        self.name = name

    def __enter__(self):
        if self.process is None:
            return super().__enter__()
        return self

    def kill(self):
        """kill -9: no chance to leave the rooms or reap itself."""
        self.process.kill()
        self.process.wait()

    def stop(self, timeout=None):
        """SIGTERM and the exit status, within the scaled harness.SHUTDOWN_TIMEOUT unless given (also used by
        the harness' __exit__)."""
        return super().stop(timeout or scaled(harness.SHUTDOWN_TIMEOUT))

    def terminate(self, timeout=None):
        """SIGTERM, and the exit status must be 0."""
        code = self.stop(timeout)
        assert code == 0, f"node {self.name} exited with {code} after SIGTERM:\n{self.log_tail()}"

    def __repr__(self):
        return f"<node {self.name} :{self.port}>"


def node_yaml(redis_port, prefix, node_ttl=NODE_TTL, extra=""):
    """A node's chat.yaml beyond the harness' listen and server lines. rooms.dynamic is true by default, and
    FAST_PUBLISH lifts the per-address publish limiter (every test client is 127.0.0.1); `extra` may add any
    other section but not cluster or publish. node_ttl (seconds) and UNAVAILABLE_WAIT are the release
    build's: they are scaled here."""
    return (harness.FAST_PUBLISH
            + f'cluster:\n  engine: redis\n  redis: {{ address: "127.0.0.1:{redis_port}", prefix: {prefix} }}\n'
            + f"  node_ttl: {duration_yaml(scaled(node_ttl))}\n"
            + f"  unavailable_wait: {duration_yaml(scaled(UNAVAILABLE_WAIT))}\n"
            + extra)


def start_node(redis_port, name, node_ttl=NODE_TTL, extra="", prefix=None):
    """Start a chatd node on Redis at 127.0.0.1:redis_port (a RedisServer's port or a RedisProxy's), and return
    it running. Nodes of one test must share a prefix: pass the test's new_prefix()."""
    node = ClusterNode(name, node_yaml(redis_port, prefix or new_prefix(), node_ttl, extra))
    try:
        node.start()
    except BaseException:
        node.__exit__(*sys.exc_info())
        raise
    return node


class Cluster:
    """A redis-server and `nodes` chatd nodes named A, B, C... on it, sharing a new key prefix; with
    proxied=True each node reaches Redis through a RedisProxy of its own (proxies[i] is nodes[i]'s).

    On exit the nodes stop first (SIGTERM, exit 0 asserted unless killed), with Redis resumed if paused.
    """

    def __init__(self, nodes=2, node_ttl=NODE_TTL, extra="", proxied=False):
        self.count = nodes
        self.node_ttl = node_ttl
        self.extra = extra
        self.proxied = proxied
        self.prefix = new_prefix()
        self.redis = None
        self.proxies = []
        self.nodes = []
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        require_redis()
        try:
            self.redis = self._stack.enter_context(RedisServer())
            for index in range(self.count):
                port = self.redis.port
                if self.proxied:
                    proxy = self._stack.enter_context(RedisProxy(self.redis.port))
                    self.proxies.append(proxy)
                    port = proxy.port
                self.start_node(chr(ord("A") + index), port)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def start_node(self, name, port=None):
        """Another node of this cluster (on Redis directly unless a port is given)."""
        node = start_node(port or self.redis.port, name, self.node_ttl, self.extra, self.prefix)
        self._stack.enter_context(node)
        self.nodes.append(node)
        return node

    def __exit__(self, exc_type, exc, tb):
        if self.redis is not None and self.redis.process is not None and self.redis.process.poll() is None:
            self.redis.resume()
        return self._stack.__exit__(exc_type, exc, tb)


# --------------------------------------------------------------------------------------------------
# HTTP: what each route answers, without asserting (the tests decide)
# --------------------------------------------------------------------------------------------------


class HttpAnswer:
    def __init__(self, status, headers, body, seconds):
        self.status = status
        self.headers = headers  # names in lower case
        self.body = body  # bytes
        self.seconds = seconds  # from sending the request to the whole answer

    def json(self):
        return json.loads(self.body)

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:200]!r} in {self.seconds:.3f}s>"


def http_request(node, method, path, body=None, timeout=None):
    """One request on a fresh connection (so a slow answer never holds up the next request); timeout: the
    scaled HTTP_TIMEOUT unless given."""
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout or scaled(HTTP_TIMEOUT))
    headers = {"Content-Type": "text/plain; charset=utf-8"} if body is not None else {}
    started = time.monotonic()
    try:
        connection.request(method, path, body=body.encode() if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                          time.monotonic() - started)
    finally:
        connection.close()


def publish(node, room, text, name="pub"):
    return http_request(node, "POST", f"/publish?room={room}&name={name}", text)


def published_id(answer, room):
    """The id of a 202 answer, checked for shape."""
    assert answer.status == 202, answer
    body = answer.json()
    assert body.get("room") == room and isinstance(body.get("id"), int), body
    return body["id"]


class Publisher:
    """Publishes over one keep-alive connection, reconnecting after an error, and records each outcome:
    accepted [(id, text)] for 202, and the texts answered otherwise, by status."""

    def __init__(self, node, room, name="pub"):
        self.node = node
        self.room = room
        self.name = name
        self.accepted = []
        self.refused = {}  # status -> [text]
        self._connection = None

    def publish(self, text):
        if self._connection is None:
            self._connection = http.client.HTTPConnection("127.0.0.1", self.node.port,
                                                          timeout=scaled(HTTP_TIMEOUT))
        started = time.monotonic()
        try:
            self._connection.request("POST", f"/publish?room={self.room}&name={self.name}", body=text.encode(),
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
            response = self._connection.getresponse()
            answer = HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()},
                                response.read(), time.monotonic() - started)
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if answer.headers.get("connection", "").lower() == "close":
            self.close()
        if answer.status == 202:
            self.accepted.append((published_id(answer, self.room), text))
        else:
            self.refused.setdefault(answer.status, []).append(text)
        return answer

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def healthz(node):
    return http_request(node, "GET", "/healthz")


def presence(node, room):
    """(status, [(name, sessions)]) of /presence."""
    answer = http_request(node, "GET", f"/presence?room={room}")
    if answer.status != 200:
        return answer.status, None
    return 200, [(user["name"], user["sessions"]) for user in answer.json()["users"]]


def full_history(node, room):
    """(epoch, every retained event oldest first) of /history, walked back with limit=1000 and next_before;
    ids must be consecutive and the epoch the same on every page."""
    pages = []
    before = ""
    while True:
        answer = http_request(node, "GET", f"/history?room={room}&limit=1000{before}")
        assert answer.status == 200, (node, answer)
        page = answer.json()
        pages.append(page)
        if page["next_before"] is None:
            break
        before = f"&before={page['next_before']}"
        assert len(pages) < 100, "next_before never became null"
    epochs = {page["epoch"] for page in pages}
    assert len(epochs) == 1, f"{node}: the epoch changed between pages: {epochs}"
    events = [event for page in reversed(pages) for event in page["events"]]
    ids = [event["id"] for event in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)) if ids else []), f"{node}: history has a gap or a duplicate"
    return epochs.pop(), events


# --------------------------------------------------------------------------------------------------
# The subscriber that checks what it receives
# --------------------------------------------------------------------------------------------------


class Watcher:
    """A JSON subscriber that records every frame and checks each one as it comes, per epoch: ids consecutive
    (with presence=true every event has one; without, they only grow), no duplicate, in order, no message text
    twice (tests publish unique texts). A `reset` {"type":"reset","room","epoch","last"} starts a new epoch
    whose next event must be last+1. A `recovered` frame may come only first (when since is given).

    Violations are collected in `problems` (the reader never stops on one); assert_ok() fails on any.
    """

    def __init__(self, node, room, name, presence, ws):
        self.node = node
        self.room = room
        self.name = name
        self.presence = presence
        self.ws = ws
        self.recovered = None  # the recovered frame, when opened with since
        self.epoch = None  # the current epoch: from recovered or the latest reset; None until one is known
        self.last_id = None  # the last id of the current epoch
        self.events = []  # (epoch, event) for every event, resets included, in arrival order
        self.resets = []
        self.problems = []
        self.close_code = None  # set when the server closed the connection
        self._texts = set()
        self._seen = set()  # (epoch, id)
        self._reader = None

    @classmethod
    async def open(cls, node, room, name, presence=True, since=None, epoch=None):
        query = f"?room={room}&name={name}&format=json&presence={'true' if presence else 'false'}"
        if since is not None:
            query += f"&since={since}" + (f"&epoch={epoch}" if epoch else "")
        # No bound on websockets' own queue: the reader task takes every frame at once anyway.
        ws = await harness.connect(node, query, max_queue=None, open_timeout=scaled(OPEN_TIMEOUT))
        watcher = cls(node, room, name, presence, ws)
        if since is not None:
            frame = await harness.recv_json(ws, scaled(10))
            if frame.get("type") != "recovered":
                await ws.close()
                raise AssertionError(f"{watcher}: the first frame after since={since} is not recovered: {frame}")
            watcher.recovered = frame
            watcher.epoch = frame["epoch"]
        watcher._reader = asyncio.ensure_future(watcher._read())
        return watcher

    def __repr__(self):
        return f"<watcher {self.name} on {self.node!r} in {self.room}>"

    async def _read(self):
        try:
            async for frame in self.ws:
                self._take(frame)
        except websockets.exceptions.ConnectionClosed:
            pass
        if self.ws.close_code is not None:
            self.close_code = self.ws.close_code

    def _problem(self, what):
        self.problems.append(what)

    def _take(self, frame):
        if not isinstance(frame, str):
            self._problem(f"a binary frame {frame!r}")
            return
        try:
            event = json.loads(frame)
        except ValueError:
            self._problem(f"not JSON: {frame!r}")
            return
        kind = event.get("type")
        if kind == "recovered":
            self._problem(f"a recovered frame after the first: {event}")
            return
        if event.get("room") != self.room:
            self._problem(f"an event of another room: {event}")
        if kind == "reset":
            if set(event) != {"type", "room", "epoch", "last"} or not isinstance(event["last"], int):
                self._problem(f"a reset of the wrong shape: {event}")
                return
            self.resets.append(event)
            self.events.append((event["epoch"], event))
            self.epoch = event["epoch"]
            self.last_id = event["last"]
            return
        if kind not in ("message", "join", "leave") or not isinstance(event.get("id"), int):
            self._problem(f"an unknown event: {event}")
            return
        if kind != "message" and not self.presence:
            self._problem(f"a {kind} without presence=true: {event}")
        key = (self.epoch, event["id"])
        if key in self._seen:
            self._problem(f"id {event['id']} twice in epoch {self.epoch}: {event}")
        self._seen.add(key)
        if self.last_id is not None:
            if self.presence and event["id"] != self.last_id + 1:
                self._problem(f"id {event['id']} after {self.last_id} in epoch {self.epoch} (a gap or a repeat)")
            elif not self.presence and event["id"] <= self.last_id:
                self._problem(f"id {event['id']} after {self.last_id} in epoch {self.epoch} (out of order)")
        self.last_id = event["id"]
        if kind == "message":
            if event.get("text") in self._texts:
                self._problem(f"text {event.get('text')!r} twice (the second as {event})")
            self._texts.add(event.get("text"))
        self.events.append((self.epoch, event))

    # What was received -----------------------------------------------------------------------------

    def messages(self):
        return [event for _, event in self.events if event.get("type") == "message"]

    def texts(self):
        return [event["text"] for event in self.messages()]

    def presence_events(self, kind, name=None):
        return [event for _, event in self.events
                if event.get("type") == kind and (name is None or event["name"] == name)]

    def has_text(self, text):
        return text in self._texts

    def is_open(self):
        return self._reader is not None and not self._reader.done()

    async def wait_for(self, condition, timeout, what):
        """Wait until condition(self) holds; a closed connection or a problem fails at once."""
        def check():
            if self.problems:
                raise AssertionError(f"{self}: {self.problems[:5]}")
            if condition(self):
                return True
            if not self.is_open():
                raise AssertionError(f"{self} was closed ({self.close_code}) while waiting for {what}")
            return False
        await await_until(check, timeout, f"{self}: {what}")

    async def wait_text(self, text, timeout=None):
        await self.wait_for(lambda w: w.has_text(text), timeout or scaled(10), f"the message {text!r}")

    def assert_ok(self, still_open=True):
        assert not self.problems, f"{self}: {len(self.problems)} problems, first: {self.problems[:5]}"
        if still_open:
            assert self.is_open(), f"{self} was closed by the server with {self.close_code}"

    async def close(self):
        await self.ws.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, scaled(5))

    def abort(self):
        """Drop the TCP connection with no close handshake, as a client whose node died sees it."""
        self.ws.transport.abort()


def assert_accepted_once(watcher, accepted):
    """Every (id, text) answered 202 reached the watcher exactly once, as a message with that id (texts are unique:
    the check holds across epochs, whatever ids a new epoch starts from)."""
    by_text = {}
    for event in watcher.messages():
        by_text.setdefault(event["text"], []).append(event["id"])
    missing = [(i, text) for i, text in accepted if text not in by_text]
    assert not missing, f"{watcher}: {len(missing)} accepted messages never arrived, first {missing[:5]}"
    wrong = [(i, text, by_text[text]) for i, text in accepted if by_text[text] != [i]]
    assert not wrong, f"{watcher}: accepted (id, text, ids seen): {wrong[:5]}"


def assert_never_seen(watcher, texts, what="refused"):
    seen = [text for text in texts if watcher.has_text(text)]
    assert not seen, f"{watcher}: {len(seen)} {what} messages were delivered, first {seen[:5]}"


class WsPublisher:
    """A WebSocket that publishes what it sends (format=text, so what it receives is only drained), and records
    how and when the server closed it."""

    def __init__(self, node, room, name, ws):
        self.node = node
        self.room = room
        self.name = name
        self.ws = ws
        self.sent = []
        self.close_code = None
        self.closed_at = None  # time.monotonic() when the close was seen
        self._reader = asyncio.ensure_future(self._drain())

    @classmethod
    async def open(cls, node, room, name):
        ws = await harness.connect(node, f"?room={room}&name={name}&format=text", max_queue=None,
                                   open_timeout=scaled(OPEN_TIMEOUT))
        return cls(node, room, name, ws)

    async def _drain(self):
        try:
            async for _ in self.ws:
                pass
        except websockets.exceptions.ConnectionClosed:
            pass
        self.close_code = self.ws.close_code
        self.closed_at = time.monotonic()

    def is_open(self):
        return not self._reader.done()

    async def send(self, text):
        self.sent.append(text)
        await self.ws.send(text)

    async def wait_closed(self, timeout):
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)

    async def close(self):
        await self.ws.close()
        await asyncio.wait_for(self._reader, scaled(5))
