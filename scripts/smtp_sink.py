#!/usr/bin/env python3
"""An SMTP server for tests: accepts every message and keeps it as a file.

    python scripts/smtp_sink.py PORT DIR

Listens on 127.0.0.1:PORT and writes each message it accepts to DIR as one
JSON file, {"mail_from", "rcpt_tos", "data"}, where data is the message as
received (headers and body). A file is written under a temporary name and
renamed once complete, so a reader never sees half a message. The message
is acknowledged (250) only after its file exists. Prints "listening" on
stdout once it accepts connections; stops on SIGTERM or SIGINT.

aiosmtpd comes from scripts/install-test-tools.sh.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid

from aiosmtpd.smtp import SMTP


class Keep:
    """An aiosmtpd handler that writes each message into a directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    async def handle_DATA(self, server, session, envelope) -> str:
        name = uuid.uuid4().hex
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": envelope.original_content.decode("utf-8", errors="replace"),
        }
        partial = os.path.join(self.directory, f".{name}.part")
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(partial, os.path.join(self.directory, f"{name}.json"))
        return "250 Message accepted"


async def main(port: int, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    handler = Keep(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler), host="127.0.0.1", port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("listening", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].isdigit():
        print("usage: smtp_sink.py PORT DIR", file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
