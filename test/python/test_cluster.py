#!/usr/bin/python3
"""Several chatd nodes as one service on Redis (issue 12), under the failures that hurt other servers' users:
a node killed, Redis killed and restarted or stopped, a node partitioned from Redis, its subscriber connection
killed, a gap longer than retention, a room loading while another node publishes, a reconnect storm.

Every test starts its own redis-server (cluster_support.RedisServer) and two or three nodes on it, sometimes
each behind a proxy the test cuts, black-holes and heals. Every subscriber is a cluster_support.Watcher,
which checks consecutive ids per epoch, no duplicate and order as events arrive; every 202 id must reach every
subscriber exactly once, and no refused text may ever appear. The first test checks the proxy and the Redis
helper themselves, so that a failure of the others is chatd's.

Usage: /usr/bin/python3 test/python/test_cluster.py /path/to/chatd
Skipped (exit 77) only when /usr/bin/redis-server is absent; CI installs it.
"""

import asyncio
import concurrent.futures
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import cluster_support as cs  # noqa: E402
from cluster_support import Cluster, Publisher, Watcher, WsPublisher, in_thread  # noqa: E402

# Durations of the release build, in seconds. Every one is used through T(), which multiplies it by
# cluster_support.SANITIZER_SLOWDOWN under the ASan+UBSan build (the nodes' node_ttl and unavailable_wait are
# scaled alike by cluster_support.node_yaml), so there the suite checks the same things in slow motion.
TTL = cs.NODE_TTL  # node_ttl of these tests (Cluster's default)
UNAVAILABLE_WAIT = cs.UNAVAILABLE_WAIT  # cluster.unavailable_wait of every node (cluster_support.node_yaml)
DELIVERY_TIMEOUT = 15.0  # one expected frame on a busy 2-core machine, after a reconnect with back-off
TEST_TIMEOUT = 60.0  # one test's async body
T = cs.scaled


def run(body, timeout=None):
    """An async test body with a hard bound (T(TEST_TIMEOUT) unless given), and threads enough for the
    blocking publishers it runs."""
    async def bounded():
        asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(32))
        return await asyncio.wait_for(body(), timeout or T(TEST_TIMEOUT))
    return asyncio.run(bounded())


def publish_all(publisher, texts, pause=0.0):
    """Publish each text in turn (blocking); returns the answers."""
    answers = []
    for text in texts:
        answers.append(publisher.publish(text))
        if pause:
            time.sleep(pause)
    return answers


async def publish_ok(publisher, texts):
    answers = await in_thread(publish_all, publisher, texts)
    bad = [answer for answer in answers if answer.status != 202]
    assert not bad, f"{publisher.node}: publishes refused: {bad[:3]}"


async def wait_texts(watchers, texts, timeout=None):
    timeout = timeout or T(DELIVERY_TIMEOUT)
    for watcher in watchers:
        await watcher.wait_for(lambda w: all(w.has_text(text) for text in texts), timeout,
                               f"{len(texts)} messages, last {texts[-1]!r}")


async def sleep_until(moment):
    """Wait for a point in time (the length of a partition or an outage: the test's input, not an assertion)."""
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def wait_presence(nodes, room, users, timeout=None):
    timeout = timeout or T(10.0)
    for node in nodes:
        def matches():
            return cs.presence(node, room) == (200, users)
        await cs.await_until(lambda: matches(), timeout,
                             f"{node} /presence of {room} is {users} (last: {cs.presence(node, room)})", interval=0.1)


def history_texts(node, room):
    return [event.get("text") for event in cs.full_history(node, room)[1] if event["type"] == "message"]


def assert_nowhere(watchers, nodes, room, texts, what):
    """None of texts reached a watcher or any node's /history."""
    for watcher in watchers:
        cs.assert_never_seen(watcher, texts, what)
    for node in nodes:
        found = set(texts) & set(history_texts(node, room))
        assert not found, f"{node}: {what} messages in /history: {sorted(found)[:5]}"


def accepted_of(*publishers):
    return [pair for publisher in publishers for pair in publisher.accepted]


def count(watcher, kind, name):
    return len(watcher.presence_events(kind, name))


# --------------------------------------------------------------------------------------------------
# The tools themselves
# --------------------------------------------------------------------------------------------------


