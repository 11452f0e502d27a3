#!/usr/bin/python3
"""Access control in auth.mode password (issue 11), as a client sees it: POST /login with JSON and form
bodies, the session cookie, GET /login, POST /logout closing open WebSockets with 4003, names in auth.users
that the shared password cannot take, 429 after auth.login_burst failures, sessions surviving a restart with
SQLite (and not with the memory store), cross-site WebSocket hijacking, API keys and their rooms, and no
secret in the log. With no auth section everything is open, as before.

Independent clients only: curl, python3-websockets and raw sockets; hashes and keys from the chatd binary's
own --hash-password and --new-api-key.

Usage: /usr/bin/python3 test/python/test_auth_password.py /path/to/chatd
"""

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from auth_support import (  # noqa: E402
    assert_error,
    assert_who_refused,
    assert_upgrade_refused,
    assert_ws_refused,
    close_after,
    new_api_key,
    password_hash,
    raw_request,
    restart,
    upgrade,
)

SHARED = "shared server password"
ADMIN = "admin's own password"
WRONG = "wrong name or password"
NO_CREDENTIALS = "authentication required: log in at /login, or send a token as Authorization: Bearer"
BAD_SESSION = "invalid or expired session token: log in again"
_key = None


def api_key():
    """One API key per suite: (key, sha256), allowed rooms ops and deploy-*."""
    global _key
    if _key is None:
        _key = new_api_key()
    return _key


def auth_yaml(burst=10, store="memory", extra="", rate=0.01):
    key, digest = api_key()
    return (f"auth:\n  mode: password\n  password_hash: \"{password_hash(SHARED)}\"\n"
            f"  users: {{ admin: \"{password_hash(ADMIN)}\" }}\n  login_burst: {burst}\n  login_rate: {rate}\n"
            f"  api_keys:\n    - {{ name: ci, sha256: {digest}, rooms: [ops, \"deploy-*\"] }}\n{extra}"
            f"history: {{ store: {store} }}\nlog: {{ level: debug }}\n")


def server(**kwargs):
    return harness.ChatServer(auth_yaml(**kwargs))


def login(server, name, password, *args):
    body = json.dumps({"name": name, "password": password})
    return harness.curl(server.http("/login"), "-X", "POST", "-H", "Content-Type: application/json",
                        "--data-binary", body, *args)


def login_token(server, name, password=SHARED):
    response = login(server, name, password)
    assert response.status == 200, f"login of {name}: {response}"
    return response.json()["token"]


def bearer(token):
    return ["-H", f"Authorization: Bearer {token}"]


def history_texts(server, room, token):
    response = harness.curl(server.http(f"/history?room={room}"), *bearer(token))
    assert response.status == 200, response
    return [(e["name"], e["text"]) for e in response.json()["events"] if e["type"] == "message"]


# --------------------------------------------------------------------------------------------------
# POST /login and GET /login
# --------------------------------------------------------------------------------------------------


def test_login_with_json_and_form_bodies_and_the_cookie_it_sets():
    with server() as s:
        before = harness.now_ms()
        response = login(s, "alice", SHARED)
        assert response.status == 200, response
        answer = response.json()
        assert set(answer) == {"name", "token", "expires_at"}, answer
        assert answer["name"] == "alice", answer
        token = answer["token"]
        assert len(token) == 43 and all(c.isalnum() or c in "-_" for c in token), f"token {token!r}"
        # token_ttl defaults to 24 h.
        assert abs(answer["expires_at"] - (before + 86400 * 1000)) < 10000, answer
        cookie = response.headers.get("set-cookie")
        assert cookie == f"chatd_session={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=86400", cookie
        assert response.headers.get("cache-control") == "no-store", response.headers

        form = harness.curl(s.http("/login"), "-X", "POST", "--data", "name=bob&password=shared%20server%20password")
        assert form.status == 200, form
        assert form.json()["name"] == "bob" and form.json()["token"] != token, form

        # GET /login: the cookie, or the Bearer token, says who is asking.
        me = harness.curl(s.http("/login"), "-H", f"Cookie: chatd_session={token}")
        assert me.status == 200, me
        assert me.json() == {"mode": "password", "name": "alice", "expires_at": answer["expires_at"]}, me
        me = harness.curl(s.http("/login"), *bearer(form.json()["token"]))
        assert me.status == 200 and me.json()["name"] == "bob", me
        assert_who_refused(harness.curl(s.http("/login")), NO_CREDENTIALS, "password")
        refused = harness.curl(s.http("/login"), *bearer("x" * 43))
        assert refused.status == 401 and refused.headers.get("www-authenticate") == 'Bearer realm="chatd"', refused


