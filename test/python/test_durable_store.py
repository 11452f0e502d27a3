#!/usr/bin/python3
"""Black-box tests of chatd's durable history (the `history:` config section and the SQLite store).

The server is driven over HTTP (Python's http.client with keep-alive, and curl) and its database is
inspected with Python's own sqlite3 module, never through chatd's code. Servers are restarted on the same
folder to check what survives a clean shutdown (SIGTERM) and a crash (SIGKILL).

Uses the server fixture and client helpers of harness.py.

Usage: /usr/bin/python3 test/python/test_durable_store.py /path/to/chatd

Prints one line per test ("ok NAME" or "FAIL NAME: why"), then "N passed, M failed"; exits 1 if any
test failed.
"""

import asyncio
import contextlib
import http.client
import json
import os
import queue
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HTTP_TIMEOUT = 5.0  # seconds, per request
FAILED_START_TIMEOUT = 5.0  # a refused start must end within this
UNCLEAN_SKIP = 100000  # ids skip this far ahead after a run that did not close the store


# --------------------------------------------------------------------------------------------------
# Server fixture: one folder, many runs
# --------------------------------------------------------------------------------------------------


class _KeepFolder:
    """Stands in for ChatServer's TemporaryDirectory: the folder outlives one run, the test removes it."""

    def __init__(self, name):
        self.name = name

    def cleanup(self):
        pass


class StoreServer(harness.ChatServer):
    """A ChatServer whose chat.yaml (and so the default chat.db) lives in a folder the test owns.

    Several StoreServers on the same folder, one after the other, are restarts of the same server on the
    same database. chatd runs in `cwd` (by default a folder of its own) so that a history.path resolved
    against the working directory instead of the config's folder would be noticed.
    """

    def __init__(self, folder, history_yaml="", extra_yaml=harness.FAST_PUBLISH, cwd=None, port=0):
        # Deliberately not calling ChatServer.__init__: it would make a temp dir of its own.
        self._dir = _KeepFolder(folder)
        self.folder = folder
        self.cwd = cwd or folder
        self.config_path = os.path.join(folder, "chat.yaml")
        os.makedirs(os.path.join(folder, "static"), exist_ok=True)  # for the default static.root, as ChatServer
        config = f"listen: {{ address: 127.0.0.1, port: {port} }}\nserver: {{ threads: 2 }}\n" + extra_yaml
        if history_yaml:
            config += "history:\n" + "".join(f"  {line}\n" for line in history_yaml.strip().splitlines())
        self._admin_added = bool(harness.admin_yaml(config))  # as ChatServer: start() waits for its port
        self.admin_port = None
        config = harness.with_admin(config)
        with open(self.config_path, "w") as f:
            f.write(config)
        self.process = None
        self.port = None
        self.stderr_lines = []
        self._lines = queue.Queue()
        self._reader = None

    def __enter__(self):
        # A server already started by hand (to see whether it starts at all) is only stopped on exit.
        if self.process is None:
            return super().__enter__()
        return self

    def db_path(self, name="chat.db"):
        return os.path.join(self.folder, name)

    def log_text(self):
        return "\n".join(self.stderr_lines)

    def stop_cleanly(self):
        code = self.stop()
        assert code == 0, f"chatd exited with {code} after SIGTERM; log tail:\n{self.log_tail()}"

    def crash(self):
        """SIGKILL: no chance to flush or close anything."""
        self.process.kill()
        self.process.wait()


def log_says_unclean(server):
    return "did not close" in server.log_text()


# --------------------------------------------------------------------------------------------------
# HTTP helpers (http.client keeps one connection alive per client, so hundreds of requests are cheap)
# --------------------------------------------------------------------------------------------------


