#!/usr/bin/env python3
"""The installed example config: chat.yaml with static.root and history.path made absolute, for the systemd
unit (docs/deploy.md). Fails if either line is not found, so that a change to chat.yaml cannot silently leave
a relative path in the installed file.

Usage: install_config.py CHAT_YAML OUTPUT STATIC_ROOT DATABASE"""
import re
import sys

source, output, static_root, database = sys.argv[1:5]
text = open(source).read()
for key, value in (("root", static_root), ("path", database)):
    text, count = re.subn(rf"^(  {key}: )\S+", lambda m, v=value: m.group(1) + v, text, count=1, flags=re.M)
    if count != 1:
        sys.exit(f"install_config.py: no '  {key}:' line in {source}")
with open(output, "w") as f:
    f.write(text)