def test_what_browsers_and_scripts_send():
    with server() as s:
        # A browser's form encodes spaces as '+' (HTML's application/x-www-form-urlencoded).
        response = harness.curl(s.http("/login"), "-X", "POST", "--data", "name=alice&password=shared+server+password")
        assert response.status == 200 and response.json()["name"] == "alice", response
        # A media type with parameters, in any case (RFC 9110 8.3.1).
        for content_type in ("application/json; charset=utf-8", "Application/JSON"):
            response = harness.curl(s.http("/login"), "-X", "POST", "-H", f"Content-Type: {content_type}",
                                    "--data-binary", json.dumps({"name": "alice", "password": SHARED}))
            assert response.status == 200, f"{content_type}: {response}"
        # JSON escapes are decoded before the password is checked.
        escaped = '{"name":"\\u0061lice","password":"shared\\u0020server password"}'
        response = harness.curl(s.http("/login"), "-X", "POST", "-H", "Content-Type: application/json",
                                "--data-binary", escaped)
        assert response.status == 200 and response.json()["name"] == "alice", response
        token = response.json()["token"]
        # The session cookie among others, and the Bearer scheme in any case (RFC 9110 11.1).
        me = harness.curl(s.http("/login"), "-H", f"Cookie: theme=dark; chatd_session={token}; lang=en")
        assert me.status == 200 and me.json()["name"] == "alice", me
        me = harness.curl(s.http("/login"), "-H", f"Authorization: bearer {token}")
        assert me.status == 200 and me.json()["name"] == "alice", me
        assert_error(harness.curl(s.http("/login"), "-X", "POST", "--data", f"name={'x' * 65}&password=x"), 400,
                     "invalid name (1 to 64 characters, no control characters)")
        assert_error(harness.curl(s.http("/login"), "-X", "POST", "--data", "name=&password=x"), 400,
                     "name and password must not be empty")


def test_the_login_limiter_is_per_address():
    with server(burst=2) as s:
        for attempt in range(2):
            assert_error(login(s, "alice", f"guess {attempt}"), 401, WRONG)
        assert login(s, "alice", SHARED).status == 429
        # Another loopback address has its own bucket.
        response = login(s, "alice", SHARED, "--interface", "127.0.0.2")
        assert response.status == 200, response
        assert login(s, "alice", SHARED).status == 429


def test_cookie_secure_adds_secure():
    with server(extra="  cookie_secure: true\n  token_ttl: 90m\n") as s:
        response = login(s, "alice", SHARED)
        assert response.status == 200, response
        token = response.json()["token"]
        assert response.headers.get("set-cookie") == (
            f"chatd_session={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=5400; Secure"), response.headers


def test_wrong_passwords_and_names_only_their_owner_may_take():
    with server() as s:
        refused = login(s, "alice", "not the password")
        assert_error(refused, 401, WRONG)
        assert "set-cookie" not in refused.headers, refused.headers
        # admin is listed in auth.users: the shared password cannot take the name, admin's own can.
        assert_error(login(s, "admin", SHARED), 401, WRONG)
        response = login(s, "admin", ADMIN)
        assert response.status == 200 and response.json()["name"] == "admin", response
        # admin's own password is not a second shared password.
        assert_error(login(s, "carol", ADMIN), 401, WRONG)
        # Every failure is logged as a warning with the name, never with the password.
        failures = [line for line in s.stderr_lines if "login failed" in line]
        assert len(failures) == 3, "\n".join(s.stderr_lines)
        assert any('name="admin"' in line for line in failures), failures
        assert all("warn" in line.lower() for line in failures), failures
        for secret in (SHARED, ADMIN, "not the password"):
            assert not any(secret in line for line in s.stderr_lines), f"{secret!r} is in the log"


def test_names_that_look_like_a_listed_name_cannot_be_taken_with_the_shared_password():
    # "nobody can post as admin" (issue 11): a name that renders as "admin" (a space before or after it, a
    # no-break space, a zero-width space) is admin to every reader, so the shared password must not take it
    # either. Refused as a bad name (400) or as admin's (401); what matters is that it is not 200.
    with server(burst=100) as s:
        for lookalike in ("admin ", " admin", "admin\u00a0", "admin\u200b", "\u200badmin"):
            response = harness.curl(s.http("/login"), "-X", "POST", "-H", "Content-Type: application/json",
                                    "--data-binary", json.dumps({"name": lookalike, "password": SHARED}))
            assert response.status in (400, 401), f"{lookalike!r} was taken with the shared password: {response}"