class Client:
    def __init__(self, server):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)

    def close(self):
        self.conn.close()

    def request(self, method, path, body=None):
        headers = {"Content-Type": "text/plain; charset=utf-8"} if body is not None else {}
        self.conn.request(method, path, body=body.encode("utf-8") if body is not None else None, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data

    def publish(self, room, text, name="tester"):
        """POST one message; returns the id of a 202 and fails on anything else."""
        status, data = self.request("POST", f"/publish?room={room}&name={name}", text)
        assert status == 202, f"publish to {room} answered {status}: {data!r}"
        answer = json.loads(data)
        assert answer.get("room") == room and isinstance(answer.get("id"), int), answer
        return answer["id"]

    def history(self, room, limit=None, before=None):
        """GET /history; returns (status, parsed body or raw bytes)."""
        query = f"?room={room}"
        if limit is not None:
            query += f"&limit={limit}"
        if before is not None:
            query += f"&before={before}"
        status, data = self.request("GET", "/history" + query)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data


@contextlib.contextmanager
def client(server):
    c = Client(server)
    try:
        yield c
    finally:
        c.close()


def full_history(server, room, page=50):
    """Every retained event of the room, oldest first, paging back with `before`; also returns the epoch.

    Checks the paging contract on the way: each page is ascending and ends just before the previous one.
    """
    events = []
    epoch = None
    before = None
    with client(server) as c:
        for _ in range(1000):
            status, body = c.history(room, limit=page, before=before)
            assert status == 200, f"/history?room={room}&before={before} answered {status}: {body!r}"
            assert set(body) == {"room", "epoch", "events", "next_before"}, body
            assert body["room"] == room, body
            assert epoch is None or body["epoch"] == epoch, f"epoch changed while paging: {body['epoch']} != {epoch}"
            epoch = body["epoch"]
            page_ids = [e["id"] for e in body["events"]]
            assert page_ids == sorted(page_ids) and len(set(page_ids)) == len(page_ids), page_ids
            assert len(page_ids) <= page, page_ids
            if events and page_ids:
                assert page_ids[-1] < events[0]["id"], f"page {page_ids} overlaps the later page from {events[0]['id']}"
            events = body["events"] + events
            if body["next_before"] is None:
                return epoch, events
            assert body["events"], f"empty page but next_before={body['next_before']}"
            assert body["next_before"] == page_ids[0], body
            before = body["next_before"]
    raise AssertionError("/history paging did not end")


# --------------------------------------------------------------------------------------------------
# Database helpers
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_db(path, live):
    """A read-only look at chatd's database.

    live: chatd is running, so read the file in place (WAL lets a reader in beside the writer). Otherwise
    chatd is stopped or killed: copy the database and its -wal to a scratch folder first, so that nothing
    this test does (such as SQLite recovering a WAL) can change what the next chatd run finds.
    """
    if live:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            yield conn
        finally:
            conn.close()
        return
    with tempfile.TemporaryDirectory(prefix="chatd-dbcopy-") as scratch:
        copy = os.path.join(scratch, "copy.db")
        shutil.copyfile(path, copy)
        if os.path.exists(path + "-wal"):
            shutil.copyfile(path + "-wal", copy + "-wal")
        conn = sqlite3.connect(copy, timeout=5)
        try:
            yield conn
        finally:
            conn.close()


def db_events(path, room, live):
    with open_db(path, live) as db:
        return db.execute("SELECT id, ts, type, name, text FROM events WHERE room = ? ORDER BY id", (room,)).fetchall()


def db_room(path, room, live):
    """(epoch, newest id committed) of the room, or None. The newest id is the room's newest row in events;
    rooms.last_id holds it only once a trim could delete that row (and after a crash, the skip)."""
    with open_db(path, live) as db:
        return db.execute(
            "SELECT epoch, max(last_id, coalesce((SELECT max(id) FROM events WHERE events.room = rooms.name), 0))"
            " FROM rooms WHERE name = ?", (room,)).fetchone()


def wait_until(condition, timeout, interval=0.02):
    """Poll condition() until it returns something truthy; return that, or the last value on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def run_refused(config_path, cwd, extra_args=()):
    """Run chatd expecting it to refuse to start; returns (exit code, stderr, seconds taken)."""
    started = time.monotonic()
    try:
        result = subprocess.run([harness.CHATD, *extra_args, "--config", config_path], cwd=cwd,
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=FAILED_START_TIMEOUT)
    except subprocess.TimeoutExpired as expired:
        stderr = (expired.stderr or b"").decode("utf-8", "replace")
        raise AssertionError(f"chatd was still running after {FAILED_START_TIMEOUT}s (started instead of "
                             f"refusing?); stderr:\n{stderr}")
    return result.returncode, result.stderr.decode("utf-8", "replace"), time.monotonic() - started


# --------------------------------------------------------------------------------------------------
# Tests: configuration
# --------------------------------------------------------------------------------------------------


def test_bad_history_config_exits_2_with_location():
    bad = [
        ("store", "redis"),
        ("store", "42"),
        ("path", "''"),
        ("max_events", "0"),
        ("max_events", "-5"),
        ("max_events", "lots"),
        ("max_age", "0s"),
        ("max_age", "forever"),
        ("durability", "fast"),
        ("flush_interval", "0ms"),
        ("flush_interval", "500us"),
        ("flush_interval", "11s"),
        ("flush_interval", "soon"),
        ("bogus_key", "1"),
    ]
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        for key, value in bad:
            server = StoreServer(folder, f"{key}: {value}")
            with open(server.config_path) as f:
                line_number = 1 + next(i for i, line in enumerate(f) if line.strip().startswith(f"{key}:"))
            # history.KEY names the key; LINE is the line of that key in the file.
            pattern = re.compile(re.escape(server.config_path) + rf":{line_number}:\d+: history\.{key}: \S")
            for args in ((), ("--check-config",)):
                code, stderr, _ = run_refused(server.config_path, folder, args)
                assert code == 2, f"{key}: {value} {args}: exit {code}, stderr {stderr!r}"
                assert pattern.search(stderr), f"{key}: {value} {args}: no 'FILE:{line_number}:COL: history.{key}:' in {stderr!r}"
        # Boundary values and every documented choice are accepted.
        good = ["store: sqlite", "store: memory", "durability: batch", "durability: sync", "flush_interval: 1ms",
                "flush_interval: 10s", "max_age: 500ms", "max_age: 30d", "max_events: 1", "path: other.db"]
        for line in good:
            server = StoreServer(folder, line)
            result = subprocess.run([harness.CHATD, "--check-config", "--config", server.config_path], cwd=folder,
                                    capture_output=True, timeout=FAILED_START_TIMEOUT)
            assert result.returncode == 0, f"{line!r} rejected: {result.stderr.decode()!r}"


def test_history_path_is_relative_to_config_folder():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder, \
            tempfile.TemporaryDirectory(prefix="chatd-cwd-") as elsewhere:
        # Default path: chat.db beside chat.yaml, even though chatd runs in another folder.
        with StoreServer(folder, cwd=elsewhere) as server:
            with client(server) as c:
                assert c.publish("r", "default path") == 1
            server.stop_cleanly()
        assert os.path.isfile(os.path.join(folder, "chat.db")), os.listdir(folder)
        assert not os.path.exists(os.path.join(elsewhere, "chat.db")), os.listdir(elsewhere)
        assert [row[4] for row in db_events(os.path.join(folder, "chat.db"), "r", live=False)] == ["default path"]
        # A relative history.path, likewise.
        with StoreServer(folder, "path: named.sqlite", cwd=elsewhere) as server:
            with client(server) as c:
                assert c.publish("r", "named path") == 1, "a new database file must start a new history"
            server.stop_cleanly()
        assert os.path.isfile(os.path.join(folder, "named.sqlite")), os.listdir(folder)
        assert not os.path.exists(os.path.join(elsewhere, "named.sqlite")), os.listdir(elsewhere)
        assert [row[4] for row in db_events(os.path.join(folder, "named.sqlite"), "r", live=False)] == ["named path"]


# --------------------------------------------------------------------------------------------------
# Tests: the database file
# --------------------------------------------------------------------------------------------------


def test_threads_are_named_for_top_and_the_benchmark():
    """`top -H` and /proc show what each thread is; the benchmark reads the writer's CPU by its name."""
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder) as server:
            task_dir = f"/proc/{server.process.pid}/task"
            names = []
            for task in os.listdir(task_dir):
                with open(os.path.join(task_dir, task, "comm")) as f:
                    names.append(f.read().strip())
            for expected in ("worker-0", "worker-1", "history-writer", "room-loader", "auth"):
                assert names.count(expected) == 1, (expected, sorted(names))
            server.stop_cleanly()


