"""A stand-in service for the process tests, configured by flags.

It never sleeps: once set up it blocks in ``accept`` (with ``--port``) or ``signal.pause``, so it
runs until it is signalled. Order: ignore SIGTERM, write the environment, say the line, exit
(``--exit``), re-exec without environment (``--exec-without-env``), listen.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from pathlib import Path


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM")
    parser.add_argument("--env-out", type=Path, help="write os.environ as JSON here")
    parser.add_argument("--say", help="print this line (<pid> becomes the pid)")
    parser.add_argument("--exit", type=int, help="exit with this code after saying the line")
    parser.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT")
    parser.add_argument(
        "--exec-without-env",
        action="store_true",
        help="after the line, re-exec with an empty environment (as valkey wipes its own)",
    )
    args = parser.parse_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.env_out is not None:
        _write_atomic(args.env_out, json.dumps(dict(os.environ)))
    if args.say is not None:
        print(args.say.replace("<pid>", str(os.getpid())), flush=True)
    if args.exit is not None:
        return int(args.exit)
    if args.exec_without_env:
        os.execve(sys.executable, [sys.executable, __file__], {})
    if args.port is not None:
        server = socket.create_server(("127.0.0.1", args.port))
        while True:
            conn, _ = server.accept()
            conn.close()
    while True:
        signal.pause()


if __name__ == "__main__":
    raise SystemExit(main())
