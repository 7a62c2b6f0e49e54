"""A service that runs as a tree: leader → child → grandchild, each recording its pid.

``svc_tree.py leader PIDDIR PORT [--setsid] [--orphan] [--scrub-env] [--ignore-term]``

The leader listens on PORT only once the whole tree is up, so "ready" means every pid file
exists. ``--setsid``: the grandchild calls ``os.setsid()`` (leaves the process group).
``--orphan``: the child exits once the grandchild is up, so the grandchild is reparented and
no longer a descendant of the leader; with ``--setsid`` too, only the ``REALSTACK_OWNER``
marker it inherited ties it to the service. ``--scrub-env``: the grandchild is started without
``REALSTACK_OWNER`` in its environment (a service that hands helpers a clean environment).
``--ignore-term``: the child and grandchild ignore
SIGTERM. Nothing sleeps: processes block on pipes, ``accept`` or
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
    argv += ["--setsid"] if args.setsid else []
    argv += ["--orphan"] if args.orphan else []
    argv += ["--scrub-env"] if args.scrub_env else []
    argv += ["--ignore-term"] if args.ignore_term else []
    env = None
    if role == "grandchild" and args.scrub_env:
        env = {k: v for k, v in os.environ.items() if k != "REALSTACK_OWNER"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
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
    parser.add_argument("--setsid", action="store_true")
    parser.add_argument("--orphan", action="store_true")
    parser.add_argument("--scrub-env", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    args = parser.parse_args()
    if args.role != "leader" and args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.role == "grandchild" and args.setsid:
        os.setsid()
    _record_pid(args.piddir, args.role)
    if args.role == "leader":
        child = _spawn("child", args)
        if args.orphan:
            child.wait()  # the child exits at once; reap it so it is not left a zombie
        server = socket.create_server(("127.0.0.1", args.port))
        while True:
            conn, _ = server.accept()
            conn.close()
    if args.role == "child":
        _spawn("grandchild", args)
        _say_up()
        if args.orphan:
            return 0  # orphan the grandchild: it is reparented away from the leader's tree
    else:
        _say_up()
    while True:
        signal.pause()


if __name__ == "__main__":
    raise SystemExit(main())
