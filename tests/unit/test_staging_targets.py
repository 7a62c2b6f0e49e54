"""What ``staging.check`` checks in a deployed env, and how URLs are shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from realstack.errors import ConfigError
from realstack.manifest import load_stack
from realstack.staging.targets import Target, redact_url, settings_of, targets_of

MANIFEST = """
[tool.realstack]
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "u"
database = "app"

[tool.realstack.services.auth]
kind = "process"
port = 8082
command = ["auth"]
probe = { kind = "http", path = "/healthz", status = 204 }
exports = { AUTH_SERVICE_URL = "http://{host}:{port}" }

[tool.realstack.services.backend]
kind = "process"
port = 8001
command = ["backend"]
exports = { BACKEND_SERVICE_URL = "http://{host}:{port}", WEBSOCKET_URL = "ws://{host}:{port}/ws" }

[tool.realstack.services.migrate]
kind = "task"
command = ["migrate"]
"""
STAGING = """REALSTACK_DEPLOYED=true
BACKEND_SERVICE_URL=https://api.staging.example.invalid
WEBSOCKET_URL=wss://api.staging.example.invalid/ws
AUTH_SERVICE_URL=https://auth.staging.example.invalid
STAGING_EXPECT_ENV=staging
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(MANIFEST)
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "staging.env").write_text(STAGING)
    (tmp_path / "envs" / "test.env").write_text("POSTGRES_PORT=5434\n")
    return tmp_path


def targets(project: Path, **environ: str) -> dict[str, Target]:
    stack = load_stack(project, "staging", environ=environ)
    return {t.name: t for t in targets_of(stack)}


def test_one_target_per_service_url_and_per_websocket_url(project: Path) -> None:
    found = targets(project)

    assert list(found) == ["postgres", "auth", "backend", "backend ws"]  # no task
    assert (found["postgres"].kind, found["postgres"].url) == ("postgres", "")  # not offered
    assert found["backend ws"] == Target(
        "backend ws", "websocket", "wss://api.staging.example.invalid/ws"
    )


def test_an_http_target_expects_what_its_probe_says(project: Path) -> None:
    auth, backend = targets(project)["auth"], targets(project)["backend"]

    assert (auth.path, auth.expect_status) == ("/healthz", 204)
    assert (backend.path, backend.expect_status) == ("/health", 200)  # no http probe: defaults


def test_the_reference_services_token_endpoints_unless_the_env_names_others(
    project: Path,
) -> None:
    assert targets(project)["auth"].bearer_path == "/auth/verify"

    changed = targets(project, STAGING_BEARER_PATH_AUTH="/me", STAGING_BEARER_PATH_BACKEND="")

    assert (changed["auth"].bearer_path, changed["backend"].bearer_path) == ("/me", "")


def test_identity_expected_for_all_or_for_one_service(project: Path) -> None:
    found = targets(project, STAGING_EXPECT_BUILD="b1", STAGING_EXPECT_BUILD_BACKEND="b2")

    assert found["auth"].expect == {"env": "staging", "build": "b1"}
    assert found["backend"].expect == {"env": "staging", "build": "b2"}


def test_an_env_that_is_not_deployed_is_refused(project: Path) -> None:
    with pytest.raises(ConfigError, match="not a deployed env"):
        targets_of(load_stack(project, "test", environ={}))


def test_thresholds_come_from_the_variables_and_bad_ones_are_named() -> None:
    settings = settings_of({"STAGING_SLOW_MS": "250", "STAGING_TEST_JWT_TOKEN": "t0k3n"}, 2.0)

    assert (settings.slow_ms, settings.cert_warn_days, settings.timeout) == (250.0, 14, 2.0)
    assert "t0k3n" not in repr(settings)
    with pytest.raises(ConfigError) as err:
        settings_of({"STAGING_CERT_WARN_DAYS": "soon"})
    assert err.value.path == "STAGING_CERT_WARN_DAYS"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.example.org/health", "https://api.example.org/health"),
        (
            "postgresql://app:s3cret@db.example.org:5432/app",
            "postgresql://app:***@db.example.org:5432/app",
        ),
        ("redis://:s3cret@cache.example.org:6379/0", "redis://:***@cache.example.org:6379/0"),
        ("wss://api.example.org/ws?token=eyJx&room=1", "wss://api.example.org/ws?token=***&room=1"),
        ("https://x.example.org/?api_key=k&sig=abc", "https://x.example.org/?api_key=***&sig=***"),
    ],
)
def test_urls_are_shown_without_passwords_or_secret_query_values(url: str, shown: str) -> None:
    assert redact_url(url) == shown
