#!/usr/bin/python3
"""The cluster section's refusals (issue 12): chatd exits with status 2 and one line
"FILE:LINE:COL: cluster.KEY: problem" on stderr for a bad engine, address, prefix, node_ttl, unavailable_wait or
password file, and for history.durability sync with engine redis; `--check-config` says the same. A good
cluster section passes --check-config with no Redis running and a host name that cannot resolve: the config is
checked as text, and Redis is the engine's to reach at start-up. chat.yaml's own section, switched to engine
redis, passes too.

The config files are the test's own, in a temp dir chatd runs in.

Usage: /usr/bin/python3 test/python/test_cluster_config.py /path/to/chatd
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Two lines before every test's own text, so that the cluster section starts on line 3.
HEADER = "listen: { address: 127.0.0.1, port: 0 }\nstatic: { root: \"\" }\n"
ADDRESS_EXPECTED = 'expected HOST:PORT such as 127.0.0.1:6379, redis.internal:6379 or "[::1]:6379"'


def run_chatd(config_text, files=None, check=False):
    """chatd on this chat.yaml (run in its folder, as `--config chat.yaml`): (exit status, stderr lines, stdout)."""
    with tempfile.TemporaryDirectory(prefix="chatd-cluster-config-") as folder:
        with open(os.path.join(folder, "chat.yaml"), "w") as f:
            # Last, so that the lines the expected errors name stay where the test wrote them.
            f.write(config_text.rstrip("\n") + "\n" + harness.admin_yaml(config_text))
        for name, text in (files or {}).items():
            with open(os.path.join(folder, name), "w") as f:
                f.write(text)
        os.mkdir(os.path.join(folder, "static"))
        args = [harness.CHATD, "--config", "chat.yaml"] + (["--check-config"] if check else [])
        try:
            result = subprocess.run(args, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"chatd did not exit within 10 s on:\n{config_text}")
    lines = [line for line in result.stderr.decode().splitlines() if " warn limits.max_connections" not in line]
    return result.returncode, lines, result.stdout.decode()


def assert_refused(config_text, line, files=None):
    """Both a real start and --check-config exit 2 with exactly this one line on stderr."""
    for check in (False, True):
        code, lines, _ = run_chatd(HEADER + config_text, files, check)
        what = "--check-config" if check else "start"
        assert code == 2, f"{what}: exit {code}, expected 2; stderr {lines}\n{config_text}"
        assert lines == [line], f"{what}: stderr {lines}, expected [{line!r}]"


def assert_checks_ok(config_text, files=None):
    code, lines, out = run_chatd(config_text, files, check=True)
    assert (code, lines, out) == (0, [], "ok\n"), (code, lines, out, config_text)


def test_an_address_without_a_port():
    assert_refused("cluster:\n  engine: redis\n  redis: { address: localhost }\n",
                   f"chat.yaml:5:21: cluster.redis.address: {ADDRESS_EXPECTED}, got 'localhost' (no ':PORT'; "
                   "Redis's own is 6379)")


def test_an_ipv6_address_without_brackets():
    assert_refused("cluster:\n  redis:\n    address: \"::1:6379\"\n",
                   f"chat.yaml:5:14: cluster.redis.address: {ADDRESS_EXPECTED}, got '::1:6379' (an IPv6 address is "
                   "written in brackets: \"[::1]:6379\")")


def test_a_prefix_with_a_colon():
    assert_refused("cluster:\n  redis:\n    prefix: \"chatd:prod\"\n",
                   "chat.yaml:5:13: cluster.redis.prefix: expected 1 to 32 characters from A-Z, a-z, 0-9, '.', '_' "
                   "and '-' (no ':', '{' or '}', which the keys are made of), got 'chatd:prod'")


def test_a_node_ttl_under_3s_and_a_wait_not_under_it():
    assert_refused("cluster: { node_ttl: 2s }\n",
                   "chat.yaml:3:22: cluster.node_ttl: expected a duration from 3s to 1h, such as 15s, got '2s'")
    assert_refused("cluster:\n  node_ttl: 10s\n  unavailable_wait: 10s\n",
                   "chat.yaml:5:21: cluster.unavailable_wait: expected a duration > 0 and less than cluster.node_ttl "
                   "(10s), got '10s'")


def test_an_unknown_engine_and_an_unknown_key():
    assert_refused("cluster: { engine: etcd }\n",
                   "chat.yaml:3:20: cluster.engine: expected none or redis, got 'etcd'")
    assert_refused("cluster:\n  redis: { host: 10.0.0.1 }\n",
                   "chat.yaml:4:12: cluster.redis.host: unknown key 'host' (known: address, password_file, prefix)")


def test_sync_durability_with_engine_redis():
    problem = ("history.durability: sync durability is SQLite's; with cluster.engine redis every event is in Redis "
               "before it is delivered")
    assert_refused("history:\n  store: memory\n  durability: sync\ncluster: { engine: redis }\n",
                   f"chat.yaml:5:15: {problem}")
    # The control: the same history with engine none starts as before.
    assert_checks_ok(HEADER + "history:\n  store: memory\n  durability: sync\ncluster: { engine: none }\n")


def test_a_missing_or_empty_password_file():
    assert_refused("cluster:\n  redis: { password_file: redis.password }\n",
                   "chat.yaml:4:27: cluster.redis.password_file: cannot read 'redis.password': No such file or "
                   "directory")
    assert_refused("cluster:\n  redis: { password_file: redis.password }\n",
                   "chat.yaml:4:27: cluster.redis.password_file: 'redis.password' is empty",
                   {"redis.password": "\n"})


def test_a_good_cluster_section_needs_no_redis():
    # .invalid never resolves (RFC 6761 6.4) and no Redis listens: --check-config reads the text only.
    assert_checks_ok(HEADER + "history: { store: memory }\ncluster:\n  engine: redis\n"
                     "  redis: { address: redis.invalid:6380, password_file: redis.password, prefix: chat-eu.1 }\n"
                     "  node_ttl: 5s\n  unavailable_wait: 500ms\n", {"redis.password": "s3cret\n"})
    assert_checks_ok(HEADER + "cluster:\n  engine: redis\n  redis: { address: \"[::1]:6379\", password_file: \"\" }\n")


def test_chat_yaml_section_with_engine_redis():
    with open(os.path.join(REPO, "chat.yaml")) as f:
        example = f.read()
    assert example.count("\n  engine: none ") == 1, "chat.yaml's cluster.engine line changed: update this test"
    assert_checks_ok(example)
    assert_checks_ok(example.replace("\n  engine: none ", "\n  engine: redis"))


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
