"""chatd behind a reverse proxy (server.trusted_proxies, docs/deploy.md): only a trusted peer's
X-Forwarded-For / Forwarded name the client, for the limiters and the logs; and a real Caddy (Debian's caddy)
with `tls internal` in front of chatd on loopback, its local CA trusted by the clients: a wss:// subscriber and
https:// publishers through it get every message, an event stream (SSE) comes through unbuffered, and the
publish limiter keys on each client's own address (clients bind 127.0.0.N source addresses, which Linux'
loopback accepts), which no header can change.

Usage: /usr/bin/python3 test/python/test_proxy.py /path/to/chatd
"""
import asyncio
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CADDY = "/usr/bin/caddy"
CADDY_START_TIMEOUT = 20.0  # seconds: it makes its CA and the site's certificate first
# Three publishes per address, then 429 (refilled once in 1000 s: never during a test).
LIMITED = "publish: { rate: 0.001, burst: 3 }\n"


def publish(server, room, text, *headers):
    args = []
    for header in headers:
        args += ["-H", header]
    return harness.curl(server.http(f"/publish?room={room}"), "-X", "POST", "--data", text, *args).status


def test_a_trusted_proxy_names_the_client_for_the_limiter_and_the_logs():
    with harness.ChatServer(LIMITED + "server: { threads: 2, trusted_proxies: [127.0.0.1] }\n") as server:
        alice = "X-Forwarded-For: 203.0.113.7"
        assert [publish(server, "r", f"m{i}", alice) for i in range(4)] == [202, 202, 202, 429]
        # Another client behind the same proxy has a bucket of its own.
        assert publish(server, "r", "b", "X-Forwarded-For: 203.0.113.8") == 202
        # Forwarded is not the configured header (forwarded_header: x-forwarded-for, the default): a client's
        # own, passed through, names nobody; this is the proxy's (127.0.0.1) fourth publish.
        assert [publish(server, "r", f"f{i}", "Forwarded: for=198.51.100.9") for i in range(4)] == [202] * 3 + [429]
        # What the client wrote before the proxy's own entry is not believed: 198.51.100.1 reached the proxy.
        spoofed = "X-Forwarded-For: 203.0.113.8, 203.0.113.7"
        assert publish(server, "r", "d", spoofed) == 429  # 203.0.113.7's bucket is empty

        async def scenario():
            async with harness.connect(server, "?room=r&name=carol",
                                       extra_headers={"X-Forwarded-For": "192.0.2.44"}) as ws:
                assert publish(server, "r", "seen", "X-Forwarded-For: 192.0.2.45") == 202
                assert json.loads(await harness.recv(ws))["text"] == "seen"
        harness.run_async(scenario)
        harness_wait(lambda: any(re.search(r"open peer=192\.0\.2\.44 via 127\.0\.0\.1:\d+ room=r name=carol", line)
                                 for line in server.stderr_lines), "the open line naming the client")


def test_forwarded_when_the_proxy_writes_it():
    with harness.ChatServer(LIMITED + "server: { threads: 2, trusted_proxies: [127.0.0.1], "
                                      "forwarded_header: forwarded }\n") as server:
        client = 'Forwarded: for="[2001:db8::5]:4711";proto=https'
        assert [publish(server, "r", f"m{i}", client) for i in range(4)] == [202, 202, 202, 429]
        assert publish(server, "r", "x", "Forwarded: for=192.0.2.1, for=127.0.0.1") == 202
        assert publish(server, "r", "y", "X-Forwarded-For: 2001:db8::5") == 202  # not read: the proxy's own


def test_an_untrusted_peer_cannot_spoof_its_address():
    # 127.0.0.1 is not in the list: its headers are ignored, every publish is 127.0.0.1's.
    with harness.ChatServer(LIMITED + "server: { threads: 2, trusted_proxies: [10.0.0.0/8] }\n") as server:
        statuses = [publish(server, "r", f"m{i}", f"X-Forwarded-For: 203.0.113.{i}") for i in range(4)]
        assert statuses == [202, 202, 202, 429], statuses
    # Nor with no trusted proxies at all (the default).
    with harness.ChatServer(LIMITED) as server:
        statuses = [publish(server, "r", f"m{i}", f"X-Forwarded-For: 203.0.113.{i}") for i in range(4)]
        assert statuses == [202, 202, 202, 429], statuses


