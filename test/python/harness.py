"""The shared harness of the python suites: a chatd process on a free loopback port with a config of the
test's own, clients that are not chatd's code (python3-websockets 10.x on asyncio, the curl command), the
checks every suite makes of an event or an error body, and the runner that prints one line per test.

A suite imports this module (and the standard library and websockets), defines test_* functions and ends
with `sys.exit(harness.main(globals()))`; main() reads the binary's path from the command line into CHATD,
so read it as `harness.CHATD`, never copy it at import time.
"""

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import websockets
import websockets.exceptions

CHATD = None  # path of the binary under test, set from argv in main()

# The repository's static folder, served by the static-file tests.
STATIC_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "static"))

STARTUP_TIMEOUT = 5.0  # seconds to wait for "listening on"
SHUTDOWN_TIMEOUT = 5.0  # seconds to wait for exit after SIGTERM (the 1001 test asserts a tighter 2 s)
RECV_TIMEOUT = 3.0  # seconds to wait for one WebSocket message
TEST_TIMEOUT = 20.0  # overall bound on each async test body
CURL_MAX_TIME = 5  # curl --max-time, seconds

LISTENING_RE = re.compile(r"listening on [0-9.]+:(\d+)")
ADMIN_LISTENING_RE = re.compile(r"admin listening on [0-9.]+:(\d+)")

# Lifts the publish rate limiter (the default is 10/s with a burst of 8), for tests that publish many messages.
FAST_PUBLISH = "publish: { rate: 100000, burst: 100000 }\n"


# --------------------------------------------------------------------------------------------------
# Server fixture
# --------------------------------------------------------------------------------------------------



def admin_yaml(extra_yaml):
    """The admin listener on a free port (its default, 9280, would be shared by every test running at once),
    unless the test's own YAML configures it."""
    if extra_yaml.startswith("admin:") or "\nadmin:" in extra_yaml:
        return ""
    return 'admin: { listen: "127.0.0.1:0" }\n'


def with_admin(extra_yaml):
    """extra_yaml, then admin_yaml's line: last, so that the lines a config error names stay where the test
    wrote them."""
    if not admin_yaml(extra_yaml):
        return extra_yaml
    return (extra_yaml + "\n" if extra_yaml and not extra_yaml.endswith("\n") else extra_yaml) + admin_yaml(extra_yaml)