def test_support_proxy_and_redis_server():
    """The proxy forwards, delays, holds in a black hole and lets through on heal, cuts with RST and refuses until
    heal; RedisServer restarts on its port empty with a new run_id, and SIGSTOP stops its answers."""
    cs.require_redis()

    def connect(port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        return sock, cs.RespReader(sock)

    def call(connection, *args):
        connection[0].sendall(cs.encode_command(args))
        return connection[1].reply()

    def silent(connection, seconds):
        connection[0].settimeout(seconds)
        try:
            reply = connection[1].reply()
        except socket.timeout:
            return True
        finally:
            connection[0].settimeout(2)
        raise AssertionError(f"an answer came through the black hole: {reply!r}")

    with cs.RedisServer() as redis, cs.RedisProxy(redis.port) as proxy:
        first = connect(proxy.port)
        assert call(first, "SET", "k", "v") == "OK" and redis.command("GET", "k") == "v"

        proxy.delay(150)  # each way: a round trip takes 300 ms
        started = time.monotonic()
        assert call(first, "GET", "k") == "v"
        assert 0.3 <= time.monotonic() - started < 1.0, time.monotonic() - started
        proxy.heal()
        started = time.monotonic()
        assert call(first, "GET", "k") == "v" and time.monotonic() - started < 0.1

        proxy.blackhole()
        first[0].sendall(cs.encode_command(["INCR", "n"]))
        assert silent(first, 0.4)
        assert redis.command("GET", "n") is None, "the command went through the black hole"
        during = connect(proxy.port)  # accepted, but nothing goes through
        during[0].sendall(cs.encode_command(["PING"]))
        assert silent(during, 0.3)
        proxy.heal()
        assert first[1].reply() == 1 and during[1].reply() == "PONG", "what was held did not come through"

        proxy.cut()
        try:
            answer = call(first, "PING")
            raise AssertionError(f"a cut connection still answered {answer!r}")
        except ConnectionError:  # a reset, a broken pipe, or the end of the stream: all say "cut"
            pass
        try:
            connect(proxy.port)
            raise AssertionError("the proxy accepted a connection while cut")
        except ConnectionRefusedError:
            pass
        cs.wait_until(lambda: len(redis.clients()) == 1, 2, "Redis saw the cut connections go (1 left: ours)")
        proxy.heal()
        healed = connect(proxy.port)
        assert call(healed, "PING") == "PONG"
        accepted = proxy.accepted
        healed[0].close()
        cs.wait_until(lambda: proxy.open_connections() == 0, 2, "a closed connection leaves the proxy")

        run_id = redis.run_id()
        redis.pause()
        try:
            redis.command("PING", timeout=0.3)
            raise AssertionError("a stopped Redis answered")
        except socket.timeout:
            pass
        redis.resume()
        assert redis.command("PING") == "PONG"
        port = redis.port
        redis.restart()
        assert redis.port == port and redis.run_id() != run_id and redis.command("GET", "k") is None
        assert redis.command_calls().get("info", 0) >= 1  # commandstats of the new process
        assert call(connect(proxy.port), "PING") == "PONG" and proxy.accepted == accepted + 1
        redis.kill()
        try:
            # The proxy's reset may come before the command is even written (CI saw it in sendall), or even
            # while connect() is still returning (seen here once in 30 runs of this test, ECONNRESET in connect).
            refused = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
            with refused:
                refused.sendall(cs.encode_command(["PING"]))
                data = refused.recv(10)
            assert not data, f"with Redis gone the proxy answered {data!r}"
        except ConnectionRefusedError:
            raise AssertionError("the proxy stopped listening when Redis died")
        except ConnectionError:  # a reset, a broken pipe, or the end of the stream: all say "cut"
            pass


# --------------------------------------------------------------------------------------------------
# a. One sequence across nodes
# --------------------------------------------------------------------------------------------------

HTTP_EACH = 60  # per node
WS_EACH = 40  # per node


def test_three_nodes_publish_into_one_room():
    """WebSocket and HTTP publishers on three nodes at once: every subscriber on every node sees 1..N once, in
    order, the same events; /history is the same on every node."""
    room = "a"
    with Cluster(3) as cluster:
        async def body():
            watchers = [await Watcher.open(node, room, f"w{node.name}", since=0) for node in cluster.nodes]
            quiet = await Watcher.open(cluster.nodes[1], room, "quiet", presence=False, since=0)
            ws_publishers = [await WsPublisher.open(node, room, f"ws{node.name}") for node in cluster.nodes]
            http_publishers = [Publisher(node, room, f"http{node.name}") for node in cluster.nodes]

            async def over_ws(publisher):
                for i in range(WS_EACH):
                    await publisher.send(f"{publisher.name}-{i}")
                    if i % 8 == 7:
                        await asyncio.sleep(0.003)

            await asyncio.gather(
                *(publish_ok(p, [f"{p.name}-{i}" for i in range(HTTP_EACH)]) for p in http_publishers),
                *(over_ws(p) for p in ws_publishers))
            ws_texts = [text for p in ws_publishers for text in p.sent]
            accepted = accepted_of(*http_publishers)
            everyone = watchers + [quiet]
            await wait_texts(everyone, ws_texts + [text for _, text in accepted])
            for publisher in ws_publishers:
                assert publisher.is_open(), f"{publisher.name} was closed with {publisher.close_code}"

            for watcher in everyone:
                watcher.assert_ok()
                cs.assert_accepted_once(watcher, accepted)
                ids = {event["text"]: event["id"] for event in watcher.messages()}
                for publisher in ws_publishers + http_publishers:
                    sent = WS_EACH if publisher in ws_publishers else HTTP_EACH
                    texts = [f"{publisher.name}-{i}" for i in range(sent)]
                    order = [ids[text] for text in texts]
                    assert order == sorted(order), f"{watcher}: {publisher.name}'s messages out of order"
            # Every presence watcher saw the same events, ids 1..N; the quiet one the same messages.
            reference = [event for _, event in watchers[0].events]
            assert [event["id"] for event in reference] == list(range(1, len(reference) + 1)), "not 1..N"
            for watcher in watchers[1:]:
                await watcher.wait_for(lambda w: len(w.events) >= len(reference), T(5), f"{len(reference)} events")
                assert [event for _, event in watcher.events] == reference, f"{watcher} saw other events"
            assert quiet.messages() == [event for event in reference if event["type"] == "message"]
            epochs = {watcher.epoch for watcher in watchers}
            assert len(epochs) == 1, f"the nodes gave different epochs: {epochs}"
            for node in cluster.nodes:
                await cs.await_until(lambda: len(cs.full_history(node, room)[1]) >= len(reference), T(5),
                                     f"{node}: /history holds the {len(reference)} events", interval=0.1)
                history_epoch, events = await in_thread(cs.full_history, node, room)
                assert history_epoch == watchers[0].epoch, (node, history_epoch, watchers[0].epoch)
                assert events == reference, f"{node}: /history differs from what the subscribers received"
            pages = [(await in_thread(cs.http_request, node, "GET", f"/history?room={room}&limit=50&before=200")).body
                     for node in cluster.nodes]
            assert pages[0] == pages[1] == pages[2], "one /history page differs between nodes, byte for byte"

        run(body)


# --------------------------------------------------------------------------------------------------
# b. A node dies
# --------------------------------------------------------------------------------------------------


def test_killed_node_users_leave_once_and_resume_elsewhere():
    """kill -9 of a node: each of its users gets exactly one leave within node_ttl (+1 s), a user with a session
    elsewhere none; its clients resume on another node with since+epoch: complete, exactly what they missed."""
    room = "b"
    with Cluster(3) as cluster:
        a, b, doomed = cluster.nodes

        async def body():
            observers = [await Watcher.open(a, room, "obs-a", since=0), await Watcher.open(b, room, "obs-b", since=0)]
            victims = [await Watcher.open(doomed, room, f"v{i}", presence=False, since=0) for i in range(3)]
            both_here = await Watcher.open(doomed, room, "both", presence=False)
            both_elsewhere = await Watcher.open(b, room, "both", presence=False)
            names = ["v0", "v1", "v2", "both"]
            for observer in observers:
                await observer.wait_for(lambda w: all(count(w, "join", n) == 1 for n in names), T(DELIVERY_TIMEOUT),
                                        "every user's join")
            publisher = Publisher(a, room, "pub")
            await publish_ok(publisher, [f"before-{i}" for i in range(10)])
            await wait_texts(victims, ["before-9"])

            killed_at = time.monotonic()
            doomed.kill()
            await publish_ok(publisher, [f"during-{i}" for i in range(10)])
            for observer in observers:
                remaining = killed_at + T(TTL + 1.0) - time.monotonic()
                await observer.wait_for(lambda w: all(count(w, "leave", f"v{i}") for i in range(3)),
                                        max(remaining, 0.05),
                                        f"one leave per user of the killed node within {T(TTL + 1)} s")
            await asyncio.sleep(T(TTL / 3))  # a heartbeat period: room for a second reaper's repeat to show
            await publish_ok(Publisher(b, room, "pub-b"), ["after-leaves"])
            await wait_texts(observers + [both_elsewhere], ["after-leaves"])
            for observer in observers:
                observer.assert_ok()
                for name in names[:3]:
                    assert (count(observer, "join", name), count(observer, "leave", name)) == (1, 1), \
                        f"{observer}: {name} joined {count(observer, 'join', name)} times, " \
                        f"left {count(observer, 'leave', name)}"
                assert count(observer, "leave", "both") == 0, f"{observer}: 'both' left, with a session on {b}"
            await wait_presence([a, b], room, [("both", 1), ("obs-a", 1), ("obs-b", 1)])

            # The killed node's clients resume on B.
            missed_by = {}
            for victim in victims + [both_here]:
                assert not victim.is_open(), f"{victim} still open after its node died"
                missed_by[victim.name] = (victim.last_id, victim.epoch)
            _, history = await in_thread(cs.full_history, b, room)
            resumed = []
            for victim in victims:
                since, epoch = missed_by[victim.name]
                watcher = await Watcher.open(b, room, victim.name, presence=False, since=since, epoch=epoch)
                assert watcher.recovered["complete"] is True and watcher.recovered["epoch"] == epoch, watcher.recovered
                resumed.append(watcher)
                missed = [event for event in history if event["type"] == "message" and event["id"] > since]
                assert [event["text"] for event in missed][:1] == ["during-0"], missed[:2]
                await watcher.wait_for(lambda w: len(w.messages()) >= len(missed), T(DELIVERY_TIMEOUT), "the replay")
                assert watcher.messages() == missed, f"{watcher}: replay differs from B's history"
            await publish_ok(publisher, ["live-after-resume"])
            await wait_texts(resumed, ["live-after-resume"])
            for watcher in resumed:
                watcher.assert_ok()
                assert watcher.texts()[-1] == "live-after-resume", watcher.texts()[-3:]
        run(body)


def test_sigterm_node_leaves_at_once():
    """SIGTERM of a node: its users leave (once each) within 1 s, and it exits 0."""
    room = "bt"
    with Cluster(2) as cluster:
        a, b = cluster.nodes

        async def body():
            observer = await Watcher.open(a, room, "obs", since=0)
            sessions = [await Watcher.open(b, room, f"s{i}", presence=False) for i in range(2)]
            await observer.wait_for(lambda w: count(w, "join", "s0") and count(w, "join", "s1"), T(DELIVERY_TIMEOUT),
                                    "joins")
            stopped_at = time.monotonic()
            stopping = asyncio.ensure_future(in_thread(b.terminate))
            await observer.wait_for(lambda w: count(w, "leave", "s0") and count(w, "leave", "s1"), T(1.0),
                                    f"the leaves of a node stopped with SIGTERM within {T(1.0)} s")
            print(f"# leaves {time.monotonic() - stopped_at:.2f} s after SIGTERM", flush=True)
            await stopping
            for session in sessions:
                assert session.close_code == 1001, f"{session} closed with {session.close_code}, not 1001 going away"
            await publish_ok(Publisher(a, room), ["after"])
            await wait_texts([observer], ["after"])
            observer.assert_ok()
            assert count(observer, "leave", "s0") == count(observer, "leave", "s1") == 1
            await wait_presence([a], room, [("obs", 1)])
        run(body)


# --------------------------------------------------------------------------------------------------
# c. Redis killed and restarted
# --------------------------------------------------------------------------------------------------


async def refused_fast(publisher, text, statuses=(503,)):
    """One publish that Redis cannot take: refused with Retry-After within unavailable_wait + 0.5 s."""
    answer = await in_thread(publisher.publish, text)
    assert answer.status in statuses, f"{publisher.node}: {text!r} answered {answer}"
    if answer.status == 503:
        retry = answer.headers.get("retry-after", "")
        assert retry.isdigit() and int(retry) >= 1, f"503 without a Retry-After: {answer}"
    assert answer.seconds <= T(UNAVAILABLE_WAIT + 0.5), f"{publisher.node}: the refusal took {answer.seconds:.2f} s"
    return answer


async def publish_until_accepted(publisher, stem, timeout=None):
    """Publish stem-1, stem-2, ... until one is accepted (Redis is back); refusals are recorded by the publisher."""
    timeout = timeout or T(DELIVERY_TIMEOUT)
    deadline = time.monotonic() + timeout
    for attempt in range(1, 10000):
        answer = await in_thread(publisher.publish, f"{stem}-{attempt}")
        if answer.status == 202:
            return
        assert time.monotonic() < deadline, f"{publisher.node}: still {answer} {timeout}s after Redis came back"
        await asyncio.sleep(0.1)


def test_redis_killed_and_restarted():
    """Redis killed: HTTP 503 + Retry-After and WebSocket 1013 within unavailable_wait + 0.5 s, subscribers stay,
    /healthz degraded, /presence 503, /history served; restarted on its port: a new epoch, a reset to live
    subscribers, publishing on every node, no refused text ever, /presence the sessions really open, healthz ok."""
    room = "c"
    with Cluster(2) as cluster:
        a, b = cluster.nodes

        async def body():
            watchers = [await Watcher.open(a, room, "wa", since=0), await Watcher.open(b, room, "wb", since=0),
                        await Watcher.open(b, room, "quiet", presence=False, since=0)]
            ws_publisher = await WsPublisher.open(b, room, "wsb")
            publishers = [Publisher(a, room, "pa"), Publisher(b, room, "pb")]
            for publisher in publishers:
                await publish_ok(publisher, [f"{publisher.name}-before-{i}" for i in range(10)])
            for i in range(5):
                await ws_publisher.send(f"ws-before-{i}")
            await wait_texts(watchers, ws_publisher.sent + [text for _, text in accepted_of(*publishers)])
            epoch = watchers[0].epoch

            cluster.redis.kill()
            for publisher in publishers:
                await refused_fast(publisher, f"{publisher.name}-refused-0")
            sent_at = time.monotonic()
            await ws_publisher.send("ws-refused")
            await ws_publisher.wait_closed(T(UNAVAILABLE_WAIT + 2))
            assert ws_publisher.close_code == 1013, f"the WebSocket publisher was closed with {ws_publisher.close_code}"
            assert ws_publisher.closed_at - sent_at <= T(UNAVAILABLE_WAIT + 0.5), ws_publisher.closed_at - sent_at
            for node in (a, b):
                def degraded():
                    answer = cs.healthz(node)
                    return answer.status == 200 and answer.text().startswith("degraded")
                await cs.await_until(degraded, T(5), f"{node} /healthz says degraded (last: {cs.healthz(node)})",
                                     interval=0.1)
                await cs.await_until(lambda: cs.presence(node, room)[0] == 503, T(5), f"{node} /presence 503",
                                     interval=0.1)
                texts = await in_thread(history_texts, node, room)
                assert "pa-before-9" in texts and "pb-before-9" in texts, \
                    f"{node}: /history without Redis: {texts[-3:]}"
                await refused_fast(publishers[0] if node is a else publishers[1], f"{node.name}-refused-late")
            for watcher in watchers:
                watcher.assert_ok()

            cluster.redis.start()  # the same port, empty, a new run_id
            for publisher in publishers:
                await publish_until_accepted(publisher, f"{publisher.name}-after")
                await publish_ok(publisher, [f"{publisher.name}-after-more-{i}" for i in range(5)])
            refused = [text for publisher in publishers for texts in publisher.refused.values() for text in texts]
            refused.append("ws-refused")
            accepted = accepted_of(*publishers)
            await wait_texts(watchers, [text for _, text in accepted])
            for watcher in watchers:
                watcher.assert_ok()
                assert watcher.resets and watcher.resets[-1]["epoch"] != epoch, \
                    f"{watcher}: no reset to a new epoch after Redis restarted: {watcher.resets}"
                cs.assert_accepted_once(watcher, accepted)
            new_epochs = {(await in_thread(cs.full_history, node, room))[0] for node in (a, b)}
            assert new_epochs == {watchers[0].epoch} and epoch not in new_epochs, \
                (epoch, new_epochs, watchers[0].resets)
            await in_thread(assert_nowhere, watchers, [a, b], room, refused, "refused")
            await wait_presence([a, b], room, [("quiet", 1), ("wa", 1), ("wb", 1)])
            for node in (a, b):
                await cs.await_until(lambda: cs.healthz(node).text() == "ok", T(5),
                                     f"{node} /healthz ok again (last: {cs.healthz(node)})", interval=0.1)
        run(body)


# --------------------------------------------------------------------------------------------------
# d. A node partitioned from Redis
# --------------------------------------------------------------------------------------------------


def test_partition_shorter_and_longer_than_node_ttl():
    """A partition shorter than node_ttl: no leave, nothing lost after heal. Longer: the node's users leave once
    each in the others' view, and join once each after heal; their subscribers miss nothing."""
    room = "d"
    with Cluster(2, proxied=True) as cluster:
        a, b = cluster.nodes
        proxy = cluster.proxies[1]

        async def body():
            observer = await Watcher.open(a, room, "obs", since=0)
            users = [await Watcher.open(b, room, f"u{i}", since=0) for i in range(2)]
            await observer.wait_for(lambda w: count(w, "join", "u0") and count(w, "join", "u1"), T(DELIVERY_TIMEOUT),
                                    "joins")
            publisher = Publisher(a, room, "pa")

            started = time.monotonic()
            proxy.blackhole()
            await publish_ok(publisher, [f"short-{i}" for i in range(10)])
            await sleep_until(started + T(TTL / 2))
            proxy.heal()
            await wait_texts(users, [f"short-{i}" for i in range(10)])
            await sleep_until(started + T(TTL + 1.0))  # past the moment a wrong reaper would have acted
            await publish_ok(publisher, ["after-short"])
            await wait_texts([observer] + users, ["after-short"])
            assert count(observer, "leave", "u0") == count(observer, "leave", "u1") == 0, \
                f"a partition of {T(TTL / 2)} s < node_ttl made users leave"
            await wait_presence([a, b], room, [("obs", 1), ("u0", 1), ("u1", 1)])

            started = time.monotonic()
            proxy.blackhole()
            await publish_ok(publisher, [f"long-{i}" for i in range(10)])
            await observer.wait_for(lambda w: count(w, "leave", "u0") and count(w, "leave", "u1"),
                                    max(started + T(TTL + 1.5) - time.monotonic(), 0.05),
                                    f"the partitioned node's users leave within {T(TTL + 1.5)} s")
            await sleep_until(started + T(TTL + 2.0))
            proxy.heal()
            await observer.wait_for(lambda w: count(w, "join", "u0") == 2 and count(w, "join", "u1") == 2,
                                    T(DELIVERY_TIMEOUT), "the users join again after heal")
            await publish_ok(publisher, ["after-long"])
            await wait_texts([observer] + users, [f"long-{i}" for i in range(10)] + ["after-long"])
            for name in ("u0", "u1"):
                assert (count(observer, "join", name), count(observer, "leave", name)) == (2, 1), \
                    f"{name}: {count(observer, 'join', name)} joins, {count(observer, 'leave', name)} leaves"
            for watcher in [observer] + users:
                watcher.assert_ok()
                cs.assert_accepted_once(watcher, publisher.accepted)
            await wait_presence([a, b], room, [("obs", 1), ("u0", 1), ("u1", 1)])
        run(body)


# --------------------------------------------------------------------------------------------------
# e. The subscriber connection killed
# --------------------------------------------------------------------------------------------------


def test_pubsub_connections_killed():
    """CLIENT KILL TYPE pubsub while both nodes publish: the nodes resubscribe, and every event is delivered
    exactly once, in order, with no reset (the stream still holds what the subscription missed)."""
    room = "e"
    per_node = 150
    with Cluster(2) as cluster:
        a, b = cluster.nodes

        async def body():
            watchers = [await Watcher.open(a, room, "wa", since=0), await Watcher.open(b, room, "wb", since=0),
                        await Watcher.open(b, room, "quiet", presence=False, since=0)]
            subscribers = len(cluster.redis.clients("pubsub"))
            assert subscribers >= 2, f"{subscribers} subscriber connections for two nodes"
            publishers = [Publisher(a, room, "pa"), Publisher(b, room, "pb")]
            running = [asyncio.ensure_future(in_thread(publish_all, p, [f"{p.name}-{i}" for i in range(per_node)],
                                                       0.003))
                       for p in publishers]
            await cs.await_until(lambda: all(len(p.accepted) >= 40 for p in publishers), T(DELIVERY_TIMEOUT),
                                 "40 published each")
            killed = cluster.redis.command("CLIENT", "KILL", "TYPE", "pubsub")
            assert killed == subscribers, f"CLIENT KILL killed {killed} of {subscribers}"
            assert not all(r.done() for r in running), "publishing was over before the kill: the test tests nothing"
            await cs.await_until(lambda: len(cluster.redis.clients("pubsub")) >= subscribers, T(5),
                                 "the nodes subscribe again", interval=0.05)
            await asyncio.gather(*running)
            for publisher in publishers:
                assert not publisher.refused, f"{publisher.node}: refused {publisher.refused}"
            await wait_texts(watchers, [text for _, text in accepted_of(*publishers)])
            for watcher in watchers:
                watcher.assert_ok()
                assert not watcher.resets, f"{watcher}: reset {watcher.resets} although the stream held everything"
                cs.assert_accepted_once(watcher, accepted_of(*publishers))
        run(body)


# --------------------------------------------------------------------------------------------------
# f. A gap longer than retention
# --------------------------------------------------------------------------------------------------


def test_gap_longer_than_retention():
    """A node cut off while 300 events are published elsewhere (max_events 20; the stream's approximate trim
    keeps at most a node of 100 more): after heal its live JSON subscribers get a reset (or ids that go on with
    no skip), and since+epoch from before the hole answers complete:false on every node.

    The node is cut (RST), not black-holed: a black hole that heals before the node gives up delivers every
    held broadcast late, which is no gap at all."""
    room = "f"
    with Cluster(2, proxied=True, extra="history: { max_events: 20 }\n") as cluster:
        a, b = cluster.nodes
        proxy = cluster.proxies[1]

        async def body():
            watchers = [await Watcher.open(b, room, "wb", since=0),
                        await Watcher.open(b, room, "quiet", presence=False)]
            publisher = Publisher(a, room, "pa")
            await publish_ok(publisher, [f"before-{i}" for i in range(5)])
            await wait_texts(watchers, ["before-4"])
            since, epoch = watchers[0].last_id, watchers[0].epoch

            proxy.cut()
            await publish_ok(publisher, [f"gap-{i}" for i in range(300)])
            proxy.heal()
            oldest = (await in_thread(cs.full_history, a, room))[1][0]["id"]
            assert oldest > since + 1, f"A still retains id {since + 1}: no hole was made"
            await publish_until_accepted(Publisher(b, room, "pb"), "after")
            await publish_ok(publisher, ["after-a"])
            await wait_texts(watchers, ["after-a"])
            for watcher in watchers:
                watcher.assert_ok()  # a skip without a reset before it is a problem
                print(f"# {watcher.name}: resets {watcher.resets}", flush=True)
            for node in (a, b):
                late = await Watcher.open(node, room, "late", presence=False, since=since, epoch=epoch)
                assert late.recovered["complete"] is False, f"{node}: resume across the hole: {late.recovered}"
                await late.close()
        run(body)


# --------------------------------------------------------------------------------------------------
# g. Redis stopped for 2 s
# --------------------------------------------------------------------------------------------------


def test_redis_stopped_two_seconds():
    """SIGSTOP of Redis for 2 s: publishes meanwhile get 503 or 504; after SIGCONT no 503'd text ever appears, a
    504'd one at most once, every 202 once; publishing works again, in the same epoch."""
    room = "g"
    with Cluster(2) as cluster:
        a, b = cluster.nodes

        async def body():
            watchers = [await Watcher.open(a, room, "wa", since=0), await Watcher.open(b, room, "wb", since=0)]
            publishers = [Publisher(a, room, "pa"), Publisher(b, room, "pb")]
            for publisher in publishers:
                await publish_ok(publisher, [f"{publisher.name}-before-{i}" for i in range(10)])
            epoch = watchers[0].epoch

            stopped_at = time.monotonic()
            cluster.redis.pause()

            async def while_stopped(publisher):
                answers = []
                while time.monotonic() < stopped_at + T(1.2):
                    answer = await in_thread(publisher.publish, f"{publisher.name}-stopped-{len(answers)}")
                    assert answer.status in (503, 504), f"{publisher.node}: while Redis is stopped: {answer}"
                    assert answer.seconds <= T(UNAVAILABLE_WAIT + 1.0), \
                        f"{publisher.node}: answered in {answer.seconds:.2f} s"
                    answers.append(answer)
                return answers

            await asyncio.gather(*(while_stopped(p) for p in publishers))
            await sleep_until(stopped_at + T(2.0))
            cluster.redis.resume()
            for publisher in publishers:
                await publish_until_accepted(publisher, f"{publisher.name}-after")
                await publish_ok(publisher, [f"{publisher.name}-after-more-{i}" for i in range(5)])
            accepted = accepted_of(*publishers)
            await wait_texts(watchers, [text for _, text in accepted])
            unavailable = [text for p in publishers for text in p.refused.get(503, [])]
            unknown = [text for p in publishers for text in p.refused.get(504, [])]
            print(f"# {len(unavailable)} answered 503, {len(unknown)} 504", flush=True)
            await in_thread(assert_nowhere, watchers, [a, b], room, unavailable, "503'd")
            for watcher in watchers:
                watcher.assert_ok()  # includes: no text twice, so a 504'd one at most once
                cs.assert_accepted_once(watcher, accepted)
                assert not watcher.resets, f"{watcher}: a reset {watcher.resets} though Redis lost nothing"
            for node in (a, b):
                history_epoch, events = await in_thread(cs.full_history, node, room)
                assert history_epoch == epoch, f"{node}: the epoch changed though Redis lost nothing"
                texts = [event.get("text") for event in events]
                assert all(texts.count(text) <= 1 for text in unknown), f"{node}: a 504'd text twice in /history"
        run(body)


# --------------------------------------------------------------------------------------------------
# h. A room loading while another node publishes fast
# --------------------------------------------------------------------------------------------------


def test_room_loads_on_a_node_while_another_publishes_fast():
    """The room's first subscribers on B arrive while A publishes as fast as it can: no gap between the window B
    loads and the live events, whichever way they subscribe."""
    room = "h"
    total_http, total_ws = 400, 400
    with Cluster(2) as cluster:
        a, b = cluster.nodes

        async def body():
            http_publisher = Publisher(a, room, "pa")
            ws_publisher = await WsPublisher.open(a, room, "wsa")

            async def over_ws():
                for i in range(total_ws):
                    await ws_publisher.send(f"wsa-{i}")
                    if i % 20 == 19:
                        await asyncio.sleep(0.001)

            running = [asyncio.ensure_future(in_thread(publish_all, http_publisher,
                                                       [f"pa-{i}" for i in range(total_http)])),
                       asyncio.ensure_future(over_ws())]
            await cs.await_until(lambda: len(http_publisher.accepted) >= 100, T(DELIVERY_TIMEOUT), "100 published")
            watchers = await asyncio.gather(Watcher.open(b, room, "all", since=0), Watcher.open(b, room, "live"),
                                            Watcher.open(b, room, "quiet", presence=False, since=0))
            opened_with = len(http_publisher.accepted)
            await asyncio.gather(*running)
            assert opened_with < total_http, "publishing ended before the subscribers came: the test tests nothing"
            await publish_ok(http_publisher, ["the end"])
            await wait_texts(watchers, ["the end"])
            _, history = await in_thread(cs.full_history, b, room)
            by_id = {event["id"]: event for event in history}
            for watcher in watchers:
                watcher.assert_ok()
                for _, event in watcher.events:
                    assert by_id.get(event["id"]) == event, f"{watcher}: {event} is not B's /history"
            whole, live, quiet = watchers
            assert whole.recovered["complete"] is True
            assert [event["id"] for _, event in whole.events][:1] == [1], "since=0 did not start at id 1"
            cs.assert_accepted_once(whole, http_publisher.accepted)
            cs.assert_accepted_once(quiet, http_publisher.accepted)
            assert [t for t in whole.texts() if t.startswith("wsa-")] == ws_publisher.sent, "the WebSocket messages"
            assert live.events and live.events[0][1]["id"] > 1, live.events[:1]
            _, history_a = await in_thread(cs.full_history, a, room)
            assert history_a[:len(history)] == history, "A's /history differs from B's"
        run(body)


# --------------------------------------------------------------------------------------------------
# i. A reconnect storm
# --------------------------------------------------------------------------------------------------


def test_reconnect_storm_costs_redis_per_room():
    """100 clients of a killed node resume on a node that had not loaded their two rooms: all complete:true with
    exactly what they missed, and Redis' XRANGE/XREVRANGE calls grow with the rooms, not the clients."""
    rooms = ["storm1", "storm2"]
    clients_per_room = 50
    with Cluster(3) as cluster:
        a, doomed, cold = cluster.nodes

        async def body():
            clients = [await Watcher.open(doomed, room, f"c{i}", presence=False, since=0)
                       for room in rooms for i in range(clients_per_room)]
            publishers = {room: Publisher(a, room, "pa") for room in rooms}
            for room in rooms:
                await publish_ok(publishers[room], [f"{room}-before-{i}" for i in range(20)])
            await cs.await_until(lambda: all(c.has_text(f"{c.room}-before-19") for c in clients), T(DELIVERY_TIMEOUT),
                                 "every client has the first messages")
            doomed.kill()
            for room in rooms:
                await publish_ok(publishers[room], [f"{room}-missed-{i}" for i in range(10)])
            for client in clients:
                await cs.await_until(lambda: not client.is_open(), T(5), f"{client} sees its node die")

            def reads():
                calls = cluster.redis.command_calls()
                return calls.get("xrange", 0) + calls.get("xrevrange", 0)
            before = reads()
            resumed = await asyncio.gather(*(Watcher.open(cold, c.room, c.name, presence=False, since=c.last_id,
                                                          epoch=c.epoch) for c in clients))
            grown = reads() - before
            print(f"# {len(clients)} resumes in {len(rooms)} rooms: XRANGE+XREVRANGE grew by {grown}", flush=True)
            for watcher in resumed:
                assert watcher.recovered["complete"] is True, f"{watcher}: {watcher.recovered}"
                missed = [f"{watcher.room}-missed-{i}" for i in range(10)]
                await watcher.wait_for(lambda w: len(w.messages()) >= len(missed), T(DELIVERY_TIMEOUT), "the replay")
                assert watcher.texts() == missed, f"{watcher}: replayed {watcher.texts()}"
                watcher.assert_ok()
            assert grown <= 4 * len(rooms), \
                f"{len(clients)} resumes cost {grown} stream reads: per client, not per room ({len(rooms)} rooms)"
            # The killed node's sessions are reaped; the resumed ones on C are what /presence counts.
            for room in rooms:
                users = [(f"c{i}", 1) for i in range(clients_per_room)]
                await wait_presence([a, cold], room, sorted(users), timeout=T(TTL + 3))
        run(body, timeout=T(90))


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