def test_bad_login_bodies():
    with server() as s:
        def post(content_type, body):
            return harness.curl(s.http("/login"), "-X", "POST", "-H", f"Content-Type: {content_type}",
                                "--data-binary", body)
        assert_error(post("text/plain", "alice"), 415, 'unsupported Content-Type "text/plain" (use '
                     'application/json or application/x-www-form-urlencoded)')
        assert_error(post("application/json", '{"name":"alice"}'), 400, "name and password are both required")
        assert_error(post("application/json", f'{{"name":"alice","password":"{SHARED}","room":"x"}}'), 400,
                     'unknown field "room" (known: name, password)')
        assert_error(post("application/json", f'{{"name":"a","name":"b","password":"{SHARED}"}}'), 400,
                     'field "name" is given twice')
        assert_error(post("application/json", '{"name":"alice","password":5}'), 400,
                     'field "password" must be a string')
        assert_error(post("application/x-www-form-urlencoded", "name=alice"), 400,
                     "name and password are both required")
        assert_error(post("application/x-www-form-urlencoded", "name=a&name=b&password=x"), 400,
                     'field "name" is given twice')
        assert_error(post("application/x-www-form-urlencoded", "name=alice&password=x&extra=1"), 400,
                     'unknown field "extra" (known: name, password)')
        # None of these was a failed password: they count nothing toward the 429 (burst is 10 here).
        assert not any("login failed" in line for line in s.stderr_lines), "\n".join(s.stderr_lines)


def test_login_burst_then_429_even_for_the_right_password():
    with server(burst=3) as s:
        for attempt in range(3):
            assert_error(login(s, "alice", f"guess {attempt}"), 401, WRONG)
        for password in ("guess 4", SHARED):
            response = login(s, "alice", password)
            assert_error(response, 429, "too many failed logins: wait and retry")
            retry = response.headers.get("retry-after", "")
            # login_rate 0.01/s: one failure refills in 100 s.
            assert retry.isdigit() and 95 <= int(retry) <= 100, response.headers
            assert "set-cookie" not in response.headers, response.headers
        # Other routes are not limited by it: an API key still publishes from the same address.
        response = harness.post(s, "?room=ops&name=bot", "still here", *bearer(api_key()[0]))
        assert response.status == 202, response


def test_cross_site_login_is_refused():
    with server() as s:
        response = login(s, "alice", SHARED, "-H", "Origin: http://evil.example")
        assert_error(response, 403, "Origin is not allowed to log in")
        assert "set-cookie" not in response.headers, response.headers
        response = login(s, "alice", SHARED, "-H", f"Origin: http://127.0.0.1:{s.port}")
        assert response.status == 200, response


# --------------------------------------------------------------------------------------------------
# Routes that need a token
# --------------------------------------------------------------------------------------------------


def test_every_route_refuses_no_token_and_a_bad_token():
    with server() as s:
        bad = "A" * 43
        for query, headers in (("?room=ops", []), (f"?room=ops&token={bad}", []),
                               ("?room=ops", [f"Authorization: Bearer {bad}"]),
                               ("?room=ops", [f"Cookie: chatd_session={bad}"])):
            got, answer_headers, body = upgrade(s, query, headers)
            assert got == 401, f"{query} {headers}: {got} {body!r}"
            assert answer_headers.get("www-authenticate") == 'Bearer realm="chatd"', answer_headers
            assert isinstance(json.loads(body)["error"], str), body
        assert_upgrade_refused(s, "?room=ops", [], 401, NO_CREDENTIALS)
        for args in ([], bearer(bad), ["-H", f"Cookie: chatd_session={bad}"]):
            response = harness.post(s, "?room=ops", "hello", *args)
            assert response.status == 401, f"{args}: {response}"
            assert response.headers.get("www-authenticate") == 'Bearer realm="chatd"', response
            for route in ("/history?room=ops", "/presence?room=ops"):
                response = harness.curl(s.http(route), *args)
                assert response.status == 401, f"{route} {args}: {response}"
        assert_error(harness.post(s, "?room=ops", "hello"), 401, NO_CREDENTIALS)
        assert_upgrade_refused(s, f"?room=ops&token={bad}", [], 401, BAD_SESSION)
        assert_error(harness.post(s, "?room=ops", "hello", *bearer(bad)), 401, BAD_SESSION)
        # Nothing was published by any of them: the room was never even made.
        token = login_token(s, "alice")
        assert harness.curl(s.http("/history?room=ops"), *bearer(token)).status == 404
        assert harness.curl(s.http("/healthz")).status == 200


