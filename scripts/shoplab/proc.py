"""Processes: messages, failing, running a command, a free port."""

from __future__ import annotations

import socket
import subprocess
import sys


# `bench:` as when these lived in bench.py, so that soak.py's and
# profile.py's messages from here read as they always have.
def say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def fail(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cmd: list[str], env: dict | None = None, input: str | None = None) -> str:
    done = subprocess.run(cmd, env=env, input=input, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"{' '.join(cmd[:3])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
