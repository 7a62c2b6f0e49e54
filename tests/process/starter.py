"""A separate realstack starter: ``starter.py ROOT ANNOUNCE``.

Touches ANNOUNCE right before calling ``realstack.start(root=ROOT)``, so a test can wait until
the call is under way, then prints one JSON object per service result. Errors exit non-zero.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import realstack


def main() -> int:
    root, announce = Path(sys.argv[1]), Path(sys.argv[2])
    announce.touch()
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