def test_websocket_with_query_token_bearer_and_cookie_and_the_name_is_the_login_name():
    with server() as s:
        alice = login_token(s, "alice")
        bob = login_token(s, "bob")
        carol = login_token(s, "carol")

        async def body():
            # ?name= asks for another name: it is ignored, the session is the login's.
            async with harness.connect(s, f"?room=ops&name=mallory&token={alice}&presence=true") as a, \
                    harness.connect(s, "?room=ops&name=mallory", extra_headers={"Authorization": f"Bearer {bob}"}) \
                    as b, \
                    harness.connect(s, "?room=ops&name=mallory", extra_headers={"Cookie": f"chatd_session={carol}"}) \
                    as c:
                joins = [await harness.recv_json(a) for _ in range(3)]
                assert [(e["type"], e["name"]) for e in joins] == [("join", "alice"), ("join", "bob"),
                                                                   ("join", "carol")], joins
                presence = harness.curl(s.http("/presence?room=ops"), *bearer(alice))
                assert presence.status == 200, presence
                assert presence.json()["users"] == [{"name": "alice", "sessions": 1}, {"name": "bob", "sessions": 1},
                                                    {"name": "carol", "sessions": 1}], presence
                # A WebSocket's messages carry its login name.
                await c.send("from carol's socket")
                for ws in (a, b, c):
                    event = await harness.recv_json(ws)
                    assert (event["name"], event["text"]) == ("carol", "from carol's socket"), event
                # So does an HTTP publish with the token, whatever name the query or body gives.
                response = await harness.apost(s, "?room=ops&name=mallory", "from bob over http", *bearer(bob))
                assert response.status == 202, response
                response = await harness.acurl(
                    s.http("/publish?room=ops"), "-X", "POST", "-H", "Content-Type: application/json",
                    "--data-binary", '{"name":"mallory","text":"json body"}', *bearer(alice))
                assert response.status == 202, response
                for ws in (a, b, c):
                    got = [await harness.recv_json(ws) for _ in range(2)]
                    assert [(e["name"], e["text"]) for e in got] == [("bob", "from bob over http"),
                                                                    ("alice", "json body")], got
        harness.run_async(body)
        assert history_texts(s, "ops", alice) == [("carol", "from carol's socket"), ("bob", "from bob over http"),
                                                  ("alice", "json body")]


def test_logout_closes_open_websockets_with_4003_and_the_token_stops_working():
    with server() as s:
        token = login_token(s, "alice")
        other = login_token(s, "bob")

        async def body():
            async with harness.connect(s, f"?room=ops&token={token}") as first, \
                    harness.connect(s, "?room=ops", extra_headers={"Cookie": f"chatd_session={token}"}) as second, \
                    harness.connect(s, f"?room=ops&token={other}") as bystander:
                await asyncio.sleep(0.1)
                response = await harness.acurl(s.http("/logout"), "-X", "POST", *bearer(token))
                assert response.status == 204, response
                cookie = response.headers.get("set-cookie", "")
                assert cookie.startswith("chatd_session=;") and "Max-Age=0" in cookie, response.headers
                started = time.monotonic()
                for ws in (first, second):
                    assert await close_after(ws) == (4003, "logged out")
                assert time.monotonic() - started < 1.0
                # The same token is refused everywhere at once.
                assert (await harness.apost(s, "?room=ops", "after logout", *bearer(token))).status == 401
                assert (await harness.acurl(s.http("/login"), *bearer(token))).status == 401
                await assert_ws_refused(s, f"?room=ops&token={token}", 401)
                assert (await harness.acurl(s.http("/logout"), "-X", "POST", *bearer(token))).status == 401
                # Bob's session is untouched.
                response = await harness.apost(s, "?room=ops", "bob stays", *bearer(other))
                assert response.status == 202, response
                event = await harness.recv_json(bystander)
                assert (event["name"], event["text"]) == ("bob", "bob stays"), event
        harness.run_async(body)
        assert_error(harness.curl(s.http("/logout"), "-X", "POST"), 401, NO_CREDENTIALS)
        assert harness.curl(s.http("/logout"), "-X", "POST", *bearer(api_key()[0])).status == 400


