"""``python -m realstack.shards run --splits N --group I --out DIR [-- PYTEST ARGS]`` runs one
shard; ``python -m realstack.shards verify DIR`` proves the shards in DIR ran every test
exactly once (exit 1 when not, or when a test failed; 2 for unusable input)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realstack.errors import RealstackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realstack.shards", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one shard on an instance of its own")
    run.add_argument("--splits", type=int, required=True)
    run.add_argument("--group", type=int, required=True)
    run.add_argument("--out", type=Path, required=True, help="directory for the shard report")
    run.add_argument("--env", default=None)
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: pytest's")
    check = sub.add_parser("verify", help="every test ran exactly once across the shards")
    check.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            if not 1 <= args.group <= args.splits:
                parser.error(f"--group must be between 1 and --splits ({args.splits})")
            from realstack.shards.run import run_shard  # noqa: PLC0415

            extra = [a for a in args.pytest_args if a != "--"]
            return run_shard(args.splits, args.group, args.out, args.env, extra)
        from realstack.shards.verify import load, render, verify  # noqa: PLC0415

        verdict = verify(load(args.directory))
        print(render(verdict))
        return 0 if verdict.ok else 1
    except RealstackError as exc:
        print(f"realstack: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