class ChatServer:
    """One chatd process on a free loopback port, with a config written to its own temp dir.

    Use as a context manager: the server is started on entry and stopped with SIGTERM on exit, and
    stopping asserts that chatd exited with status 0 (a crash or hang on shutdown fails the test).
    """

    def __init__(self, extra_yaml=""):
        self._dir = tempfile.TemporaryDirectory(prefix="chatd-test-")
        self.config_path = os.path.join(self._dir.name, "chat.yaml")
        # The folder the default static.root names, which chatd requires; empty, so nothing stray is served.
        os.mkdir(os.path.join(self._dir.name, "static"))
        # Two threads: enough to exercise the multi-threaded paths without hogging a shared machine.
        # A test that writes its own server: section gives its threads too.
        own_server = extra_yaml.startswith("server:") or "\nserver:" in extra_yaml
        config = ("listen: { address: 127.0.0.1, port: 0 }\n" + ("" if own_server else "server: { threads: 2 }\n")
                  + with_admin(extra_yaml))
        self._admin_added = bool(admin_yaml(extra_yaml))  # then start() waits for its port too
        self.admin_port = None
        with open(self.config_path, "w") as f:
            f.write(config)
        self.cwd = None  # chatd's working directory: None for the test's own
        self.process = None
        self.port = None
        self.stderr_lines = []  # everything chatd logged, kept for failure messages
        self._lines = queue.Queue()
        self._reader = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            # __exit__ is not called when __enter__ fails, so clean up the process and temp dir here.
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.process is not None and self.process.poll() is None:
                code = self.stop()
                # Only report a bad exit if the test itself passed; otherwise keep the first error.
                if exc_type is None:
                    assert code == 0, f"chatd exited with {code} after SIGTERM; log tail:\n{self.log_tail()}"
        finally:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._dir.cleanup()

    def start(self):
        self.port = self.admin_port = None
        self.process = subprocess.Popen(
            [CHATD, "--config", self.config_path],
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # A background reader drains stderr for the whole run so chatd never blocks on a full pipe.
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.process.kill()
                raise AssertionError(f"chatd did not log 'listening on' within {STARTUP_TIMEOUT}s:\n{self.log_tail()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:  # EOF: chatd died during start-up
                code = self.process.wait()
                raise AssertionError(f"chatd exited with {code} during start-up:\n{self.log_tail()}")
            # "admin listening on" comes after "listening on", which LISTENING_RE would also find in it.
            match = ADMIN_LISTENING_RE.search(line)
            if match:
                self.admin_port = int(match.group(1))
            elif self.port is None and (match := LISTENING_RE.search(line)):
                self.port = int(match.group(1))
                assert self.port > 0, line
            if self.port is not None and (self.admin_port is not None or not self._admin_added):
                return

    def _read_stderr(self):
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def stop(self, timeout=SHUTDOWN_TIMEOUT):
        """SIGTERM the server and return its exit status (None if it did not exit in time)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines=20):
        return "\n".join(self.stderr_lines[-lines:])

    def http(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def ws(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def admin(self, path):
        return f"http://127.0.0.1:{self.admin_port}{path}"


# --------------------------------------------------------------------------------------------------
# Client helpers
# --------------------------------------------------------------------------------------------------


class CurlResponse:
    def __init__(self, status, headers, body, time_total, interim):
        self.status = status
        self.interim = interim  # statuses of interim responses before the final one, e.g. [100]
        self.headers = headers  # final response's headers, names lower-cased
        self.body = body  # bytes
        self.time_total = time_total  # seconds, as measured by curl

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:200]!r}>"


def wait_until(condition, timeout, what, interval=0.02):
    """Poll condition() until it returns something true; return that, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(interval)


def curl(url, *args):
    """Run curl against url with extra args; return the final response (after any 100 Continue)."""
    with tempfile.TemporaryDirectory(prefix="chatd-curl-") as tmp:
        header_file = os.path.join(tmp, "headers")
        body_file = os.path.join(tmp, "body")
        command = ["curl", "-sS", "--max-time", str(CURL_MAX_TIME), "-D", header_file, "-o", body_file,
                   "-w", "%{http_code} %{time_total}", *args, url]
        result = subprocess.run(command, capture_output=True, timeout=CURL_MAX_TIME + 5)
        assert result.returncode == 0, f"curl failed ({result.returncode}): {result.stderr.decode()!r}"
        status_text, time_text = result.stdout.decode().split()
        with open(header_file, "rb") as f:
            header_dump = f.read().decode("latin-1")
        body = b""
        if os.path.exists(body_file):
            with open(body_file, "rb") as f:
                body = f.read()
    # The dump holds one block per response (an interim "100 Continue", then the final one).
    blocks = [b for b in re.split(r"\r?\n\r?\n", header_dump) if b.strip()]
    headers = {}
    for line in blocks[-1].splitlines()[1:] if blocks else []:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    interim = [int(b.split()[1]) for b in blocks[:-1]]
    return CurlResponse(int(status_text), headers, body, float(time_text), interim)


def post(server, query, data, *args):
    """POST data (str) to the publish route with curl --data."""
    return curl(server.http("/publish" + query), "-X", "POST", "--data", data, *args)


def connect(server, query="", **kwargs):
    """Open a WebSocket to the subscribe route.

    Client pings are off so the only pings are the ones a test sends; max_size=None so that the
    server, not the client, is the one enforcing message limits.
    """
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("close_timeout", 2)
    kwargs.setdefault("open_timeout", 5)
    return websockets.connect(server.ws("/subscribe" + query), **kwargs)


async def recv(ws, timeout=RECV_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def recv_json(ws, timeout=RECV_TIMEOUT):
    frame = await recv(ws, timeout)
    assert isinstance(frame, str), f"expected a text frame, got {frame!r}"
    return json.loads(frame)


async def close_code_after(ws, timeout=RECV_TIMEOUT):
    """Read until the server closes the connection; return the close code it sent."""
    async def drain():
        try:
            while True:
                await ws.recv()
        except websockets.exceptions.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
    return await asyncio.wait_for(drain(), timeout)


async def acurl(url, *args):
    """curl from async code without blocking the event loop (the WebSocket clients keep running)."""
    return await asyncio.get_running_loop().run_in_executor(None, lambda: curl(url, *args))


async def apost(server, query, data, *args):
    return await acurl(server.http("/publish" + query), "-X", "POST", "--data", data, *args)


def now_ms():
    return time.time() * 1000


def assert_event(event, *, id, room, name, text):
    """An event must have exactly the documented fields, with these values and a current timestamp."""
    assert set(event) == {"id", "room", "type", "name", "text", "ts"}, f"fields: {sorted(event)}"
    assert event["id"] == id, f"id {event['id']!r} != {id!r}: {event}"
    assert event["room"] == room, event
    assert event["type"] == "message", event
    assert event["name"] == name, event
    assert event["text"] == text, event
    assert isinstance(event["ts"], int), event
    assert abs(event["ts"] - now_ms()) < 5000, f"ts {event['ts']} is not within 5 s of now {now_ms():.0f}"


def run_async(coro_fn):
    """Run an async test body with a hard time bound."""
    asyncio.run(asyncio.wait_for(coro_fn(), TEST_TIMEOUT))



def assert_json_error(response, status):
    assert response.status == status, response
    error = response.json()
    assert isinstance(error, dict) and set(error) == {"error"}, error
    assert isinstance(error["error"], str) and error["error"], error


# --------------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------------


class Skip(Exception):
    """Raised by a test that cannot run here (say why); counted as skipped, not passed."""


def proc_status_bytes(pid, field):
    """A size from /proc/PID/status (VmRSS, VmSize, ...), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def server_rss(server):
    """The server process's resident memory, in bytes."""
    return proc_status_bytes(server.process.pid, "VmRSS")


def sanitizer_build():
    """Whether CHATD is an AddressSanitizer build. Its allocator keeps freed memory in a quarantine (256 MiB
    by default) and does not hand it back, so RSS there says nothing about what chatd itself holds: tests
    assert memory bounds only on other builds, and everything else on every build."""
    global _sanitizer_build
    if _sanitizer_build is None:
        with open(CHATD, "rb") as binary:
            _sanitizer_build = b"__asan_init" in binary.read()
    return _sanitizer_build


_sanitizer_build = None


def assert_memory_bound(growth, bound, what):
    """growth < bound, in bytes, except under AddressSanitizer (see sanitizer_build), where it is only shown."""
    if sanitizer_build():
        print(f"  {what}: {growth / (1024 * 1024):.1f} MiB, not asserted under AddressSanitizer (its quarantine "
              f"keeps freed memory)", flush=True)
        return
    assert growth < bound, f"{what}: RSS grew {growth / (1024 * 1024):.1f} MiB, bound {bound / (1024 * 1024):.1f} MiB"


def run_tests(namespace):
    """Runs every test_* function of a module's globals; prints one line each, then the totals."""
    tests = [(name, fn) for name, fn in namespace.items() if name.startswith("test_") and callable(fn)]
    passed = failed = skipped = 0
    for name, fn in tests:
        try:
            fn()
        except Skip as why:
            skipped += 1
            print(f"skip {name}: {why}", flush=True)
        except Exception as error:  # AssertionError or anything unexpected: both are failures
            failed += 1
            detail = str(error) or type(error).__name__
            print(f"FAIL {name}: {type(error).__name__}: {detail}", flush=True)
            if os.environ.get("VERBOSE"):
                traceback.print_exc()
        else:
            passed += 1
            print(f"ok {name}", flush=True)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""), flush=True)
    if failed:
        return 1
    return 77 if skipped and not passed else 0  # 77: meson counts the suite as skipped, not passed


def main(namespace):
    """The command line of every python suite: `SUITE /path/to/chatd`; runs the suite's tests."""
    global CHATD
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} /path/to/chatd", file=sys.stderr)
        return 2
    CHATD = os.path.abspath(sys.argv[1])
    return run_tests(namespace)