def test_logout_closes_only_that_token_s_sockets():
    with server() as s:
        first = login_token(s, "alice")
        second = login_token(s, "alice")  # the same user on another device

        async def body():
            async with harness.connect(s, "?room=ops", extra_headers={"Authorization": f"Bearer {first}"}) as a, \
                    harness.connect(s, f"?room=ops&token={second}") as b:
                response = await harness.acurl(s.http("/logout"), "-X", "POST", "-H", f"Cookie: chatd_session={first}")
                assert response.status == 204, response
                assert await close_after(a) == (4003, "logged out")
                # The other session of the same name is open and may still publish.
                response = await harness.apost(s, "?room=ops", "second device", *bearer(second))
                assert response.status == 202, response
                event = await harness.recv_json(b)
                assert (event["name"], event["text"]) == ("alice", "second device"), event
        harness.run_async(body)
        assert harness.curl(s.http("/login"), *bearer(first)).status == 401
        assert harness.curl(s.http("/login"), *bearer(second)).status == 200


def test_a_login_session_expiring_while_connected_closes_with_4001():
    with server(extra="  token_ttl: 2s\n") as s:
        response = login(s, "alice", SHARED)
        assert response.status == 200, response
        token, expires_at = response.json()["token"], response.json()["expires_at"]
        assert "Max-Age=2;" in response.headers["set-cookie"] or response.headers["set-cookie"].endswith(
            "Max-Age=2"), response.headers

        async def body():
            async with harness.connect(s, f"?room=ops&token={token}") as ws:
                code, reason = await close_after(ws, timeout=6)
                late = harness.now_ms() - expires_at
                assert (code, reason) == (4001, "token expired"), (code, reason)
                assert -50 <= late <= 250, f"closed {late:.0f} ms after the session's expires_at"
            await assert_ws_refused(s, f"?room=ops&token={token}", 401)
        harness.run_async(body)
        assert_who_refused(harness.curl(s.http("/login"), *bearer(token)), BAD_SESSION, "password")


def test_the_first_credential_present_decides():
    with server() as s:
        token = login_token(s, "alice")
        bad = "B" * 43
        # A bad Bearer header is not rescued by a good cookie or query token, and a bad query token not by a cookie.
        assert upgrade(s, f"?room=ops&token={token}", [f"Authorization: Bearer {bad}"])[0] == 401
        assert upgrade(s, "?room=ops", [f"Authorization: Bearer {bad}", f"Cookie: chatd_session={token}"])[0] == 401
        assert upgrade(s, f"?room=ops&token={bad}", [f"Cookie: chatd_session={token}"])[0] == 401
        assert upgrade(s, f"?room=ops&token={token}", [f"Cookie: chatd_session={bad}"])[0] == 101
        response = harness.post(s, "?room=ops", "x", *bearer(bad), "-H", f"Cookie: chatd_session={token}")
        assert_error(response, 401, BAD_SESSION)


def test_a_cookie_from_another_site_cannot_publish():
    with server() as s:
        token = login_token(s, "alice")
        cookie = ["-H", f"Cookie: chatd_session={token}"]
        response = harness.post(s, "?room=ops", "forged", *cookie, "-H", "Origin: http://evil.example")
        assert response.status == 403, response
        response = harness.post(s, "?room=ops", "same site", *cookie, "-H", f"Origin: http://127.0.0.1:{s.port}")
        assert response.status == 202, response
        assert history_texts(s, "ops", token) == [("alice", "same site")]


def test_failed_logins_refill_at_login_rate():
    with server(burst=2, rate=1) as s:
        for attempt in range(2):
            assert_error(login(s, "alice", f"guess {attempt}"), 401, WRONG)
        response = login(s, "alice", SHARED)
        assert_error(response, 429, "too many failed logins: wait and retry")
        assert response.headers.get("retry-after") == "1", response.headers
        time.sleep(1.1)  # 1 per second: one failure is refilled after 1 s
        response = login(s, "alice", SHARED)
        assert response.status == 200, response
        # A success takes nothing: the refilled failure is still there to spend.
        assert_error(login(s, "alice", "guess 3"), 401, WRONG)


def test_logout_by_cookie():
    with server() as s:
        token = login_token(s, "alice")
        response = harness.curl(s.http("/logout"), "-X", "POST", "-H", f"Cookie: chatd_session={token}",
                                "-H", f"Origin: http://127.0.0.1:{s.port}")
        assert response.status == 204, response
        assert harness.curl(s.http("/login"), *bearer(token)).status == 401


