#!/usr/bin/env python3
"""Start, stop or inspect the stack: the seeds' entry point, thin over realstack's tasks.

    python scripts/start_backend_services.py --wait-for-health [--env test] [--only a,b]
    python scripts/start_backend_services.py --status [--json]
    python scripts/start_backend_services.py --stop [--purge]

Exit codes as everywhere in realstack: 0 ok, 1 a service failed, 2 a usage/config error.
"""

from __future__ import annotations

import argparse

from realstack.cli import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--wait-for-health",
        action="store_true",
        help="start what is missing and wait until healthy",
    )
    action.add_argument("--start", action="store_true", help="start without waiting")
    action.add_argument("--stop", action="store_true", help="stop what realstack started")
    action.add_argument("--status", action="store_true", help="show the services")
    parser.add_argument("--env", help="env name (envs/<env>.env)")
    parser.add_argument("--only", help="comma-separated services")
    parser.add_argument("--timeout", type=float, help="readiness timeout per service (s)")
    parser.add_argument("--purge", action="store_true", help="with --stop: delete data too")
    parser.add_argument("--json", action="store_true", help="with --status: JSON output")
    args = parser.parse_args()  # argparse exits 2 on usage errors

    common = [f"--env={args.env}"] if args.env else []
    if args.wait_for_health or args.start:
        argv = ["services.start", *common, *(["--wait"] if args.wait_for_health else [])]
        argv += [f"--only={args.only}"] if args.only else []
        argv += [f"--timeout={args.timeout}"] if args.timeout else []
    elif args.stop:
        argv = ["services.stop", *common, *(["--purge"] if args.purge else [])]
        argv += [f"--only={args.only}"] if args.only else []
    else:
        argv = ["services.status", *common, *(["--json"] if args.json else [])]
    run(["realstack", *argv])


if __name__ == "__main__":
    main()
