"""A separate realstack starter: ``starter.py ROOT ANNOUNCE``.

Touches ANNOUNCE once imported, then waits for a line on stdin (the test's "go", so that two
starters can be released at the same moment) and calls ``realstack.start(root=ROOT)``. Prints
one JSON object per service result; a realstack error exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import realstack


def main() -> int:
    root, announce = Path(sys.argv[1]), Path(sys.argv[2])
    announce.touch()
    if sys.stdin.readline() != "go\n":
        return 2
    try:
        report = realstack.start(env="test", root=root)
    except realstack.RealstackError as exc:
        print(f"realstack error: {exc}", file=sys.stderr)
        return 1
    for result in report.results:
        print(json.dumps({"name": result.name, "action": result.action, "pid": result.pid}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