def test_a_login_survives_a_restart_with_sqlite():
    with server(store="sqlite") as s:
        token = login_token(s, "alice")
        restart(s)
        me = harness.curl(s.http("/login"), *bearer(token))
        assert me.status == 200 and me.json()["name"] == "alice", me
        assert harness.post(s, "?room=ops", "after restart", *bearer(token)).status == 202
        # Only SHA-256 of the token is stored, never the token.
        database = os.path.join(os.path.dirname(s.config_path), "chat.db")
        rows = subprocess.run(["sqlite3", database, "SELECT lower(hex(token_sha256)), name FROM sessions"],
                              capture_output=True, check=True).stdout.decode().split()
        assert rows == [f"{hashlib.sha256(token.encode()).hexdigest()}|alice"], rows
        for name in os.listdir(os.path.dirname(database)):
            if name.startswith("chat.db"):
                with open(os.path.join(os.path.dirname(database), name), "rb") as db:
                    assert token.encode() not in db.read(), f"the token is in {name}"


def test_logout_and_expiry_hold_across_a_restart_with_sqlite():
    with server(store="sqlite", extra="  token_ttl: 3s\n") as s:
        logged_out = login_token(s, "alice")
        expiring = login_token(s, "bob")
        assert harness.curl(s.http("/logout"), "-X", "POST", *bearer(logged_out)).status == 204
        restart(s)
        assert_who_refused(harness.curl(s.http("/login"), *bearer(logged_out)), BAD_SESSION, "password")
        assert harness.curl(s.http("/login"), *bearer(expiring)).status == 200
        time.sleep(3.2)
        restart(s)
        assert_who_refused(harness.curl(s.http("/login"), *bearer(expiring)), BAD_SESSION, "password")


def test_a_login_does_not_survive_a_restart_with_the_memory_store():
    with server(store="memory") as s:
        token = login_token(s, "alice")
        assert harness.curl(s.http("/login"), *bearer(token)).status == 200
        restart(s)
        assert harness.curl(s.http("/login"), *bearer(token)).status == 401


def test_cross_site_websocket_hijacking_is_refused():
    with server() as s:
        token = login_token(s, "alice")
        cookie = f"Cookie: chatd_session={token}"
        assert_upgrade_refused(s, "?room=ops", [cookie, "Origin: http://evil.example"], 403,
                               "Origin is not allowed to use this session's cookie (subscriber.allowed_origins)")
        # Same host and port but another port, or another host: cross-site too.
        assert upgrade(s, "?room=ops", [cookie, f"Origin: http://127.0.0.1:{s.port + 1}"])[0] == 403
        assert upgrade(s, "?room=ops", [cookie, f"Origin: http://localhost:{s.port}"])[0] == 403
        assert upgrade(s, "?room=ops", [cookie, f"Origin: http://127.0.0.1:{s.port}"])[0] == 101
        # A token that is not a cookie is not sent by a browser on its own: any Origin may carry it.
        assert upgrade(s, "?room=ops", [f"Authorization: Bearer {token}", "Origin: http://evil.example"])[0] == 101
        assert upgrade(s, f"?room=ops&token={token}", ["Origin: http://evil.example"])[0] == 101
        # The same with python3-websockets, which sends an Origin when asked.
        async def body():
            await assert_ws_refused(s, "?room=ops", 403, extra_headers={"Cookie": f"chatd_session={token}"},
                                    origin="http://evil.example")
            async with harness.connect(s, "?room=ops", extra_headers={"Cookie": f"chatd_session={token}"},
                                       origin=f"http://127.0.0.1:{s.port}") as ws:
                await ws.send("same site")
                event = await harness.recv_json(ws)
                assert (event["name"], event["text"]) == ("alice", "same site"), event
        harness.run_async(body)


def test_allowed_origins_decides_for_cookies():
    extra = "subscriber: { allowed_origins: [\"https://chat.example\"] }\n"
    with harness.ChatServer(auth_yaml() + extra) as s:
        token = login_token(s, "alice")
        cookie = f"Cookie: chatd_session={token}"
        assert upgrade(s, "?room=ops", [cookie, "Origin: https://chat.example"])[0] == 101
        assert upgrade(s, "?room=ops", [cookie, f"Origin: http://127.0.0.1:{s.port}"])[0] == 403


