#!/usr/bin/python3
"""Access control in auth.mode jwt (issue 11): tokens minted independently of chatd, by PyJWT (python3-jwt)
and by the openssl command line, for HS256, RS256 and ES256, used with curl and python3-websockets. Every
pitfall of RFC 8725 and docs/security.md is answered 401 with its reason (alg none and its spellings,
unconfigured algorithms, algorithm confusion, duplicate members, crit, segment counts, padding, oversize,
exp, nbf, iat, leeway, iss, aud), rooms and prefix rooms 403, read-only tokens (403 on /publish, 1008 on a
WebSocket message), and a token that expires while connected closes with 4001.

Usage: /usr/bin/python3 test/python/test_auth_jwt.py /path/to/chatd
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time

import jwt  # PyJWT, Debian's python3-jwt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from auth_support import (  # noqa: E402
    assert_error,
    assert_upgrade_refused,
    assert_who_refused,
    assert_ws_refused,
    close_after,
    upgrade,
)

SECRET = "an HS256 secret of more than 32 bytes, for tests"
UNSUPPORTED_HS = "unsupported algorithm (accepted: HS256)"
# RFC 7515 A.1 (also RFC 7519 3.1): its key, and the token it signs.
RFC7515_KEY = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
RFC7515_TOKEN = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6"
                 "Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
# RFC 7519 6.1: an unsecured JWT (alg none, empty signature).
RFC7519_UNSECURED = ("eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
                     "bS9pc19yb290Ijp0cnVlfQ.")

_keys = None


def keys():
    """Key pairs made once per suite by `openssl genpkey`: RSA 2048 and EC P-256 (PEM files in a temp dir)."""
    global _keys
    if _keys is None:
        folder = tempfile.mkdtemp(prefix="chatd-jwt-keys-")
        paths = {}
        for name, args in (("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                           ("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])):
            private = os.path.join(folder, f"{name}.pem")
            public = os.path.join(folder, f"{name}.pub")
            subprocess.run(["openssl", "genpkey", *args, "-out", private], check=True, capture_output=True)
            subprocess.run(["openssl", "pkey", "-in", private, "-pubout", "-out", public], check=True,
                           capture_output=True)
            paths[name] = private
            paths[name + "_pub"] = public
        with open(os.path.join(folder, "hs.secret"), "w") as f:
            f.write(SECRET + "\n")  # one trailing newline is stripped by chatd
        paths["secret"] = os.path.join(folder, "hs.secret")
        paths["folder"] = folder
        _keys = paths
    return _keys


def read(path):
    with open(path, "rb") as f:
        return f.read()


def jwt_server(secret=True, public=None, jwt_extra="", extra=""):
    lines = ["auth:", "  mode: jwt", "  jwt:"]
    if secret:
        lines.append(f"    secret_file: {json.dumps(keys()['secret'])}")
    if public:
        lines.append(f"    public_key_file: {json.dumps(keys()[public + '_pub'])}")
    config = "\n".join(lines) + "\n" + jwt_extra + "history: { store: memory }\n" + extra
    return harness.ChatServer(config)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub="alice", ttl=600, **more):
    now = int(time.time())
    out = {"sub": sub, "exp": now + ttl, "iat": now}
    out.update(more)
    return out


def pyjwt(payload, algorithm="HS256", key=SECRET, headers=None):
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def hand_hs256(header_json, claims_json, secret=SECRET):
    """A token built from raw JSON text (duplicate members, crit: what PyJWT will not write), HMAC-SHA256 signed."""
    signing_input = b64url(header_json.encode()) + "." + b64url(claims_json.encode())
    key = secret if isinstance(secret, bytes) else secret.encode()
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def unsigned(alg, payload):
    """An unsecured token with this alg spelling and an empty signature."""
    return b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64url(json.dumps(payload).encode()) + "."


def openssl_token(alg, payload):
    """Signed by the openssl command line: HS256 by `dgst -hmac`, RS256/ES256 by `dgst -sign` with the PEM."""
    signing_input = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64url(
        json.dumps(payload).encode())
    if alg == "HS256":
        # The shell pipeline of the README: HMAC by openssl, base64url by base64 and tr.
        result = subprocess.run(
            ["sh", "-c", 'printf %s "$1" | openssl dgst -sha256 -hmac "$2" -binary | base64 -w0 | tr "+/" "-_" '
             '| tr -d "="', "sh", signing_input, SECRET], capture_output=True, check=True)
        return signing_input + "." + result.stdout.decode().strip()
    key = keys()["rsa" if alg == "RS256" else "ec"]
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    if alg == "ES256":
        der = der_to_raw(der)
    return signing_input + "." + b64url(der)


def der_signature(payload):
    """An ES256 token whose signature is openssl's DER, not JWS's raw r||s (RFC 7518 3.4): must fail."""
    signing_input = b64url(json.dumps({"alg": "ES256"}).encode()) + "." + b64url(json.dumps(payload).encode())
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", keys()["ec"]], input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    return signing_input + "." + b64url(der)


def der_to_raw(der):
    """ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }, short lengths for P-256) -> 32-byte r || 32-byte s."""
    assert der[0] == 0x30 and der[1] == len(der) - 2, der.hex()
    out = b""
    at = 2
    for _ in range(2):
        assert der[at] == 0x02, der.hex()
        length = der[at + 1]
        value = der[at + 2:at + 2 + length]
        at += 2 + length
        out += value.lstrip(b"\x00").rjust(32, b"\x00")
    return out


def who(server, token):
    return harness.curl(server.http("/login"), "-H", f"Authorization: Bearer {token}")


def assert_refused(server, token, reason):
    """401 with {"error": reason} on GET /login, /publish and the WebSocket upgrade (by header and query)."""
    assert_who_refused(who(server, token), reason, "jwt")
    response = harness.post(server, "?room=ops", "x", "-H", f"Authorization: Bearer {token}")
    assert_error(response, 401, reason)
    assert response.headers.get("www-authenticate") == 'Bearer realm="chatd"', response
    assert_upgrade_refused(server, "?room=ops", [f"Authorization: Bearer {token}"], 401, reason)
    if len(token) < 4000:
        assert_upgrade_refused(server, f"?room=ops&token={token}", [], 401, reason)


def assert_accepted(server, token, sub):
    response = who(server, token)
    assert response.status == 200, f"{sub}: {response}"
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert response.json() == {"mode": "jwt", "name": sub, "expires_at": exp * 1000}, response


# --------------------------------------------------------------------------------------------------
# Good tokens from both minters, and what they name
# --------------------------------------------------------------------------------------------------


def test_hs256_from_pyjwt_and_openssl_and_the_name_is_sub():
    with jwt_server() as s:
        by_pyjwt = pyjwt(claims("alice"))
        by_openssl = openssl_token("HS256", claims("bob"))
        assert_accepted(s, by_pyjwt, "alice")
        assert_accepted(s, by_openssl, "bob")

        async def body():
            async with harness.connect(s, f"?room=ops&name=mallory&token={by_pyjwt}") as a, \
                    harness.connect(s, "?room=ops&name=mallory",
                                    extra_headers={"Authorization": f"Bearer {by_openssl}"}) as b:
                await a.send("alice here")
                for ws in (a, b):
                    event = await harness.recv_json(ws)
                    assert (event["name"], event["text"]) == ("alice", "alice here"), event
                response = await harness.apost(s, "?room=ops&name=mallory", "bob here",
                                               "-H", f"Authorization: Bearer {by_openssl}")
                assert response.status == 202, response
                for ws in (a, b):
                    event = await harness.recv_json(ws)
                    assert (event["name"], event["text"]) == ("bob", "bob here"), event
                presence = await harness.acurl(s.http("/presence?room=ops"), "-H", f"Authorization: Bearer {by_pyjwt}")
                assert presence.json()["users"] == [{"name": "alice", "sessions": 1},
                                                    {"name": "bob", "sessions": 1}], presence
        harness.run_async(body)
        history = harness.curl(s.http("/history?room=ops"), "-H", f"Authorization: Bearer {by_pyjwt}")
        assert [(e["name"], e["text"]) for e in history.json()["events"] if e["type"] == "message"] == [
            ("alice", "alice here"), ("bob", "bob here")], history
        assert_error(harness.curl(s.http("/login"), "-X", "POST", "--data", "name=a&password=b"), 404,
                     "there are no password logins with auth.mode jwt (see docs/security.md)")
        assert harness.curl(s.http("/logout"), "-X", "POST", "-H", f"Authorization: Bearer {by_pyjwt}").status == 404


def test_rs256_from_pyjwt_and_openssl():
    with jwt_server(secret=False, public="rsa") as s:
        assert_accepted(s, pyjwt(claims("alice"), "RS256", read(keys()["rsa"])), "alice")
        assert_accepted(s, openssl_token("RS256", claims("bob")), "bob")
        token = openssl_token("RS256", claims("bob"))
        middle = len(token) - 100  # a character inside the signature, whose bits all count
        assert_refused(s, token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:],
                       "bad signature")
        # This server has no HS256 secret: an HS256 token is refused for its algorithm.
        assert_refused(s, pyjwt(claims("alice")), "unsupported algorithm (accepted: RS256)")


def test_es256_from_pyjwt_and_openssl():
    with jwt_server(secret=False, public="ec") as s:
        assert_accepted(s, pyjwt(claims("alice"), "ES256", read(keys()["ec"])), "alice")
        assert_accepted(s, openssl_token("ES256", claims("bob")), "bob")
        # The same signature left in DER is not a JWS signature.
        assert_refused(s, der_signature(claims("bob")), "bad signature")
        assert_refused(s, pyjwt(claims("alice"), "RS256", read(keys()["rsa"])),
                       "unsupported algorithm (accepted: ES256)")


def test_the_secret_file_may_be_relative_to_the_config():
    s = harness.ChatServer("auth: { mode: jwt, jwt: { secret_file: jwt.secret } }\nhistory: { store: memory }\n")
    with open(os.path.join(os.path.dirname(s.config_path), "jwt.secret"), "w") as f:
        f.write(SECRET + "\n")
    with s:
        assert_accepted(s, pyjwt(claims("alice")), "alice")


# --------------------------------------------------------------------------------------------------
# Pitfalls: every one is 401 with its reason
# --------------------------------------------------------------------------------------------------


def test_alg_none_and_unconfigured_algorithms():
    with jwt_server() as s:
        # RFC 7519 6.1 has no "sub": refused as malformed before its algorithm is even looked at.
        assert_refused(s, RFC7519_UNSECURED, 'malformed token: no "sub" claim')
        for alg in ("none", "None", "NONE", "hs256", "HS512", "RS256", "ES256", ""):
            assert_refused(s, unsigned(alg, claims()), UNSUPPORTED_HS)
        # Properly signed, but with algorithms this server was not configured for.
        assert_refused(s, pyjwt(claims(), "HS512"), UNSUPPORTED_HS)
        assert_refused(s, pyjwt(claims(), "HS384"), UNSUPPORTED_HS)
        assert_refused(s, pyjwt(claims(), "RS256", read(keys()["rsa"])), UNSUPPORTED_HS)
        # An HS256 header spelled differently but signed with the right secret.
        assert_refused(s, hand_hs256('{"alg":"hs256"}', json.dumps(claims())), UNSUPPORTED_HS)
        # And the control: the same hand-built token with "HS256" passes.
        assert_accepted(s, hand_hs256('{"alg":"HS256"}', json.dumps(claims())), "alice")


def test_algorithm_confusion_rsa_public_key_as_hmac_secret():
    pem = read(keys()["rsa_pub"])
    forged = hand_hs256('{"alg":"HS256","typ":"JWT"}', json.dumps(claims("admin")), secret=pem)
    with jwt_server(secret=False, public="rsa") as s:
        assert_refused(s, forged, "unsupported algorithm (accepted: RS256)")
    # With an HS256 secret as well, the HS256 verifier uses only that secret, never the public key.
    with jwt_server(secret=True, public="rsa") as s:
        assert_refused(s, forged, "bad signature")
        assert_accepted(s, pyjwt(claims("alice")), "alice")
        assert_accepted(s, pyjwt(claims("bob"), "RS256", read(keys()["rsa"])), "bob")


def test_duplicate_members_crit_and_typ():
    with jwt_server() as s:
        exp = int(time.time()) + 600
        assert_refused(s, hand_hs256('{"alg":"HS256"}', f'{{"sub":"alice","sub":"admin","exp":{exp}}}'),
                       "malformed token: a claim is given twice")
        assert_refused(s, hand_hs256('{"alg":"HS256","alg":"none"}', f'{{"sub":"alice","exp":{exp}}}'),
                       "malformed token: a header member is given twice")
        assert_refused(s, hand_hs256('{"alg":"HS256","crit":["exp"]}', f'{{"sub":"alice","exp":{exp}}}'),
                       'malformed token: "crit" names extensions chatd does not implement')
        assert_refused(s, pyjwt(claims(), headers={"typ": "JOSE+JSON"}), 'malformed token: "typ" must be "JWT"')
        assert_refused(s, hand_hs256('{"alg":"HS256"}', f'{{"exp":{exp}}}'), 'malformed token: no "sub" claim')
        assert_refused(s, hand_hs256('{"alg":"HS256"}', '{"sub":"alice"}'), 'malformed token: no "exp" claim')
        assert_refused(s, hand_hs256('{"alg":"HS256"}', f'{{"sub":"alice","exp":"{exp}"}}'),
                       'malformed token: "exp" must be a number of seconds')
        assert_refused(s, hand_hs256('{"alg":"HS256"}', f'{{"sub":"alice","exp":{exp},"publish":"no"}}'),
                       'malformed token: "publish" must be true or false')


def test_segments_padding_and_size():
    with jwt_server() as s:
        good = pyjwt(claims())
        header, payload, signature = good.split(".")
        assert_accepted(s, good, "alice")
        for token in (f"{header}.{payload}", f"{header}.{payload}.{signature}.{signature}", header,
                      f"{header}..{payload}.{signature}"):
            assert_refused(s, token, "malformed token: not three segments")
        # The same token with base64 padding, or the standard alphabet, on one segment.
        padded = json.dumps(claims(pad="xx"))
        body = b64url(padded.encode())
        assert len(body) % 4 != 0, "the payload must be one that base64 would pad"
        for token in (hand_hs256('{"alg":"HS256"}', padded).replace(body, body + "=" * (-len(body) % 4)),
                      f"{header}.{payload}.{signature}=",
                      f"{header}.{payload}.{signature.replace('-', '+').replace('_', '/')}"
                      if ("-" in signature or "_" in signature) else f"{header}.{payload}.{signature}+"):
            assert_refused(s, token, "malformed token: a segment is not unpadded base64url")
        # With the default limits.max_header_size (8 KiB) a head holding a token over 8 KiB is 431 already.
        big = pyjwt(claims(blob="x" * 6200))
        assert 8192 < len(big) < 11000, len(big)
        response = who(s, big)
        assert_error(response, 431, "request headers are larger than 8192 bytes")
        fits = pyjwt(claims(blob="x" * 5000))
        assert len(fits) < 8000
        assert_accepted(s, fits, "alice")
    # With room for it in the head, the token's own cap answers.
    with jwt_server(extra="limits: { max_header_size: 12KiB }\n") as s:
        assert_refused(s, big, "malformed token: longer than 8 KiB")


def test_bad_signature_expired_not_yet_valid():
    with jwt_server() as s:
        assert_refused(s, pyjwt(claims(), key=SECRET + "!"), "bad signature")
        good = pyjwt(claims())
        flipped = good[:-2] + ("AA" if good[-2:] != "AA" else "BA")
        assert_refused(s, flipped, "bad signature")
        # The claims changed, the signature not: the signature covers the bytes received.
        header, payload, signature = good.split(".")
        assert_refused(s, f"{header}.{b64url(json.dumps(claims('admin')).encode())}.{signature}", "bad signature")
        now = int(time.time())
        # The default leeway is 30 s.
        assert_refused(s, pyjwt({"sub": "alice", "exp": now - 100}), "token expired")
        assert_refused(s, pyjwt({"sub": "alice", "exp": now - 31}), "token expired")
        assert_accepted(s, pyjwt({"sub": "alice", "exp": now - 10}), "alice")
        assert_refused(s, pyjwt({"sub": "alice", "exp": now + 600, "nbf": now + 100}), "token not yet valid (nbf)")
        assert_accepted(s, pyjwt({"sub": "alice", "exp": now + 600, "nbf": now + 10}), "alice")
        assert_refused(s, pyjwt({"sub": "alice", "exp": now + 600, "iat": now + 100}),
                       "token not yet valid (iat in the future)")


def test_leeway_zero():
    with jwt_server(jwt_extra="    leeway: 0s\n") as s:
        now = int(time.time())
        assert_refused(s, pyjwt({"sub": "alice", "exp": now - 10}), "token expired")
        assert_refused(s, pyjwt({"sub": "alice", "exp": now + 600, "nbf": now + 10}), "token not yet valid (nbf)")
        assert_accepted(s, pyjwt({"sub": "alice", "exp": now + 60}), "alice")


def test_issuer_and_audience_when_configured():
    with jwt_server(jwt_extra="    issuer: https://auth.example\n    audience: chatd\n") as s:
        ok = {"iss": "https://auth.example", "aud": "chatd"}
        assert_accepted(s, pyjwt(claims(**ok)), "alice")
        assert_accepted(s, pyjwt(claims(iss="https://auth.example", aud=["other", "chatd"])), "alice")
        assert_refused(s, pyjwt(claims(iss="https://evil.example", aud="chatd")), "wrong issuer")
        assert_refused(s, pyjwt(claims(aud="chatd")), "wrong issuer")
        assert_refused(s, pyjwt(claims(iss="https://auth.example", aud="other")), "wrong audience")
        assert_refused(s, pyjwt(claims(iss="https://auth.example", aud=["other", "chatd2"])), "wrong audience")
        assert_refused(s, pyjwt(claims(iss="https://auth.example")), "wrong audience")
    # Not configured: not checked.
    with jwt_server() as s:
        assert_accepted(s, pyjwt(claims(iss="anyone", aud="anything")), "alice")


def test_a_far_future_exp_is_not_taken_for_a_past_one():
    # exp 9999999999 (year 2286) is what backends write for "never": past what a nanosecond clock holds
    # (2262). chatd may refuse it (401 with a reason), or take it as the far future it is; it must not accept
    # the handshake and then close the socket at once as expired, or report an expires_at in the past.
    with jwt_server() as s:
        for exp in (9999999999, 10 ** 18):
            token = pyjwt({"sub": "alice", "exp": exp})
            response = who(s, token)
            if response.status == 401:
                assert_refused(s, token, response.json()["error"])
                continue
            assert response.status == 200, response
            # exp in ms, or the latest a 64-bit nanosecond clock can hold (2262-04-11) if chatd clamps it there.
            answer = response.json()
            assert set(answer) == {"mode", "name", "expires_at"} and answer["name"] == "alice", answer
            assert answer["expires_at"] in (exp * 1000, (2 ** 63 - 1) // 10 ** 6), (
                f"exp {exp}: GET /login says expires_at {answer['expires_at']}")

            async def body():
                async with harness.connect(s, f"?room=ops&token={token}") as ws:
                    try:
                        closed = await close_after(ws, timeout=1.0)
                    except asyncio.TimeoutError:
                        return
                    raise AssertionError(f"exp {exp}: accepted, then closed at once with {closed}")
            harness.run_async(body)


def test_rfc7515_a1_token_is_refused():
    # Its own key: the signature is right, but it has no "sub" (and its exp is in 2011).
    folder = tempfile.mkdtemp(prefix="chatd-rfc7515-")
    secret = os.path.join(folder, "rfc.secret")
    with open(secret, "wb") as f:
        f.write(base64.urlsafe_b64decode(RFC7515_KEY + "=="))
    with harness.ChatServer(f"auth: {{ mode: jwt, jwt: {{ secret_file: {json.dumps(secret)} }} }}\n"
                            "history: { store: memory }\n") as s:
        assert_refused(s, RFC7515_TOKEN, 'malformed token: no "sub" claim')
        # The same key signs a token with a sub: accepted, which shows the key was read as its 64 raw bytes.
        key = base64.urlsafe_b64decode(RFC7515_KEY + "==")
        assert_accepted(s, pyjwt(claims("joe"), key=key), "joe")


# --------------------------------------------------------------------------------------------------
# Rooms, read-only tokens, expiry while connected
# --------------------------------------------------------------------------------------------------


def test_rooms_and_prefix_rooms():
    with jwt_server() as s:
        token = pyjwt(claims("alice", rooms=["ops", "team-*"]))
        auth = f"Authorization: Bearer {token}"
        assert upgrade(s, "?room=ops", [auth])[0] == 101
        assert upgrade(s, "?room=team-red", [auth])[0] == 101
        assert upgrade(s, f"?room=team-blue&token={token}", [])[0] == 101
        for room in ("dev", "team", "ops2", "xteam-red"):
            assert_upgrade_refused(s, f"?room={room}", [auth], 403, f'this token may not use room "{room}"')
            assert_error(harness.post(s, f"?room={room}", "x", "-H", auth), 403,
                         f'this token may not use room "{room}"')
            for route in ("/history", "/presence"):
                assert_error(harness.curl(s.http(f"{route}?room={room}"), "-H", auth), 403,
                             f'this token may not use room "{room}"')
        assert harness.post(s, "?room=team-red", "in a prefix room", "-H", auth).status == 202
        # Without rooms a token may use every room; room B stays empty of room A's tokens' writes.
        anyroom = f"Authorization: Bearer {pyjwt(claims('bob'))}"
        assert harness.post(s, "?room=dev", "bob in dev", "-H", anyroom).status == 202
        history = harness.curl(s.http("/history?room=dev"), "-H", anyroom)
        assert [(e["name"], e["text"]) for e in history.json()["events"] if e["type"] == "message"] == [
            ("bob", "bob in dev")], history
        # An empty list is no room at all; "*" is every room (the empty prefix).
        nothing = f"Authorization: Bearer {pyjwt(claims('carol', rooms=[]))}"
        assert_error(harness.post(s, "?room=dev", "x", "-H", nothing), 403, 'this token may not use room "dev"')
        assert_upgrade_refused(s, "?room=ops", [nothing], 403, 'this token may not use room "ops"')
        everything = f"Authorization: Bearer {pyjwt(claims('dave', rooms=['*']))}"
        assert harness.post(s, "?room=dev", "dave in dev", "-H", everything).status == 202
        # The default room (general) is a room like any other.
        assert_upgrade_refused(s, "", [auth], 403, 'this token may not use room "general"')


def test_read_only_token():
    with jwt_server() as s:
        reader = pyjwt(claims("reader", publish=False))
        writer = pyjwt(claims("writer"))
        assert_error(harness.post(s, "?room=ops", "x", "-H", f"Authorization: Bearer {reader}"), 403,
                     "this token may read but not publish")

        async def body():
            async with harness.connect(s, f"?room=ops&token={reader}") as ro, \
                    harness.connect(s, f"?room=ops&token={writer}") as bystander:
                response = await harness.apost(s, "?room=ops", "for the reader",
                                               "-H", f"Authorization: Bearer {writer}")
                assert response.status == 202, response
                for ws in (ro, bystander):
                    event = await harness.recv_json(ws)
                    assert (event["name"], event["text"]) == ("writer", "for the reader"), event
                await ro.send("the reader tries to speak")
                assert await close_after(ro) == (1008, "this token may not publish")
                # Nothing reached the room, and the bystander is still served.
                response = await harness.apost(s, "?room=ops", "after", "-H", f"Authorization: Bearer {writer}")
                assert response.status == 202, response
                event = await harness.recv_json(bystander)
                assert event["type"] == "message" and event["text"] == "after", event
        harness.run_async(body)
        history = harness.curl(s.http("/history?room=ops"), "-H", f"Authorization: Bearer {reader}")
        assert history.status == 200, history
        texts = [e["text"] for e in history.json()["events"] if e["type"] == "message"]
        assert texts == ["for the reader", "after"], texts


def test_a_token_that_expires_while_connected_closes_with_4001():
    with jwt_server(jwt_extra="    leeway: 0s\n") as s:
        async def body():
            # exp = now + 3 s, in whole seconds: the close is due 2 to 3 s after the connection opens.
            exp = int(time.time()) + 3
            short = pyjwt({"sub": "alice", "exp": exp})
            lasting = pyjwt(claims("bob"))
            async with harness.connect(s, f"?room=ops&token={short}") as ws, \
                    harness.connect(s, f"?room=ops&token={lasting}") as bystander:
                opened = time.time()
                code, reason = await close_after(ws, timeout=8)
                closed_at = time.time()
                assert (code, reason) == (4001, "token expired"), (code, reason)
                assert 2.0 <= closed_at - opened <= 4.5, f"closed {closed_at - opened:.3f} s after opening"
                assert exp <= closed_at < exp + 0.5, f"closed {closed_at - exp:+.3f} s from exp"
                response = await harness.apost(s, "?room=ops", "still on", "-H", f"Authorization: Bearer {lasting}")
                assert response.status == 202, response
                event = await harness.recv_json(bystander)
                assert event["text"] == "still on", event
            await assert_ws_refused(s, f"?room=ops&token={short}", 401)
        harness.run_async(body)


def test_a_token_accepted_within_the_leeway_is_not_closed_at_once():
    # exp 10 s ago, leeway 30 s: the handshake accepts it (the issuer's clock may be behind ours, RFC 7519
    # 4.1.4), so the connection must live until exp + leeway by our clock, not be closed as expired on the spot
    # (a client reconnecting with the same token would then loop: 101, 4001, 101, ...).
    with jwt_server() as s:
        exp = int(time.time()) - 10
        token = pyjwt({"sub": "alice", "exp": exp})
        assert_accepted(s, token, "alice")

        async def body():
            async with harness.connect(s, f"?room=ops&token={token}") as ws:
                opened = time.time()
                try:
                    closed = await close_after(ws, timeout=1.5)
                except asyncio.TimeoutError:
                    return
                raise AssertionError(f"accepted within the leeway, then closed {time.time() - opened:.3f} s later "
                                     f"with {closed}; exp + leeway is {exp + 30 - time.time():.1f} s away")
        harness.run_async(body)


def test_api_keys_in_jwt_mode():
    key = "jwt-suite-key-0123456789abcdefghijklmnopqrstuv"
    digest = hashlib.sha256(key.encode()).hexdigest()
    with harness.ChatServer(
            f"auth:\n  mode: jwt\n  jwt: {{ secret_file: {json.dumps(keys()['secret'])} }}\n"
            f"  api_keys: [{{ name: bot, sha256: {digest}, rooms: [ops] }}]\nhistory: {{ store: memory }}\n") as s:
        auth = f"Authorization: Bearer {key}"
        assert harness.post(s, "?room=ops&name=ci-bot", "by key", "-H", auth).status == 202
        assert_error(harness.post(s, "?room=dev", "x", "-H", auth), 403, 'this token may not use room "dev"')
        # A wrong key is tried as a JWT, which it is not.
        assert_refused(s, key + "x", "malformed token: not three segments")
        history = harness.curl(s.http("/history?room=ops"), "-H", f"Authorization: Bearer {pyjwt(claims())}")
        assert [(e["name"], e["text"]) for e in history.json()["events"]] == [("ci-bot", "by key")], history
        me = who(s, key)
        assert me.status == 200 and me.json() == {"mode": "jwt", "name": "bot"}, me


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