def harness_wait(condition, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Caddy:
    """Caddy on a free loopback port, TLS from its own local CA (`tls internal`), proxying to chatd."""

    def __init__(self, upstream_port):
        self._dir = tempfile.TemporaryDirectory(prefix="chatd-caddy-")
        self.port = free_port()
        self.root_cert = os.path.join(self._dir.name, "data", "pki", "authorities", "local", "root.crt")
        self.caddyfile = os.path.join(self._dir.name, "Caddyfile")
        with open(self.caddyfile, "w") as f:
            f.write("{\n"
                    "\tadmin off\n"
                    f"\tstorage file_system {{\n\t\troot {self._dir.name}/data\n\t}}\n"
                    "\tskip_install_trust\n"
                    "\tauto_https disable_redirects\n"
                    "}\n"
                    f"https://127.0.0.1:{self.port} {{\n"
                    "\ttls internal\n"
                    f"\treverse_proxy 127.0.0.1:{upstream_port}\n"
                    "}\n")
        self.process = None
        self.log_path = os.path.join(self._dir.name, "caddy.log")

    def __enter__(self):
        env = dict(os.environ, HOME=self._dir.name, XDG_DATA_HOME=self._dir.name, XDG_CONFIG_HOME=self._dir.name)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen([CADDY, "run", "--config", self.caddyfile, "--adapter", "caddyfile"],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + CADDY_START_TIMEOUT
        while not self._serving():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise AssertionError(f"caddy did not serve TLS on {self.port}:\n{self.log()}")
            time.sleep(0.1)
        return self

    def _serving(self):
        if not os.path.exists(self.root_cert):
            return False
        try:
            context = ssl.create_default_context(cafile=self.root_cert)
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                    return True
        except (OSError, ssl.SSLError):
            return False

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-3000:]

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._dir.cleanup()

    def https(self, path):
        return f"https://127.0.0.1:{self.port}{path}"


def publish_through(caddy, source, text, *headers):
    args = ["--cacert", caddy.root_cert, "--interface", source, "-X", "POST", "--data", text]
    for header in headers:
        args += ["-H", header]
    return harness.curl(caddy.https("/publish?room=tls"), *args)


def test_behind_caddy_with_tls_every_message_arrives_and_each_client_has_its_own_limit():
    if not os.path.exists(CADDY):
        raise harness.Skip(f"{CADDY} is not installed (apt-get install caddy)")
    with harness.ChatServer(LIMITED + "server: { threads: 2, trusted_proxies: [127.0.0.1] }\n") as server, \
            Caddy(server.port) as caddy:
        # Caddy's own CA made the certificate: plain https without it is refused.
        untrusted = subprocess.run(["curl", "-sS", "-o", "/dev/null", caddy.https("/healthz")],
                                   capture_output=True, timeout=20)
        assert untrusted.returncode != 0, "curl trusted Caddy's local CA without --cacert"
        sources = [f"127.0.0.{n}" for n in range(10, 30)]  # 20 clients, one message each
        received = []

        async def scenario():
            context = ssl.create_default_context(cafile=caddy.root_cert)
            url = f"wss://127.0.0.1:{caddy.port}/subscribe?room=tls&name=watcher&format=json"
            async with websockets.connect(url, ssl=context, ping_interval=None, open_timeout=10) as ws:
                loop = asyncio.get_running_loop()
                for n, source in enumerate(sources):
                    response = await loop.run_in_executor(None, publish_through, caddy, source, f"via {source} #{n}")
                    assert response.status == 202, (source, response.status, response.body)
                while len(received) < len(sources):
                    event = json.loads(await harness.recv(ws))
                    if event["type"] == "message":
                        received.append(event)
        harness.run_async(scenario)
        assert [event["text"] for event in received] == [f"via {s} #{n}" for n, s in enumerate(sources)], received
        ids = [event["id"] for event in received]
        assert ids == list(range(ids[0], ids[0] + len(ids))), ids  # consecutive: none lost, none repeated

        # One client's limit: 127.0.0.10 has published once; two more, then 429, whatever it writes.
        statuses = [publish_through(caddy, "127.0.0.10", "again").status for _ in range(2)]
        statuses.append(publish_through(caddy, "127.0.0.10", "spoof", "X-Forwarded-For: 198.51.100.1").status)
        # Caddy forwards a client's Forwarded header untouched: that is why only forwarded_header is read.
        statuses.append(publish_through(caddy, "127.0.0.10", "spoof", "Forwarded: for=198.51.100.2").status)
        assert statuses == [202, 202, 429, 429], statuses
        # Another client still has its own bucket.
        assert publish_through(caddy, "127.0.0.11", "mine").status == 202
        # The log names the client, via the proxy.
        assert any(re.search(r"open peer=127\.0\.0\.1 via 127\.0\.0\.1:\d+ room=tls name=watcher", line)
                   for line in server.stderr_lines), server.log_tail()


def test_an_event_stream_through_caddy_is_not_buffered():
    """docs/deploy.md: Caddy needs no setting for GET /events. Each event reaches a curl -N reader through
    Caddy (TLS) before the next is published, so nothing waits in a proxy buffer; the keepalive comes
    through too, and a reconnect's Last-Event-ID resumes through the proxy."""
    if not os.path.exists(CADDY):
        raise harness.Skip(f"{CADDY} is not installed (apt-get install caddy)")
    with harness.ChatServer("subscriber: { ping_interval: 1s }\n") as server, Caddy(server.port) as caddy:
        async def read_event(stream):
            """The next event's fields ({"id":..., "event":..., "data":...}); None for a comment block."""
            fields = {}
            while True:
                line = await asyncio.wait_for(stream.readline(), 5)
                assert line, f"the stream ended; fields so far {fields}"
                line = line.decode().rstrip("\n")
                if line == "":
                    return fields or None
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = fields[name] + "\n" + value if name in fields else value

        async def reader(query, *headers):
            args = ["curl", "-sSN", "--cacert", caddy.root_cert, "--max-time", "30"]
            for header in headers:
                args += ["-H", header]
            return await asyncio.create_subprocess_exec(*args, caddy.https("/events?" + query),
                                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        async def scenario():
            loop = asyncio.get_running_loop()
            first = await reader("room=sse-tls&format=text")
            last_id = None
            try:
                await asyncio.sleep(0.3)  # the stream is open (curl prints nothing before an event)
                for n in range(5):
                    response = await loop.run_in_executor(None, lambda: harness.curl(
                        caddy.https("/publish?room=sse-tls"), "--cacert", caddy.root_cert, "-X", "POST",
                        "--data", f"through #{n}"))
                    assert response.status == 202, response
                    started = time.monotonic()
                    event = await read_event(first.stdout)
                    while event is None:  # a keepalive came first
                        event = await read_event(first.stdout)
                    assert event["data"] == f"through #{n}", event
                    assert time.monotonic() - started < 2, "the event waited in Caddy"
                    last_id = event["id"]
                # An idle stream gets its keepalive through Caddy within the interval (1 s).
                started = time.monotonic()
                assert await read_event(first.stdout) is None
                assert time.monotonic() - started < 2.5
            finally:
                first.kill()
                await first.wait()
            await loop.run_in_executor(None, lambda: harness.curl(
                caddy.https("/publish?room=sse-tls"), "--cacert", caddy.root_cert, "-X", "POST",
                "--data", "while away"))
            again = await reader("room=sse-tls&format=text", f"Last-Event-ID: {last_id}")
            try:
                recovered = await read_event(again.stdout)
                assert recovered["event"] == "recovered" and "id" not in recovered, recovered
                assert json.loads(recovered["data"])["complete"] is True, recovered
                missed = await read_event(again.stdout)
                assert missed["data"] == "while away", missed
                # Same epoch, the next id or the one after: the first reader's leave (which a text stream
                # skips) may be numbered before or after the publish, as Caddy passes its end on.
                epoch, _, number = last_id.rpartition(":")
                missed_epoch, _, missed_number = missed["id"].rpartition(":")
                assert missed_epoch == epoch, (last_id, missed)
                assert int(missed_number) in (int(number) + 1, int(number) + 2), (last_id, missed)
            finally:
                again.kill()
                await again.wait()
        harness.run_async(scenario)


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