def test_no_secret_reaches_the_log():
    with server() as s:
        key = api_key()[0]
        token = login_token(s, "alice")
        assert_error(login(s, "alice", "a wrong password"), 401, WRONG)

        async def body():
            async with harness.connect(s, f"?room=ops&token={token}") as ws:
                await ws.send("hello")
                await harness.recv_json(ws)
            # Refused ones too, with the token in the query next to a bad parameter.
            await assert_ws_refused(s, f"?room=bad!room&token={token}", 400)
            await assert_ws_refused(s, f"?token={token}&since=x", 400)
            await assert_ws_refused(s, f"?room=ops&token={token}x", 401)
        harness.run_async(body)
        # /publish takes no ?token= (a URL ends up in proxies' logs): it is refused, and not logged either.
        assert_error(harness.post(s, f"?room=ops&token={token}", "token in the query"), 401, NO_CREDENTIALS)
        # Heads refused before any route (logged at debug with their reason) must not log their target.
        for head in (f"GET /subscribe?token={token} HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n",
                     f"GET /subscribe?token={token} HTTP/1.0\r\n\r\n",
                     f"POST /publish?token={token} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                     f"Content-Length: 2\r\n\r\nab"):
            assert raw_request(s, head.encode())[0] == 400, head
        assert harness.post(s, "?room=deploy-1&name=bot", "by key", *bearer(key)).status == 202
        assert harness.post(s, "?room=ops", "bad key", *bearer(key + "x")).status == 401
        assert harness.curl(s.http("/history?room=ops"), *bearer(key)).status == 200
        assert harness.curl(s.http("/logout"), "-X", "POST", *bearer(token)).status == 204
        assert s.stop() == 0
        log = "\n".join(s.stderr_lines)
        # The log did record these requests (so the absence below means something).
        assert "login failed" in log and 'name="alice"' in log and "logout" in log, log
        assert log.count("bad request") == 3, log
        for secret, what in ((token, "the session token"), (key, "the API key"), (SHARED, "the shared password"),
                             ("a wrong password", "a wrong password")):
            assert secret not in log, f"{what} is in the log:\n{log}"


def test_the_publish_limiter_counts_per_user_and_per_key():
    with harness.ChatServer(auth_yaml() + "publish: { rate: 0.01, burst: 2 }\n") as s:
        first, second = login_token(s, "alice"), login_token(s, "alice")
        bob = login_token(s, "bob")
        key = api_key()[0]
        assert harness.post(s, "?room=ops", "1", *bearer(first)).status == 202
        assert harness.post(s, "?room=ops", "2", *bearer(second)).status == 202
        # alice's second token is alice too: her burst of 2 is spent, whichever token she uses.
        for token in (first, second):
            response = harness.post(s, "?room=ops", "3", *bearer(token))
            assert_error(response, 429, "publishing too fast: wait and retry")
            assert response.headers.get("retry-after", "").isdigit(), response.headers
        # bob and the key, from the same address, have buckets of their own; so do the names a key chooses not.
        assert harness.post(s, "?room=ops", "bob", *bearer(bob)).status == 202
        assert harness.post(s, "?room=ops&name=a", "k1", *bearer(key)).status == 202
        assert harness.post(s, "?room=ops&name=b", "k2", *bearer(key)).status == 202
        assert harness.post(s, "?room=ops&name=c", "k3", *bearer(key)).status == 429


def test_wrong_logins_sent_at_once_count_against_the_burst_too():
    # Each attempt takes its token when it starts, before the ~0.1 s password check: 12 wrong passwords sent
    # together against a burst of 4 get 4 x 401 and 8 x 429, not 12 x 401 (a check-first limiter charged only
    # after each failure, so attempts in flight all went through).
    with server(burst=4) as s:
        logins = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "15",
                                    "-H", "Content-Type: application/json", "--data-binary",
                                    json.dumps({"name": "alice", "password": f"wrong {i}"}), s.http("/login")],
                                   stdout=subprocess.PIPE) for i in range(12)]
        statuses = sorted(login.communicate(timeout=20)[0].decode() for login in logins)
        assert statuses == ["401"] * 4 + ["429"] * 8, statuses
        # A right password while the bucket is empty waits too; one that succeeds gives its token back.
        assert login(s, "alice", SHARED).status == 429
    with server(burst=2) as s:
        for _ in range(5):
            assert login(s, "alice", SHARED).status == 200  # successes never drain the bucket
        assert_error(login(s, "alice", "wrong"), 401, WRONG)
        assert login(s, "alice", SHARED).status == 200


def test_password_checks_do_not_stall_other_clients():
    with server(burst=50) as s:
        token = login_token(s, "alice")

        async def body():
            async with harness.connect(s, f"?room=ops&token={token}") as ws:
                # Eight scrypt checks at once (~0.1 s of CPU each, on the auth thread).
                # Separate curl processes, so the asyncio executor's threads stay free for the checks below.
                logins = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                                            "--data", f"name=u{i}&password=wrong{i}", s.http("/login")],
                                           stdout=subprocess.PIPE) for i in range(8)]
                await asyncio.sleep(0.1)
                started = time.monotonic()
                health = await harness.acurl(s.http("/healthz"))
                response = await harness.apost(s, "?room=ops", "during the logins", *bearer(token))
                event = await harness.recv_json(ws)
                took = time.monotonic() - started
                assert health.status == 200 and response.status == 202, (health, response)
                assert event["text"] == "during the logins", event
                statuses = [login.communicate(timeout=15)[0].decode() for login in logins]
                assert statuses == ["401"] * 8, statuses
                assert took < 0.5, f"/healthz, a publish and its delivery took {took:.3f} s during 8 logins"
        harness.run_async(body)


