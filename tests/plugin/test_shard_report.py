"""Each shard's report, written by real pytest runs split by pytest-split: together they prove
every test ran exactly once; one test taken out of one report, and the proof names it. The
report's collection is what ``-k`` left, before pytest-split took the shard's group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realstack.shards.verify import load, render, verify

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(7))
def test_numbered(n):
    assert n >= 0

def test_fails():
    assert False

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

def test_left_out_by_k():
    pass
"""


def run_shards(pytester: pytest.Pytester, splits: int, *extra: str) -> Path:
    pytester.makepyfile(test_suite=SUITE)
    out = pytester.path / "results"
    for group in range(1, splits + 1):
        pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            "-k",
            "not left_out",
            f"--splits={splits}",
            f"--group={group}",
            f"--realstack-shard-report={out / f'shard-{group}.json'}",
            *extra,
        )
    return out


@pytest.mark.parametrize("extra", [(), ("-n", "2")], ids=["plain", "xdist"])
def test_three_real_shards_ran_every_test_exactly_once(
    pytester: pytest.Pytester, extra: tuple[str, ...]
) -> None:
    out = run_shards(pytester, 3, *extra)

    verdict = verify(load(out))

    assert verdict.complete, render(verdict)
    assert verdict.tests == 9  # seven numbered, one failing, one skipped; -k took one out
    assert verdict.counts == {"passed": 7, "failed": 1, "skipped": 1}
    assert "test_suite.py::test_fails (failed, shard" in render(verdict)
    reports = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    assert all(len(r["collected"]) == 9 for r in reports)
    assert sum(len(r["selected"]) for r in reports) == 9
    assert all(r["selected"] for r in reports)


def test_a_test_taken_out_of_one_shards_report_is_named(pytester: pytest.Pytester) -> None:
    out = run_shards(pytester, 2)
    path = out / "shard-2.json"
    report = json.loads(path.read_text())
    dropped = sorted(report["outcomes"])[0]
    del report["outcomes"][dropped]
    path.write_text(json.dumps(report))

    verdict = verify(load(out))

    assert not verdict.complete
    assert f"ran in no shard:\n    {dropped}" in render(verdict)