def test_database_is_wal_with_rooms_events_meta():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, "flush_interval: 20ms") as server:
            async def body():
                # A named subscriber joins (type 1), publishes (type 0) and leaves (type 2).
                async with harness.connect(server, "?room=lobby&name=alice") as ws:
                    await ws.send("hello from ws")
                    event = await harness.recv_json(ws)
                    assert event["text"] == "hello from ws", event
            harness.run_async(body)
            with client(server) as c:
                http_id = c.publish("lobby", "hello from http", name="bob")
                status, hist = c.history("lobby")
                assert status == 200, hist
            kinds = [(e["type"], e["name"], e.get("text")) for e in hist["events"]]
            assert kinds == [("join", "alice", None), ("message", "alice", "hello from ws"),
                             ("leave", "alice", None), ("message", "bob", "hello from http")], kinds
            assert [e["id"] for e in hist["events"]] == [1, 2, 3, 4] and http_id == 4, hist
            for e in hist["events"]:
                expected = {"id", "room", "type", "name", "ts"} | ({"text"} if e["type"] == "message" else set())
                assert set(e) == expected, e

            db = server.db_path()
            rows = wait_until(lambda: db_events(db, "lobby", live=True) if len(db_events(db, "lobby", live=True)) == 4 else None, 2.0)
            assert rows, f"the db does not hold the 4 events: {db_events(db, 'lobby', live=True)}"
            assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
                (1, 1, "alice", ""), (2, 0, "alice", "hello from ws"), (3, 2, "alice", ""), (4, 0, "bob", "hello from http")
            ], rows
            assert [r[1] for r in rows] == [e["ts"] for e in hist["events"]], (rows, hist)
            with open_db(db, live=True) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
                tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                assert {"rooms", "events", "meta"} <= tables, tables
                columns = {t: [row[1] for row in conn.execute(f"PRAGMA table_info({t})")] for t in ("rooms", "events", "meta")}
                assert columns["rooms"] == ["name", "epoch", "last_id"], columns
                assert columns["events"] == ["room", "id", "ts", "type", "name", "text"], columns
                assert columns["meta"] == ["key", "value"], columns
            assert db_room(db, "lobby", live=True) == (hist["epoch"], 4)
            server.stop_cleanly()
        # The file on disk after shutdown is still a WAL database.
        with open(os.path.join(folder, "chat.db"), "rb") as f:
            header = f.read(20)
        assert header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02", header


# --------------------------------------------------------------------------------------------------
# Tests: restarts
# --------------------------------------------------------------------------------------------------


def test_clean_restart_keeps_history_epoch_and_ids():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder) as server:
            with client(server) as c:
                assert [c.publish("r", f"r{i}") for i in range(1, 6)] == [1, 2, 3, 4, 5]
                assert [c.publish("s", f"s{i}") for i in range(1, 3)] == [1, 2]
                status, body = c.history("never-used")
                assert status == 404, (status, body)
            epoch_r, before_r = full_history(server, "r")
            epoch_s, before_s = full_history(server, "s")
            server.stop_cleanly()
        with StoreServer(folder) as server:
            assert not log_says_unclean(server), f"clean shutdown reported as unclean:\n{server.log_text()}"
            # Asked before anything is published: the stored room comes back with its events and epoch.
            epoch, events = full_history(server, "r")
            assert epoch == epoch_r, f"epoch changed over a clean restart: {epoch_r} -> {epoch}"
            assert events == before_r, f"history changed over a clean restart:\n{before_r}\n->\n{events}"
            with client(server) as c:
                status, body = c.history("r", limit=2, before=4)
                assert status == 200 and [e["id"] for e in body["events"]] == [2, 3], body
                assert body["next_before"] == 2, body
                assert c.publish("r", "r6") == 6, "ids must continue after a clean restart, with no skip"
                assert c.publish("s", "s3") == 3
                status, body = c.history("never-used")
                assert status == 404, (status, body)
            epoch, events = full_history(server, "s")
            assert epoch == epoch_s and [e["id"] for e in events] == [1, 2, 3], (epoch, events)
            assert events[:2] == before_s
            server.stop_cleanly()
        # A second clean cycle: still no skip.
        with StoreServer(folder) as server:
            with client(server) as c:
                assert c.publish("r", "r7") == 7
            epoch, events = full_history(server, "r")
            assert epoch == epoch_r and [e["id"] for e in events] == list(range(1, 8)), events
            assert [e["text"] for e in events] == [f"r{i}" for i in range(1, 8)], events


