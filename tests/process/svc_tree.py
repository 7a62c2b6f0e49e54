"""A service that runs as a tree: leader → child → grandchild, each recording its pid.

``svc_tree.py leader PIDDIR PORT [--detach] [--ignore-term]``

The leader listens on PORT only once the whole tree is up, so "ready" means every pid file
exists. ``--detach``: the grandchild calls ``os.setsid()`` (leaves the process group) and the
child exits, so the grandchild is no longer a descendant of the leader either; only the
``REALSTACK_OWNER`` marker it inherited ties it to the service. ``--ignore-term``: the child
and grandchild ignore SIGTERM. Nothing sleeps: processes block on pipes, ``accept`` or
``signal.pause``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path


def _record_pid(piddir: Path, role: str) -> None:
    tmp = piddir / f".{role}.tmp"
    tmp.write_text(str(os.getpid()))
    tmp.replace(piddir / f"{role}.pid")


def _spawn(role: str, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """Start the next generation and block until it says it is up."""
    argv = [sys.executable, __file__, role, str(args.piddir), str(args.port)]
    argv += ["--detach"] if args.detach else []
    argv += ["--ignore-term"] if args.ignore_term else []
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if proc.stdout.readline() != b"up\n":
        raise SystemExit(f"{role} did not come up")
    proc.stdout.close()
    return proc


def _say_up() -> None:
    sys.stdout.write("up\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["leader", "child", "grandchild"])
    parser.add_argument("piddir", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--detach", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    args = parser.parse_args()
    if args.role != "leader" and args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.role == "grandchild" and args.detach:
        os.setsid()
    _record_pid(args.piddir, args.role)
    if args.role == "leader":
        child = _spawn("child", args)
        if args.detach:
            child.wait()  # the child exits at once; reap it so it is not left a zombie
        server = socket.create_server(("127.0.0.1", args.port))
        while True:
            conn, _ = server.accept()
            conn.close()
    if args.role == "child":
        _spawn("grandchild", args)
        _say_up()
        if args.detach:
            return 0  # orphan the grandchild: it is reparented away from the leader's tree
    else:
        _say_up()
    while True:
        signal.pause()


if __name__ == "__main__":
    raise SystemExit(main())
