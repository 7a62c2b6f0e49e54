"""What the plugin knows during one run, shared by its role objects and fixtures.

Lives apart from the hooks so fixtures and reporting can type against it without an import
cycle; keyed in ``config.stash`` by :data:`STATE_KEY`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from realstack.errors import RealstackError
from realstack.manifest import load_stack
from realstack.model import Stack
from realstack.pytest_plugin._settings import Settings
from realstack.secrets import mask, secret_values

if TYPE_CHECKING:
    from realstack.providers import Logs
    from realstack.pytest_plugin.stackshare import StackShare


class Session:
    """The run's stack (loaded once), its strict tests and what they reported."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._stack: Stack | None = None
        self._secrets: frozenset[str] | None = None
        self._logs: dict[str, Logs] = {}
        self.requires: dict[str, list[str]] = {}  # strict nodeid → services it needs
        self.no_audit: set[str] = set()  # strict nodeids marked realstack_no_audit
        self.started: list[str] = []
        self.marks: dict[str, dict[str, float]] = {}  # nodeid → service → log mark
        self.skipped: list[str] = []
        self.infra: list[tuple[str, str]] = []
        self.failed: list[str] = []
        self.flaky: list[tuple[str, str]] = []  # passed only on an infra retry: (nodeid, why)
        self.refused: list[tuple[str, str]] = []  # a deployed env's: (nodeid, why)
        self.reported = False  # a strict test reported in this process (xdist: controller)
        self.share: StackShare | None = None  # strict tests of a local stack hold it
        self.alone: dict[str, float] = {}  # nodeid → seconds its outages held the stack alone

    @property
    def active(self) -> bool:
        """Whether this run has strict tests (only then does the plugin act on them)."""
        return bool(self.requires)

    def load_stack(self) -> Stack:
        if self._stack is None:
            try:
                self._stack = load_stack(self.settings.root, self.settings.env)
            except RealstackError as exc:
                pytest.exit(f"realstack: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        return self._stack

    def mask(self, text: str) -> str:
        """``text`` without the stack's secrets (reports, headers, messages)."""
        if self._secrets is None:
            self._secrets = secret_values(self.load_stack())
        return mask(text, self._secrets)

    def contract(self) -> dict[str, str]:
        """Where the suite's services are: every enabled one (a test of a service that is
        down gets its address and a refused connection, not a KeyError), plus what runs."""
        from realstack import envfile, runtime  # noqa: PLC0415 - loads when first needed
        from realstack.providers.placement import Placement  # noqa: PLC0415

        stack = self.load_stack()
        return envfile.contract(stack, set(runtime.live(stack, Placement(stack))))

    def logs(self, name: str) -> Logs:
        """Where a service's output is (a log file, a container's log), found once."""
        if name not in self._logs:
            from realstack import runtime  # noqa: PLC0415

            stack = self.load_stack()
            self._logs[name] = runtime.logs(stack, stack.service(name))
        return self._logs[name]

    def forget_logs(self) -> None:
        self._logs.clear()

    def reload(self) -> None:
        """After a start: it may have leased other ports (another checkout held these), so
        the stack, its secrets and where its logs are, are read again."""
        self._stack = None
        self._secrets = None
        self._logs.clear()

    def needed(self) -> list[str]:
        return sorted({name for names in self.requires.values() for name in names})


STATE_KEY = pytest.StashKey[Session]()


def session_of(config: pytest.Config) -> Session:
    """The run's session, or a usage error when the project has no realstack manifest."""
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        raise pytest.UsageError(
            "realstack: no realstack manifest ([tool.realstack] in pyproject.toml) at or above "
            f"{config.rootpath}; pass --realstack-root to name the project"
        )
    return state