def test_memory_store_forgets_history_on_restart():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, "store: memory") as server:
            with client(server) as c:
                assert [c.publish("r", f"m{i}") for i in range(3)] == [1, 2, 3]
            first_epoch, events = full_history(server, "r")
            assert [e["id"] for e in events] == [1, 2, 3], events
            server.stop_cleanly()
        with StoreServer(folder, "store: memory") as server:
            with client(server) as c:
                status, body = c.history("r")
                assert status == 404, f"store: memory kept room r over a restart: {status} {body}"
                assert c.publish("r", "again") == 1, "ids must restart at 1"
            epoch, events = full_history(server, "r")
            assert epoch != first_epoch, "a new history needs a new epoch"
            assert [(e["id"], e["text"]) for e in events] == [(1, "again")], events
            server.stop_cleanly()
        assert not os.path.exists(os.path.join(folder, "chat.db")), f"store: memory wrote a database: {os.listdir(folder)}"


# --------------------------------------------------------------------------------------------------
# Tests: durability: batch
# --------------------------------------------------------------------------------------------------


def test_batch_commits_within_flush_interval():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, "durability: batch\nflush_interval: 300ms") as server:
            db = server.db_path()
            with client(server) as c:
                for round_number in range(1, 4):
                    id = c.publish("r", f"batch {round_number}")
                    acked = time.monotonic()
                    found = wait_until(lambda: any(row[0] == id for row in db_events(db, "r", live=True)), 1.5)
                    waited = time.monotonic() - acked
                    assert found, f"event {id} not in the db 1.5 s after its 202 (flush_interval 300ms)"
                    # 300 ms, plus generous slack for a loaded 2-core machine.
                    assert waited < 1.0, f"event {id} took {waited:.2f}s to reach the db (flush_interval 300ms)"
                    time.sleep(0.1)


def test_batch_sigterm_stores_everything():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        # A 10 s flush interval: nothing would be committed yet if shutdown did not flush.
        with StoreServer(folder, "durability: batch\nflush_interval: 10s") as server:
            with client(server) as c:
                ids_a = [c.publish("a", f"a{i}") for i in range(30)]
                ids_b = [c.publish("b", f"b{i}") for i in range(20)]
            assert ids_a == list(range(1, 31)) and ids_b == list(range(1, 21)), (ids_a, ids_b)
            epoch_a, _ = full_history(server, "a")
            server.stop_cleanly()
        db = os.path.join(folder, "chat.db")
        assert [(r[0], r[4]) for r in db_events(db, "a", live=False)] == [(i + 1, f"a{i}") for i in range(30)]
        assert [(r[0], r[4]) for r in db_events(db, "b", live=False)] == [(i + 1, f"b{i}") for i in range(20)]
        assert db_room(db, "a", live=False) == (epoch_a, 30)
        with StoreServer(folder, "durability: batch\nflush_interval: 10s") as server:
            assert not log_says_unclean(server), server.log_text()
            with client(server) as c:
                assert c.publish("a", "a30") == 31
                assert c.publish("b", "b20") == 21
            epoch, events = full_history(server, "a")
            assert epoch == epoch_a and [e["text"] for e in events] == [f"a{i}" for i in range(31)], events


def test_batch_crash_loses_unflushed_but_never_reuses_ids():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        db = os.path.join(folder, "chat.db")
        with StoreServer(folder) as server:
            with client(server) as c:
                assert [c.publish("a", f"a{i}") for i in range(1, 6)] == [1, 2, 3, 4, 5]
                assert [c.publish("b", f"b{i}") for i in range(1, 3)] == [1, 2]
            epoch_a, _ = full_history(server, "a")
            server.stop_cleanly()
        with StoreServer(folder, "durability: batch\nflush_interval: 10s") as server:
            with client(server) as c:
                # Acknowledged, but a 10 s flush interval has certainly not passed before the kill.
                assert [c.publish("a", f"lost{i}") for i in range(3)] == [6, 7, 8]
                assert c.publish("b", "lost") == 3
            server.crash()
        assert db_room(db, "a", live=False) == (epoch_a, 5), "the unflushed events were committed after all?"
        with StoreServer(folder) as server:
            assert log_says_unclean(server), f"no 'did not close' warning after kill -9:\n{server.log_text()}"
            with client(server) as c:
                # Next id = last stored id + 100000 + 1, in every room: ids 6..8 and 3, seen by clients, stay unused.
                assert c.publish("a", "after crash") == 5 + UNCLEAN_SKIP + 1
                assert c.publish("b", "after crash") == 2 + UNCLEAN_SKIP + 1
                assert c.publish("a", "after crash 2") == 5 + UNCLEAN_SKIP + 2
            expected = [(i, f"a{i}") for i in range(1, 6)] + \
                [(5 + UNCLEAN_SKIP + 1, "after crash"), (5 + UNCLEAN_SKIP + 2, "after crash 2")]
            # One event per page: paging back with `before` must step over the gap in the ids too.
            epoch, events = full_history(server, "a", page=1)
            assert epoch == epoch_a, "the epoch must survive a crash"
            assert [(e["id"], e["text"]) for e in events] == expected, \
                f"stored history lost or changed after the crash: {[(e['id'], e['text']) for e in events]}"
            server.stop_cleanly()
        # The run after a clean shutdown does not skip again.
        with StoreServer(folder) as server:
            assert not log_says_unclean(server), server.log_text()
            with client(server) as c:
                assert c.publish("a", "later") == 5 + UNCLEAN_SKIP + 3
            _, events = full_history(server, "a")
            assert [e["id"] for e in events] == [e[0] for e in expected] + [5 + UNCLEAN_SKIP + 3], events


