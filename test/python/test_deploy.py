"""What `meson install` puts where the systemd unit expects it (docs/deploy.md), judged by the tools that will
read it: `systemd-analyze verify` on the installed unit and `chatd --check-config` on the installed config.

Usage: /usr/bin/python3 test/python/test_deploy.py /path/to/chatd BUILD_DIR PREFIX
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BUILD_DIR = None
PREFIX = None
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"


def installed(destdir):
    result = subprocess.run(["meson", "install", "-C", BUILD_DIR, "--destdir", destdir, "--no-rebuild", "--quiet"],
                            capture_output=True, timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[-2000:]
    return lambda path: destdir + path


def test_install_puts_binary_page_config_and_unit_where_the_unit_says():
    with tempfile.TemporaryDirectory(prefix="chatd-install-") as destdir:
        at = installed(destdir)
        unit_path = at(f"{PREFIX}/lib/systemd/system/chatd.service")
        unit = open(unit_path).read()
        exec_start = re.search(r"^ExecStart=(\S+) --config (\S+)$", unit, re.M)
        assert exec_start, unit
        binary, config = exec_start.groups()
        assert os.access(at(binary), os.X_OK), binary
        assert os.path.isfile(at(config)), config
        for line in ("DynamicUser=yes", "StateDirectory=chatd", "ProtectSystem=strict", "NoNewPrivileges=yes"):
            assert re.search(rf"^{re.escape(line)}$", unit, re.M), f"{line} missing:\n{unit}"
        text = open(at(config)).read()
        root = re.search(r"^  root: (\S+)", text, re.M).group(1)
        database = re.search(r"^  path: (\S+)", text, re.M).group(1)
        assert os.path.isfile(at(root) + "/index.html"), root
        assert database == "/var/lib/chatd/chat.db", database  # the unit's StateDirectory

        # The installed config, with its absolute paths moved under the temporary folder, passes the check a
        # start would make (the page's folder exists, the database's folder is writable).
        state = os.path.join(destdir, "var-lib-chatd")
        os.makedirs(state)
        moved = os.path.join(destdir, "check.yaml")
        with open(moved, "w") as f:
            f.write(text.replace(f"  root: {root}", f"  root: {at(root)}")
                        .replace(f"  path: {database}", f"  path: {state}/chat.db"))
        check = subprocess.run([harness.CHATD, "--check-config", "--config", moved], capture_output=True, timeout=30)
        assert check.returncode == 0 and check.stdout == b"ok\n", (check.stdout, check.stderr)

        if not os.path.exists(SYSTEMD_ANALYZE):
            raise harness.Skip(f"{SYSTEMD_ANALYZE} is not installed (apt-get install systemd)")
        # verify checks that ExecStart's program exists: the unit is verified with it pointing into the
        # temporary folder, everything else as installed.
        verified = os.path.join(destdir, "chatd.service")
        with open(verified, "w") as f:
            f.write(unit.replace(f"ExecStart={binary} ", f"ExecStart={at(binary)} "))
        result = subprocess.run([SYSTEMD_ANALYZE, "verify", verified], capture_output=True, timeout=60)
        output = (result.stdout + result.stderr).decode()
        assert result.returncode == 0, output
        # Nothing said about our unit (other units of the machine may have their own complaints).
        assert "chatd.service" not in output, output


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    BUILD_DIR, PREFIX = sys.argv[2], sys.argv[3]
    del sys.argv[2:]
    sys.exit(harness.main(globals()))
