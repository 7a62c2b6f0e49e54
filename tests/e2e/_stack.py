"""The test stack the e2e suite shares: where it is.

Standard library only: the conftest imports this in every process, the xdist controller
included, which runs no test (the clients the tests use load with the test modules).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the realstack project whose test stack we use
ENV = "test"
HTTP_TIMEOUT = 10.0  # seconds, every HTTP call