def test_paging_and_recovery_step_over_the_id_gap_of_a_crash():
    """After a crash ids skip ahead: `before` paging and since= replay must step over the gap exactly."""
    # A max_events far above every id, so that retention cannot be what hides events here.
    yaml = "durability: sync\nmax_events: 100000000"
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, yaml) as server:
            with client(server) as c:
                assert [c.publish("r", f"m{i}") for i in range(1, 6)] == [1, 2, 3, 4, 5]
            server.crash()
        with StoreServer(folder, yaml) as server:
            assert log_says_unclean(server), server.log_text()
            gap = 5 + UNCLEAN_SKIP
            with client(server) as c:
                assert [c.publish("r", f"m{gap + i}") for i in (1, 2, 3)] == [gap + 1, gap + 2, gap + 3]
                all_ids = [1, 2, 3, 4, 5, gap + 1, gap + 2, gap + 3]
                status, body = c.history("r")
                assert status == 200 and [e["id"] for e in body["events"]] == all_ids, body
                epoch = body["epoch"]
                # `before` is exclusive: exactly the events with smaller ids, the newest `limit` of them.
                for before in all_ids + [gap + 4]:
                    for limit in (1, 3, 100):
                        status, body = c.history("r", limit=limit, before=before)
                        want = [i for i in all_ids if i < before][-limit:]
                        got = [e["id"] for e in body["events"]]
                        assert status == 200 and got == want, f"before={before} limit={limit}: got {got}, want {want}"

            async def replay_after(since):
                url = server.ws(f"/subscribe?room=r&since={since}&epoch={epoch}")
                async with websockets.connect(url, ping_interval=None) as ws:
                    recovered = json.loads(await asyncio.wait_for(ws.recv(), 3))
                    assert recovered == {"type": "recovered", "room": "r", "epoch": epoch, "complete": True,
                                         "max_message_size": 65536}, recovered
                    ids = []
                    while True:
                        try:
                            ids.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5))["id"])
                        except asyncio.TimeoutError:
                            return ids

            for since in (0, 3, 5, 7, gap, gap + 1, gap + 3):
                got = asyncio.run(replay_after(since))
                assert got == [i for i in all_ids if i > since], f"since={since}: got {got}"


# --------------------------------------------------------------------------------------------------
# Tests: durability: sync
# --------------------------------------------------------------------------------------------------


SYNC_YAML = "durability: sync"


def publish_concurrently(server, room, threads, per_thread, stop=None):
    """Publish from several clients at once (one of them curl); returns {id: text} of every 202 seen.

    With `stop` (an Event), each client keeps publishing until it is set or its connection fails (the
    server was killed); otherwise each publishes `per_thread` messages and any failure is an error.
    """
    acked = {}
    errors = []
    lock = threading.Lock()

    def record(id, text):
        with lock:
            assert id not in acked, f"id {id} given twice ({acked[id]!r} and {text!r})"
            acked[id] = text

    def http_worker(n):
        try:
            c = Client(server)
            try:
                i = 0
                while (stop is None and i < per_thread) or (stop is not None and not stop.is_set()):
                    text = f"w{n}-{i}"
                    try:
                        id = c.publish(room, text, name=f"w{n}")
                    except (OSError, http.client.HTTPException):
                        if stop is None:
                            raise
                        return  # the server was killed
                    record(id, text)
                    i += 1
            finally:
                c.close()
        except BaseException as error:  # reported by the caller
            errors.append(error)

    def curl_worker(n):
        try:
            i = 0
            while (stop is None and i < per_thread) or (stop is not None and not stop.is_set()):
                text = f"curl{n}-{i}"
                try:
                    response = harness.curl(server.http(f"/publish?room={room}&name=c{n}"), "-X", "POST", "--data", text)
                except AssertionError:
                    if stop is None:
                        raise
                    return
                if stop is not None and response.status != 202:
                    return
                assert response.status == 202, response
                record(response.json()["id"], text)
                i += 1
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=curl_worker if n == 0 else http_worker, args=(n,)) for n in range(threads)]
    return acked, errors, workers, lock


def check_acked_survived_crash(folder, db, room, acked, epoch, detail=""):
    """After a kill -9 in sync mode: every 202'd id is on disk, and comes back after a restart."""
    on_disk = {row[0]: row[4] for row in db_events(db, room, live=False)}
    missing = sorted(set(acked) - set(on_disk))
    assert not missing, f"{len(missing)} acknowledged ids not in the db after kill -9 {detail}: {missing[:10]}"
    for id, text in acked.items():
        assert on_disk[id] == text, f"id {id}: db has {on_disk[id]!r}, the 202 was for {text!r}"
    stored_epoch, last_id = db_room(db, room, live=False)
    assert stored_epoch == epoch and last_id >= max(acked), (stored_epoch, last_id, max(acked))

    with StoreServer(folder, SYNC_YAML) as server:
        assert log_says_unclean(server), f"no 'did not close' warning after kill -9:\n{server.log_text()}"
        got_epoch, events = full_history(server, room)
        assert got_epoch == epoch, f"epoch changed over a crash: {epoch} -> {got_epoch}"
        served = {e["id"]: e.get("text") for e in events}
        missing = sorted(set(acked) - set(served))
        assert not missing, (f"{len(missing)} of {len(acked)} acknowledged ids missing from /history after "
                             f"kill -9 and restart {detail} (served ids: {sorted(served)[:5]}..., "
                             f"{len(served)} events): first missing {missing[:10]}")
        for id, text in acked.items():
            assert served[id] == text, (id, served[id], text)
        with client(server) as c:
            next_id = c.publish(room, "after the crash")
        assert next_id == last_id + UNCLEAN_SKIP + 1, f"next id {next_id}, expected {last_id} + {UNCLEAN_SKIP} + 1"
        _, events = full_history(server, room)
        ids = [e["id"] for e in events]
        assert set(acked) <= set(ids) and ids[-1] == next_id, f"after publishing again: {ids[:5]}...{ids[-5:]}"
        # sync: committed before its 202, so the db holds the new event, and still every old one.
        on_disk = {row[0] for row in db_events(db, room, live=True)}
        missing = sorted((set(acked) | {next_id}) - on_disk)
        assert not missing, f"{len(missing)} ids gone from the db after the first commit since the restart: {missing[:10]}"
        server.stop_cleanly()


