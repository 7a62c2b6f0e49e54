#!/usr/bin/env python3
"""Print a bearer token for a throwaway user of the auth service at ``AUTH_SERVICE_URL`` (the
test stack's, from its env contract): what a team's CI gets from its secret store for
``STAGING_TEST_JWT_TOKEN``, made here for the staging rehearsal. Prints only the token."""

from __future__ import annotations

import sys
import uuid

import httpx

from realstack import runtime
from realstack.manifest import load_stack


def main() -> int:
    url = runtime.contract(load_stack(env="test")).get("AUTH_SERVICE_URL")
    if not url:
        print("the test stack's auth service is not running", file=sys.stderr)
        return 1
    email, password = f"staging-{uuid.uuid4().hex[:12]}@example.com", uuid.uuid4().hex
    with httpx.Client(base_url=url, timeout=10.0, trust_env=False) as auth:
        registered = auth.post("/auth/register", json={"email": email, "password": password})
        login = auth.post("/auth/login", json={"email": email, "password": password})
    if registered.status_code != 201 or login.status_code != 200:
        print(f"register {registered.status_code}, login {login.status_code}", file=sys.stderr)
        return 1
    print(login.json()["access_token"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
