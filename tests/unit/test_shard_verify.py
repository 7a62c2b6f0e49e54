"""The sharded run's proof: every collected test ran exactly once across the shards — a test
missing, doubled or stray, a shard absent, doubled or given nothing, is named; failures are
listed; damaged reports are a message, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realstack.errors import ConfigError
from realstack.shards.__main__ import main
from realstack.shards.verify import load, render, verify

TESTS = [f"tests/e2e/test_x.py::test_{i}" for i in range(6)]


def write(directory: Path, group: int, ran: list[str], splits: int = 3, **extra: object) -> None:
    directory.mkdir(exist_ok=True)
    report = {
        "format": 1,
        "splits": splits,
        "group": group,
        "collected": TESTS,
        "selected": ran,
        "outcomes": {t: "passed" for t in ran},
        "exitstatus": 0,
        **extra,
    }
    (directory / f"shard-{group}.json").write_text(json.dumps(report))


@pytest.fixture
def complete(tmp_path: Path) -> Path:
    for group in (1, 2, 3):
        write(tmp_path / "out", group, TESTS[(group - 1) * 2 : group * 2])
    return tmp_path / "out"


def test_three_shards_that_ran_each_test_once_verify(complete: Path) -> None:
    verdict = verify(load(complete))

    assert verdict.ok, verdict.problems
    assert verdict.tests == 6
    assert "✓ every collected test ran exactly once (6)" in render(verdict)


def test_a_test_missing_from_one_shards_result_is_named(complete: Path) -> None:
    write(complete, 2, [TESTS[2]])  # test_3 dropped

    verdict = verify(load(complete))

    assert not verdict.ok
    missing = "1 collected test(s) ran in no shard:\n    tests/e2e/test_x.py::test_3"
    assert missing in render(verdict)


def test_a_test_run_twice_is_named(complete: Path) -> None:
    write(complete, 3, [*TESTS[4:], TESTS[0]])

    rendered = render(verify(load(complete)))

    assert "1 test(s) ran in more than one shard:\n    tests/e2e/test_x.py::test_0" in rendered


def test_a_missing_shard_and_an_empty_one_are_errors(tmp_path: Path) -> None:
    write(tmp_path / "out", 1, TESTS)
    write(tmp_path / "out", 2, [])

    rendered = render(verify(load(tmp_path / "out")))

    assert "no result for shard(s) [3] of 3" in rendered
    assert "shard 2 of 3 was given no test" in rendered


def test_an_empty_shard_is_fine_when_there_are_fewer_tests_than_shards(tmp_path: Path) -> None:
    write(tmp_path / "out", 1, TESTS, splits=8)
    for group in range(2, 9):
        write(tmp_path / "out", group, [], splits=8)

    assert verify(load(tmp_path / "out")).ok


def test_a_failed_test_fails_the_verdict_but_not_its_completeness(complete: Path) -> None:
    write(complete, 1, TESTS[:2], outcomes={TESTS[0]: "passed", TESTS[1]: "failed"})

    verdict = verify(load(complete))

    assert verdict.complete and not verdict.ok
    assert "tests/e2e/test_x.py::test_1 (failed, shard 1)" in render(verdict)


def test_shards_of_another_collection_are_refused(complete: Path) -> None:
    write(complete, 2, TESTS[2:4], collected=[*TESTS, "tests/e2e/test_y.py::test_new"])

    assert "shard 2 collected another suite than shard 1" in render(verify(load(complete)))


@pytest.mark.parametrize("damage", ["{not json", '{"splits": 3}', "[]"])
def test_a_damaged_report_is_a_message_naming_it(complete: Path, damage: str) -> None:
    (complete / "shard-2.json").write_text(damage)

    with pytest.raises(ConfigError, match=r"shard-2\.json"):
        load(complete)


def test_the_command_exits_1_on_an_incomplete_run_and_2_on_no_results(
    complete: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(complete)]) == 0
    (complete / "shard-3.json").unlink()
    assert main(["verify", str(complete)]) == 1
    assert main(["verify", str(tmp_path / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err