def test_sync_every_acked_publish_survives_kill_after_last_202():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, SYNC_YAML) as server:
            db = server.db_path()
            acked = {}
            with client(server) as c:
                for i in range(100):
                    id = c.publish("r", f"seq-{i}")
                    acked[id] = f"seq-{i}"
                    if i % 10 == 0:
                        # sync: the 202 comes after the commit, so the event is readable at once.
                        rows = db_events(db, "r", live=True)
                        assert rows and rows[-1][0] == id, f"event {id} answered 202 but not yet in the db: {rows[-3:]}"
            assert sorted(acked) == list(range(1, 101)), sorted(acked)
            epoch, _ = full_history(server, "r")
            concurrent, errors, workers, _ = publish_concurrently(server, "r", threads=4, per_thread=25)
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            server.crash()  # right after the last 202
            assert not errors, f"publishers failed: {errors}"
            assert len(concurrent) == 100 and not set(concurrent) & set(acked), sorted(concurrent)
            acked.update(concurrent)
            assert sorted(acked) == list(range(1, 201)), "ids are not 1..200"
        check_acked_survived_crash(folder, db, "r", acked, epoch, "(after the last 202)")


def test_sync_every_acked_publish_survives_kill_at_random_moment():
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, SYNC_YAML) as server:
            db = server.db_path()
            with client(server) as c:
                first = c.publish("r", "first")
            epoch, _ = full_history(server, "r")
            stop = threading.Event()
            acked, errors, workers, lock = publish_concurrently(server, "r", threads=4, per_thread=None, stop=stop)
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.2, 0.7))
            server.crash()  # while the clients keep publishing
            stop.set()
            for w in workers:
                w.join(10)
            assert not any(w.is_alive() for w in workers), "a publisher hung after the kill"
            assert not errors, f"publishers failed (seed {seed}): {errors}"
            with lock:
                acked = dict(acked)
            acked[first] = "first"
            assert len(acked) > 10, f"only {len(acked)} publishes answered before the kill (seed {seed})"
        check_acked_survived_crash(folder, db, "r", acked, epoch, f"(random kill, seed {seed}, {len(acked)} acked)")


# --------------------------------------------------------------------------------------------------
# Tests: damaged or unusable databases
# --------------------------------------------------------------------------------------------------


def assert_refused(folder, path_in_message, history_yaml, why=None):
    server = StoreServer(folder, history_yaml)
    code, stderr, elapsed = run_refused(server.config_path, folder)
    assert code == 2, f"exit {code} (expected 2) for {history_yaml!r}; stderr {stderr!r}"
    assert "history.path" in stderr and path_in_message in stderr, \
        f"stderr does not name history.path and {path_in_message!r}: {stderr!r}"
    if why:
        assert why in stderr, f"stderr does not say {why!r}: {stderr!r}"
    return stderr


def test_garbage_database_file_exits_2():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        db = os.path.join(folder, "chat.db")
        for garbage in (b"this is not a database\n" * 400, random.Random(7).randbytes(8192)):
            with open(db, "wb") as f:
                f.write(garbage)
            assert_refused(folder, db, "", why="not a database")
            with open(db, "rb") as f:
                assert f.read() == garbage, "chatd changed the garbage file"
            assert not os.path.exists(db + "-wal"), "chatd wrote a WAL beside a file that is not a database"


def test_unopenable_history_path_exits_2():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        plain_file = os.path.join(folder, "plain-file")
        with open(plain_file, "w") as f:
            f.write("a regular file, not a folder\n")
        for path in ("/proc/nonexistent-dir/chat.db", os.path.join(plain_file, "chat.db"),
                     os.path.join(folder, "no-such-folder", "chat.db"), folder):
            assert_refused(folder, path, f"path: {json.dumps(path)}")
        with open(plain_file) as f:
            assert f.read() == "a regular file, not a folder\n"


def make_real_database(folder, events=300):
    """Let chatd build a database holding `events` messages in room r; returns the file's bytes."""
    with StoreServer(folder) as server:
        with client(server) as c:
            for i in range(1, events + 1):
                assert c.publish("r", f"message {i:04d} " + "x" * 60) == i
        server.stop_cleanly()
    db = os.path.join(folder, "chat.db")
    assert not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0, "WAL left after a clean stop"
    with open(db, "rb") as f:
        return f.read()


