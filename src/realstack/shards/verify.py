"""Proof that a sharded run ran every test exactly once.

Each shard wrote its own report (``--realstack-shard-report``): the whole collection, its
group, and what each of its tests came to. Together they must cover groups 1…N once each,
agree on the collection, and account for every collected test exactly once — none missing,
none twice, none that nobody collected. A shard that was given nothing is an error unless the
collection has fewer tests than shards (then pytest-split's plan leaves a group empty).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from realstack.errors import ConfigError

LISTED = 20  # ids shown per problem; the rest are counted


@dataclass(frozen=True)
class Shard:
    path: Path
    splits: int
    group: int
    collected: tuple[str, ...]
    selected: tuple[str, ...]
    outcomes: dict[str, str]
    exitstatus: int


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    tests: int = 0
    shards: int = 0

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def ok(self) -> bool:
        return self.complete and not self.failed


def load(directory: Path) -> list[Shard]:
    """The shard reports in ``directory`` (``*.json``); a damaged one is a ConfigError naming
    its path, never a traceback."""
    if not directory.is_dir():
        raise ConfigError("shard results", f"{directory} is not a directory")
    shards = []
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_text())
            shards.append(
                Shard(
                    path=path,
                    splits=int(raw["splits"] or 1),
                    group=int(raw["group"] or 1),
                    collected=tuple(str(t) for t in raw["collected"]),
                    selected=tuple(str(t) for t in raw["selected"]),
                    outcomes={str(k): str(v) for k, v in dict(raw["outcomes"]).items()},
                    exitstatus=int(raw["exitstatus"]),
                )
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(str(path), f"not a shard report ({exc!r})") from None
    if not shards:
        raise ConfigError("shard results", f"no shard report (*.json) in {directory}")
    return shards


def _listed(ids: list[str]) -> str:
    shown = "\n".join(f"    {t}" for t in ids[:LISTED])
    more = f"\n    … and {len(ids) - LISTED} more" if len(ids) > LISTED else ""
    return shown + more


def verify(shards: list[Shard]) -> Verdict:
    verdict = Verdict(shards=len(shards))
    splits = {s.splits for s in shards}
    if len(splits) != 1:
        verdict.problems.append(f"the shards disagree on the number of splits: {sorted(splits)}")
        return verdict
    (n,) = splits
    collection = _groups_and_collection(shards, n, verdict.problems)
    verdict.tests = len(collection)
    _each_test_once(shards, collection, verdict.problems)
    for shard in shards:
        if not shard.selected and len(collection) >= n:
            verdict.problems.append(f"shard {shard.group} of {n} was given no test")
        for test, outcome in shard.outcomes.items():
            verdict.counts[outcome] += 1
            if outcome in ("failed", "error"):
                verdict.failed.append(f"{test} ({outcome}, shard {shard.group})")
    return verdict


def _groups_and_collection(shards: list[Shard], n: int, problems: list[str]) -> set[str]:
    """Groups 1…n once each, and the one collection they all made."""
    groups = Counter(s.group for s in shards)
    missing_groups = [g for g in range(1, n + 1) if g not in groups]
    if missing_groups:
        problems.append(f"no result for shard(s) {missing_groups} of {n}")
    doubled_groups = sorted(g for g, c in groups.items() if c > 1)
    if doubled_groups:
        problems.append(f"shard(s) {doubled_groups} reported more than once")
    collection = set(shards[0].collected)
    for shard in shards[1:]:
        if set(shard.collected) != collection:
            only = sorted(set(shard.collected) ^ collection)
            problems.append(
                f"shard {shard.group} collected another suite than shard {shards[0].group} "
                f"({len(only)} test(s) differ):\n{_listed(only)}"
            )
    return collection


def _each_test_once(shards: list[Shard], collection: set[str], problems: list[str]) -> None:
    ran = Counter(t for s in shards for t in s.outcomes)
    missing = sorted(t for t in collection if ran[t] == 0)
    twice = sorted(t for t, c in ran.items() if c > 1)
    stray = sorted(t for t in ran if t not in collection)
    if missing:
        problems.append(f"{len(missing)} collected test(s) ran in no shard:\n{_listed(missing)}")
    if twice:
        problems.append(f"{len(twice)} test(s) ran in more than one shard:\n{_listed(twice)}")
    if stray:
        problems.append(f"{len(stray)} test(s) ran that no shard collected:\n{_listed(stray)}")


def render(verdict: Verdict) -> str:
    counts = ", ".join(f"{c} {k}" for k, c in sorted(verdict.counts.items())) or "nothing ran"
    lines = [f"{verdict.shards} shard(s), {verdict.tests} collected test(s): {counts}"]
    if verdict.complete:
        lines.append(f"✓ every collected test ran exactly once ({verdict.tests})")
    else:
        lines += [f"✗ {p}" for p in verdict.problems]
    if verdict.failed:
        lines.append(f"failed ({len(verdict.failed)}):")
        lines += [f"    {t}" for t in verdict.failed]
    return "\n".join(lines)
