"""As root, PostgreSQL runs as another user; a state dir it cannot reach is said before
anything starts, with the fix that sticks (``state_dir``), not after Redis was started and
rolled back."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Project, free_port, owned_by
from realstack import orchestrator, pgcluster
from realstack.errors import ProviderUnavailable

pytestmark = pytest.mark.integration

MANIFEST = """
[tool.realstack]
provider = "native"
[tool.realstack.services.redis]
kind = "redis"
port = {redis}
[tool.realstack.services.postgres]
kind = "postgres"
port = {pg}
user = "u"
database = "d"
"""


def test_an_unreachable_state_dir_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what root gets (PostgreSQL runs as 'postgres'); the same check for any user running this
    monkeypatch.setattr(pgcluster, "run_as_user", lambda: "postgres")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    root = private / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text(MANIFEST.format(redis=free_port(), pg=free_port()))

    with pytest.raises(ProviderUnavailable) as err:
        orchestrator.start(Project(root).stack())

    assert f"{private} is not traversable" in str(err.value)
    assert 'state_dir = "/var/tmp/realstack-<project>"' in str(err.value)
    assert owned_by(root) == []  # not even redis was started
