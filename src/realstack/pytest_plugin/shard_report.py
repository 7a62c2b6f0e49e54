"""A shard's own account of itself (``--realstack-shard-report PATH``): what the whole suite
collected, what this shard was given, and what each of its tests came to.

``realstack.shards verify`` reads one report per shard and proves that every test of the
collection ran exactly once. The collection is taken after ``-k``/``-m`` deselected what no
shard runs, and before pytest-split took this shard's group: the recorder is registered in
``pytest_cmdline_main``, before pytest-split registers its plugin in ``pytest_configure``, and
pluggy calls the ``trylast`` hooks registered earlier first. Under xdist the
workers collect: each hands its lists to the controller, which writes the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FORMAT = 1
_KEY = "realstack_shard"  # xdist workeroutput: a worker's collection and selection
PLUGIN = "realstack-shard-report"


class ShardReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.collected: list[str] | None = None
        self.selected: list[str] | None = None
        self.outcomes: dict[str, str] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.collected = [item.nodeid for item in items]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = [item.nodeid for item in session.items]
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_KEY] = {"collected": self.collected, "selected": self.selected}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        shard = getattr(node, "workeroutput", {}).get(_KEY)
        if shard and self.collected is None:
            self.collected, self.selected = shard["collected"], shard["selected"]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A test's outcome: its call's, or its setup's when that did not pass (a skip, an
        error); a teardown error marks a test that passed as an error."""
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[report.nodeid] = (
                "error" if report.when == "setup" and report.failed else report.outcome
            )
        elif report.when == "teardown" and report.failed:
            self.outcomes[report.nodeid] = "error"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(session.config, "workerinput"):
            return  # the controller writes the report
        option = session.config.option
        report = {
            "format": FORMAT,
            "splits": getattr(option, "splits", None),
            "group": getattr(option, "group", None),
            "collected": self.collected or [],
            "selected": self.selected or [],
            "outcomes": self.outcomes,
            "exitstatus": int(exitstatus),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=1))
        tmp.replace(self.path)
