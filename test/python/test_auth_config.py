#!/usr/bin/python3
"""The auth section's start-up refusals (issue 11): chatd exits with status 2 and one line
"FILE:LINE:COL: auth.KEY: problem" on stderr for an HS256 secret under 32 bytes, a missing key file, a
malformed hash (whose value is never echoed), password or jwt mode with nothing to check against, a PEM that
is not a public key, an RSA key under 2048 bits and an EC key off P-256; `--check-config` says the same.
And the helpers the config needs: `--hash-password` output logs in, `--new-api-key` output is a working key.

Keys by the openssl command line; the config files are the test's own, in a temp dir chatd runs in.

Usage: /usr/bin/python3 test/python/test_auth_config.py /path/to/chatd
"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from auth_support import assert_error, new_api_key, password_hash  # noqa: E402

HASH_ADVICE = ('expected a password hash from chatd --hash-password, such as "$scrypt$ln=15,r=8,p=1$..." '
               '(the value is not shown: it may be a password)')


def run_config(config, files=None, check=False):
    """chatd on this chat.yaml (run in its folder, as `--config chat.yaml`): (exit status, stderr lines)."""
    with tempfile.TemporaryDirectory(prefix="chatd-auth-config-") as folder:
        os.mkdir(os.path.join(folder, "static"))
        with open(os.path.join(folder, "chat.yaml"), "w") as f:
            # The admin line last, so that the lines the expected errors name stay where the test wrote them.
            f.write("listen: { address: 127.0.0.1, port: 0 }\nhistory: { store: memory }\n" + config.rstrip("\n")
                    + "\n" + harness.admin_yaml(config))
        for name, make in (files or {}).items():
            make(os.path.join(folder, name))
        args = [harness.CHATD, "--config", "chat.yaml"] + (["--check-config"] if check else [])
        try:
            result = subprocess.run(args, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"chatd started (did not exit within 10 s) on:\n{config}")
    lines = [line for line in result.stderr.decode().splitlines() if " warn limits.max_connections" not in line]
    return result.returncode, lines, result.stdout.decode()


def assert_refused(config, line, files=None, secret=None):
    """Both a real start and --check-config exit 2 with exactly this one line (and never `secret`)."""
    for check in (False, True):
        code, lines, out = run_config(config, files, check)
        what = "--check-config" if check else "start"
        assert code == 2, f"{what}: exit {code}, expected 2; stderr {lines}\n{config}"
        assert lines == [line], f"{what}: stderr {lines}, expected [{line!r}]"
        if secret is not None:
            assert secret not in "\n".join(lines) + out, f"{what}: the value {secret!r} is echoed: {lines}"


def write_text(text):
    def make(path):
        with open(path, "w") as f:
            f.write(text)
    return make


def openssl_public_key(*genpkey_args):
    def make(path):
        private = path + ".private"
        subprocess.run(["openssl", "genpkey", *genpkey_args, "-out", private], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", private, "-pubout", "-out", path], check=True, capture_output=True)
    return make


def test_password_mode_with_nothing_to_check_against():
    assert_refused("auth: { mode: password }\n",
                   "chat.yaml:3:15: auth.mode: mode password needs auth.password_hash or auth.users to check "
                   "passwords against (make a hash with chatd --hash-password)")


def test_jwt_mode_with_no_key():
    assert_refused("auth: { mode: jwt }\n",
                   "chat.yaml:3:15: auth.mode: mode jwt needs auth.jwt.secret_file (HS256) or "
                   "auth.jwt.public_key_file (RS256, ES256) to check signatures with")


def test_hs256_secret_of_31_bytes():
    assert_refused("auth:\n  mode: jwt\n  jwt:\n    secret_file: short.secret\n",
                   "chat.yaml:6:18: auth.jwt.secret_file: 'short.secret' holds 31 bytes; an HS256 secret needs at "
                   "least 32 (RFC 7518 3.2), such as the output of openssl rand -hex 32",
                   {"short.secret": write_text("x" * 31 + "\n")})  # the newline is not counted
    # 32 bytes is enough: the control.
    code, lines, _ = run_config("auth: { mode: jwt, jwt: { secret_file: ok.secret } }\n",
                                {"ok.secret": write_text("x" * 32 + "\n")}, check=True)
    assert code == 0 and lines == [], (code, lines)


def test_missing_key_files():
    assert_refused("auth: { mode: jwt, jwt: { secret_file: missing.secret } }\n",
                   "chat.yaml:3:40: auth.jwt.secret_file: cannot read 'missing.secret': No such file or directory")
    assert_refused("auth: { mode: jwt, jwt: { public_key_file: missing.pub } }\n",
                   "chat.yaml:3:44: auth.jwt.public_key_file: cannot read 'missing.pub': No such file or directory")


def test_malformed_hashes_are_pointed_at_and_never_echoed():
    # A password pasted where its hash belongs must not end up in a terminal or a log.
    for value in ("hunter2-the-actual-password", "$pbkdf2$hunter2-the-actual-password", "scrypt$hunter2-the-actual"):
        assert_refused(f"auth:\n  mode: password\n  password_hash: {json.dumps(value)}\n",
                       f"chat.yaml:5:18: auth.password_hash: {HASH_ADVICE}", secret="hunter2")
    for value, problem in (("$scrypt$ln=15,r=8,p=1$hunter2salt", "missing the key"),):
        assert_refused(f"auth:\n  mode: password\n  users: {{ admin: {json.dumps(value)} }}\n",
                       f"chat.yaml:5:19: auth.users.admin: {problem} (expected $scrypt$ln=N,r=R,p=P$SALT$KEY, "
                       f"from chatd --hash-password)", secret="hunter2")


def test_a_garbage_pem_and_a_private_key():
    assert_refused("auth: { mode: jwt, jwt: { public_key_file: key.pub } }\n",
                   "chat.yaml:3:44: auth.jwt.public_key_file: 'key.pub': not a PEM public key (expected -----BEGIN "
                   "PUBLIC KEY-----)", {"key.pub": write_text("-----BEGIN PUBLIC KEY-----\nnot base64!\n"
                                                              "-----END PUBLIC KEY-----\n")})

    def private_key(path):
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path],
                       check=True, capture_output=True)
    assert_refused("auth: { mode: jwt, jwt: { public_key_file: key.pub } }\n",
                   "chat.yaml:3:44: auth.jwt.public_key_file: 'key.pub': not a PEM public key (expected -----BEGIN "
                   "PUBLIC KEY-----)", {"key.pub": private_key})


def test_an_rsa_1024_key_and_an_ec_key_off_p256():
    assert_refused("auth: { mode: jwt, jwt: { public_key_file: key.pub } }\n",
                   "chat.yaml:3:44: auth.jwt.public_key_file: 'key.pub': RSA key of 1024 bits; at least 2048 are "
                   "needed", {"key.pub": openssl_public_key("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")})
    assert_refused("auth: { mode: jwt, jwt: { public_key_file: key.pub } }\n",
                   "chat.yaml:3:44: auth.jwt.public_key_file: 'key.pub': an EC key on a curve other than P-256 "
                   "(ES256 needs P-256)",
                   {"key.pub": openssl_public_key("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384")})
    # The control: an EC P-256 public key is accepted.
    code, lines, out = run_config("auth: { mode: jwt, jwt: { public_key_file: key.pub } }\n",
                                  {"key.pub": openssl_public_key("-algorithm", "EC", "-pkeyopt",
                                                                 "ec_paramgen_curve:P-256")}, check=True)
    assert (code, lines, out.strip()) == (0, [], "ok"), (code, lines, out)


def test_hash_password_output_logs_in_and_new_api_key_output_is_a_key():
    password = "correct horse battery staple"
    key, digest = new_api_key()
    other_key, _ = new_api_key()
    assert key != other_key
    with harness.ChatServer(f"auth:\n  mode: password\n  password_hash: \"{password_hash(password)}\"\n"
                            f"  api_keys: [{{ name: ci, sha256: {digest} }}]\nhistory: {{ store: memory }}\n") as s:
        response = harness.curl(s.http("/login"), "-X", "POST", "-H", "Content-Type: application/json",
                                "--data-binary", json.dumps({"name": "alice", "password": password}))
        assert response.status == 200 and response.json()["name"] == "alice", response
        response = harness.curl(s.http("/login"), "-X", "POST", "-H", "Content-Type: application/json",
                                "--data-binary", json.dumps({"name": "alice", "password": password + " "}))
        assert_error(response, 401, "wrong name or password")
        # The key, with no rooms listed, may use every room.
        response = harness.post(s, "?room=anything&name=bot", "by the new key", "-H", f"Authorization: Bearer {key}")
        assert response.status == 202, response
        response = harness.post(s, "?room=anything", "x", "-H", f"Authorization: Bearer {other_key}")
        assert response.status == 401, response
    # Two hashes of one password differ (salted); an empty password is refused.
    first = subprocess.run([harness.CHATD, "--hash-password"], input=b"same\n", capture_output=True).stdout
    second = subprocess.run([harness.CHATD, "--hash-password"], input=b"same\n", capture_output=True).stdout
    assert first != second and first.startswith(b"$scrypt$ln=15,r=8,p=1$"), (first, second)
    empty = subprocess.run([harness.CHATD, "--hash-password"], input=b"", capture_output=True)
    assert empty.returncode == 2 and empty.stdout == b"", empty
    assert b"--hash-password needs a password on standard input" in empty.stderr, empty.stderr


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