# --------------------------------------------------------------------------------------------------
# API keys and rooms
# --------------------------------------------------------------------------------------------------


def test_api_key_publishes_under_any_name_in_its_rooms_only():
    with server() as s:
        key = api_key()[0]
        token = login_token(s, "alice")

        async def body():
            async with harness.connect(s, f"?room=ops&token={token}") as ws:
                response = await harness.apost(s, "?room=ops&name=deploy-bot", "deployed", *bearer(key))
                assert response.status == 202, response
                event = await harness.recv_json(ws)
                assert (event["name"], event["text"]) == ("deploy-bot", "deployed"), event
                response = await harness.acurl(
                    s.http("/publish?room=ops"), "-X", "POST", "-H", "Content-Type: application/json",
                    "--data-binary", '{"name":"json-bot","text":"via json"}', *bearer(key))
                assert response.status == 202, response
                event = await harness.recv_json(ws)
                assert (event["name"], event["text"]) == ("json-bot", "via json"), event
                response = await harness.apost(s, "?room=ops", "no name given", *bearer(key))
                assert response.status == 202, response
                event = await harness.recv_json(ws)
                assert (event["name"], event["text"]) == ("ci", "no name given"), event
        harness.run_async(body)
        assert harness.post(s, "?room=deploy-prod&name=bot", "prefix room", *bearer(key)).status == 202
        assert_error(harness.post(s, "?room=secret&name=bot", "x", *bearer(key)), 403,
                     'this token may not use room "secret"')
        assert_error(harness.post(s, "?room=deploy&name=bot", "x", *bearer(key)), 403,
                     'this token may not use room "deploy"')
        history = harness.curl(s.http("/history?room=ops"), *bearer(key))
        assert history.status == 200, history
        assert [(e["name"], e["text"]) for e in history.json()["events"] if e["type"] == "message"] == [
            ("deploy-bot", "deployed"), ("json-bot", "via json"), ("ci", "no name given")], history
        presence = harness.curl(s.http("/presence?room=ops"), *bearer(key))
        assert presence.status == 200 and presence.json() == {"room": "ops", "users": []}, presence
        for route in ("/history?room=secret", "/presence?room=secret"):
            assert_error(harness.curl(s.http(route), *bearer(key)), 403, 'this token may not use room "secret"')
        assert_upgrade_refused(s, "?room=secret", [f"Authorization: Bearer {key}"], 403,
                               'this token may not use room "secret"')
        assert upgrade(s, "?room=deploy-x", [f"Authorization: Bearer {key}"])[0] == 101
        wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
        for route in ("/publish?room=ops", "/history?room=ops", "/presence?room=ops"):
            args = ["-X", "POST", "--data", "x"] if route.startswith("/publish") else []
            assert harness.curl(s.http(route), *args, *bearer(wrong)).status == 401, route
        me = harness.curl(s.http("/login"), *bearer(key))
        assert me.status == 200 and me.json() == {"mode": "password", "name": "ci"}, me


# --------------------------------------------------------------------------------------------------
# No auth section: open, as before
# --------------------------------------------------------------------------------------------------


def test_without_auth_everything_is_open_as_before():
    with harness.ChatServer() as s:
        assert harness.curl(s.http("/login")).json() == {"mode": "open"}

        async def body():
            async with harness.connect(s, "?room=ops&name=alice") as ws:
                response = await harness.apost(s, "?room=ops&name=bob", "no token needed")
                assert response.status == 202, response
                event = await harness.recv_json(ws)
                assert (event["name"], event["text"]) == ("bob", "no token needed"), event
                await ws.send("alice speaks")
                event = await harness.recv_json(ws)
                assert (event["name"], event["text"]) == ("alice", "alice speaks"), event
        harness.run_async(body)
        assert harness.curl(s.http("/history?room=ops")).status == 200
        assert harness.curl(s.http("/presence?room=ops")).status == 200
        response = login(s, "alice", "x")
        assert response.status == 404 and "auth.mode open" in response.json()["error"], response


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