def test_damaged_database_never_serves_silently_empty_history():
    """A truncated database, or one with garbage in the middle: chatd must refuse to start (exit 2, naming
    history.path) or, if it starts, must not pretend room r is empty or new (no 200 with missing events,
    no reused id)."""
    with tempfile.TemporaryDirectory(prefix="chatd-good-") as good_folder:
        good = make_real_database(good_folder)
    page = 4096
    pages = len(good) // page
    assert pages >= 8, f"database unexpectedly small ({len(good)} bytes)"
    middle = pages // 2
    variants = {
        "truncated to half": good[: (pages // 2) * page],
        "truncated to 2 pages": good[: 2 * page],
        "truncated mid-page": good[: len(good) - page - 1000],
        "zeroed middle pages": good[: (middle - 1) * page] + bytes(3 * page) + good[(middle + 2) * page:],
        "garbage middle pages": good[: (middle - 1) * page] + random.Random(3).randbytes(3 * page) + good[(middle + 2) * page:],
    }
    outcomes = []
    for label, content in variants.items():
        with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
            db = os.path.join(folder, "chat.db")
            with open(db, "wb") as f:
                f.write(content)
            server = StoreServer(folder)
            try:
                server.start()
            except AssertionError:
                code = server.process.wait()
                log = server.log_text()
                assert code == 2, f"{label}: exit {code}, expected 2:\n{log}"
                assert "history.path" in log and db in log, f"{label}: message does not name history.path {db}:\n{log}"
                outcomes.append(f"{label}: exit 2")
                continue
            with server:
                with client(server) as c:
                    status, body = c.history("r", limit=1000)
                    if status == 200:
                        ids = [e["id"] for e in body["events"]]
                        assert ids == list(range(1, 301)), \
                            f"{label}: served a damaged history as if complete: {len(ids)} events {ids[:3]}..."
                    else:
                        assert status >= 500, f"{label}: /history answered {status}: {body}"
                        # The line is written before the answer, but reaches us through a pipe and a thread.
                        deadline = time.monotonic() + 3
                        while "history.path" not in server.log_text() and time.monotonic() < deadline:
                            time.sleep(0.02)
                        assert "history.path" in server.log_text(), f"{label}: read failure not logged:\n{server.log_text()}"
                    status, body = c.request("POST", "/publish?room=r&name=t", "after damage")
                    if status == 202:
                        assert json.loads(body)["id"] > 300, f"{label}: id reused after damage: {body!r}"
                outcomes.append(f"{label}: started, /history {status}")
    # Shown with VERBOSE=1, for the report.
    if os.environ.get("VERBOSE"):
        print("  damaged-db outcomes: " + "; ".join(outcomes), flush=True)


# --------------------------------------------------------------------------------------------------
# Tests: retention
# --------------------------------------------------------------------------------------------------


def test_max_events_retention():
    yaml = "max_events: 20\nflush_interval: 20ms"
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, yaml) as server:
            db = server.db_path()
            with client(server) as c:
                assert [c.publish("r", f"m{i}") for i in range(1, 51)] == list(range(1, 51))
                assert c.publish("other", "keeps its own 20") == 1
            epoch, events = full_history(server, "r")
            assert [(e["id"], e["text"]) for e in events] == [(i, f"m{i}") for i in range(31, 51)], \
                [e["id"] for e in events]
            rows = wait_until(lambda: db_events(db, "r", live=True) if db_room(db, "r", live=True)[1] == 50 else None, 2.0)
            assert rows is not None, "last_id 50 never committed"
            assert len(rows) <= 20, f"db holds {len(rows)} events of r, max_events is 20"
            assert [r[0] for r in rows] == list(range(51 - len(rows), 51)), [r[0] for r in rows]
            server.stop_cleanly()
        assert len(db_events(os.path.join(folder, "chat.db"), "r", live=False)) <= 20
        with StoreServer(folder, yaml) as server:
            assert not log_says_unclean(server), server.log_text()
            got_epoch, events = full_history(server, "r")
            assert got_epoch == epoch and [e["id"] for e in events] == list(range(31, 51)), [e["id"] for e in events]
            with client(server) as c:
                assert c.publish("r", "m51") == 51
            _, events = full_history(server, "r")
            assert [e["id"] for e in events] == list(range(32, 52)), [e["id"] for e in events]


def test_max_age_retention():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, "max_age: 2s\nflush_interval: 20ms") as server:
            db = server.db_path()
            with client(server) as c:
                assert [c.publish("r", f"old{i}") for i in range(3)] == [1, 2, 3]
                assert wait_until(lambda: len(db_events(db, "r", live=True)) == 3, 2.0), "old events never committed"
                time.sleep(2.5)
                status, body = c.history("r")
                assert status == 200 and body["events"] == [], f"events older than max_age served: {body}"
                assert c.publish("r", "new") == 4
                status, body = c.history("r")
                assert status == 200 and [(e["id"], e["text"]) for e in body["events"]] == [(4, "new")], body
            rows = wait_until(lambda: (lambda r: r if [x[0] for x in r] == [4] else None)(db_events(db, "r", live=True)), 2.0)
            assert rows, f"expired events still in the db after the next commit: {db_events(db, 'r', live=True)}"
            server.stop_cleanly()


# --------------------------------------------------------------------------------------------------
# Tests: one database, one server; a start that fails changes nothing
# --------------------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_files(folder):
    """The bytes of chat.db and its -wal and -shm, as they are now (None: the file does not exist)."""
    files = {}
    for name in ("chat.db", "chat.db-wal", "chat.db-shm"):
        path = os.path.join(folder, name)
        files[name] = open(path, "rb").read() if os.path.exists(path) else None
    return files


def committed_last_id(db, room, want):
    return wait_until(lambda: (db_room(db, room, live=True) or (None, None))[1] == want, 5.0)


def test_second_server_on_the_same_database_exits_2_and_touches_nothing():
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        db = os.path.join(folder, "chat.db")
        port = free_port()
        with StoreServer(folder, port=port) as first:
            with client(first) as c:
                assert [c.publish("r", f"m{i}") for i in (1, 2, 3)] == [1, 2, 3]
            assert committed_last_id(db, "r", 3), db_room(db, "r", live=True)
            before = database_files(folder)
            # Once on the same port (as `./dev run` twice), once on another: the lock comes before both.
            for port_yaml in (f"listen: {{ address: 127.0.0.1, port: {port} }}\n",
                              "listen: { address: 127.0.0.1, port: 0 }\n"):
                config = os.path.join(folder, "second.yaml")
                with open(config, "w") as f:
                    f.write(port_yaml)
                code, stderr, seconds = run_refused(config, folder)
                assert code == 2, f"second chatd exited {code}: {stderr}"
                assert f"is in use by another chatd (pid {first.process.pid})" in stderr, stderr
                assert "chat.db" in stderr and seconds < 2.0, (stderr, seconds)
                assert "did not close" not in stderr, stderr
            assert database_files(folder) == before, "the refused start changed the database"
            assert not log_says_unclean(first), first.log_text()
            with client(first) as c:
                assert c.publish("r", "still serving") == 4
            first.stop_cleanly()


def test_refused_second_start_then_crash_never_reuses_a_seen_id():
    """The sequence that used to reuse ids: B refused while A runs, then A killed in its commit window."""
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        db = os.path.join(folder, "chat.db")
        port = free_port()
        window = "durability: batch\nflush_interval: 2s"
        a = StoreServer(folder, window, port=port)
        a.start()
        with a:
            code, stderr, _ = run_refused(a.config_path, folder)
            assert code == 2 and "in use by another chatd" in stderr, (code, stderr)

            async def watch_then_crash():
                async with websockets.connect(a.ws("/subscribe?room=fresh&since=0"), ping_interval=None) as ws:
                    recovered = json.loads(await asyncio.wait_for(ws.recv(), 3))
                    epoch = recovered["epoch"]
                    with client(a) as c:
                        stored = [c.publish("fresh", t) for t in ("f1", "f2")]  # after our join's id
                        # Wait out one flush: f1 and f2 are on disk, then the next one is only seen.
                        assert committed_last_id(db, "fresh", stored[-1]), db_room(db, "fresh", live=True)
                        seen_id = c.publish("fresh", "seen-then-lost")
                    texts = []
                    while len(texts) < 3:
                        event = json.loads(await asyncio.wait_for(ws.recv(), 3))
                        texts.append((event["id"], event["text"]))
                    assert texts == [(stored[0], "f1"), (stored[1], "f2"), (seen_id, "seen-then-lost")], texts
                    # Still in the commit window, or this test would not be testing the loss it is about.
                    on_disk = db_room(db, "fresh", live=True)[1]
                    assert on_disk < seen_id, f"seen-then-lost ({seen_id}) already committed (last_id {on_disk})"
                    a.crash()  # well within the 2 s window: seen-then-lost never reached the disk
                    return epoch, seen_id

            epoch, seen_id = asyncio.run(watch_then_crash())
        with StoreServer(folder, port=port) as c_server:
            assert log_says_unclean(c_server), f"no skip after kill -9:\n{c_server.log_text()}"
            with client(c_server) as c:
                new_ids = [c.publish("fresh", t) for t in ("new-1", "new-2")]
            assert min(new_ids) > seen_id, f"id {seen_id} was seen by a client and given again: {new_ids}"

            async def resume():
                url = c_server.ws(f"/subscribe?room=fresh&since={seen_id}&epoch={epoch}")
                async with websockets.connect(url, ping_interval=None) as ws:
                    recovered = json.loads(await asyncio.wait_for(ws.recv(), 3))
                    got = []
                    while len(got) < 2:
                        event = json.loads(await asyncio.wait_for(ws.recv(), 3))
                        got.append((event["id"], event["text"]))
                    return recovered, got

            recovered, got = asyncio.run(resume())
            assert recovered["complete"] is True and recovered["epoch"] == epoch, recovered
            assert got == list(zip(new_ids, ("new-1", "new-2"))), f"resumed after {seen_id}, got {got}"
            c_server.stop_cleanly()


def test_start_that_cannot_listen_leaves_the_database_unchanged():
    """After a crash the database says "not closed": a start that fails must neither skip ids nor mark it closed."""
    with tempfile.TemporaryDirectory(prefix="chatd-test-") as folder:
        with StoreServer(folder, "durability: sync") as server:
            with client(server) as c:
                assert c.publish("r", "kept") == 1
            server.crash()
        before = database_files(folder)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy_port = taken.getsockname()[1]
            # A port someone else holds, and an address this machine does not have (TEST-NET-1).
            for listen in (f"{{ address: 127.0.0.1, port: {busy_port} }}", "{ address: 192.0.2.1, port: 8080 }"):
                config = os.path.join(folder, "chat.yaml")
                with open(config, "w") as f:
                    f.write(f"listen: {listen}\n")
                code, stderr, _ = run_refused(config, folder)
                assert code == 1 and "cannot listen on" in stderr, (listen, code, stderr)
                assert "did not close" not in stderr, stderr
                assert database_files(folder) == before, f"a start that could not listen ({listen}) changed chat.db"
        # The crash is still on record: the first start that serves skips ids, once.
        with StoreServer(folder) as server:
            assert log_says_unclean(server), server.log_text()
            with client(server) as c:
                assert c.publish("r", "next") == 1 + UNCLEAN_SKIP + 1
            server.stop_cleanly()


# --------------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------------




if __name__ == "__main__":
    sys.exit(harness.main(globals()))
