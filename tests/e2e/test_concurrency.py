"""Many users at once: each gets exactly its own run, nobody hears anybody else."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from e2e._support import (
    FRAME_TIMEOUT,
    QUIET_WINDOW,
    RUN_FRAMES,
    Frame,
    User,
    UserFactory,
    create_thread,
    open_ws,
    word_stats,
)

pytestmark = [pytest.mark.e2e, pytest.mark.p2]

USERS = 8
BARRIER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Outcome:
    user: User
    content: str
    frames: list[Frame]
    leaked: Frame | None  # a frame that arrived after every run had completed


def _message(i: int) -> str:
    """Distinct text per user, so each run's word stats are its own."""
    return f"user{i} " + " ".join(["echo"] * (i + 1)) + f" and {'x' * (i + 1)} done"


def test_parallel_runs_each_get_exactly_their_own_five_events(
    backend_api: httpx.Client,
    ws_base: str,
    db: psycopg.Connection[tuple[Any, ...]],
    user: UserFactory,
) -> None:
    """8 users run the agent at once: own run_id, own stats, no cross-talk, all stored."""
    users = [user() for _ in range(USERS)]
    threads = [create_thread(backend_api, u, f"parallel {i}") for i, u in enumerate(users)]
    connected = threading.Barrier(USERS, timeout=BARRIER_TIMEOUT)
    finished = threading.Barrier(USERS, timeout=BARRIER_TIMEOUT)

    def one(i: int) -> Outcome:
        try:
            with open_ws(ws_base, users[i].token) as ws:
                ws.ready()
                connected.wait()  # every socket is subscribed before anyone sends
                frames = ws.run_agent(threads[i]["id"], _message(i), timeout=FRAME_TIMEOUT)
                finished.wait()  # every run has completed before anyone checks for leftovers
                return Outcome(users[i], _message(i), frames, ws.silent_for(QUIET_WINDOW))
        except BaseException:
            connected.abort()  # release the others at once instead of at the barrier timeout
            finished.abort()
            raise

    with ThreadPoolExecutor(max_workers=USERS) as pool:
        futures = [pool.submit(one, i) for i in range(USERS)]
        errors = [(i, f.exception(timeout=BARRIER_TIMEOUT * 3)) for i, f in enumerate(futures)]
    real = [
        (i, e)
        for i, e in errors
        if e is not None and not isinstance(e, threading.BrokenBarrierError)
    ]
    assert not real, f"clients failed: {real}"
    assert all(e is None for _, e in errors), f"clients failed: {errors}"
    outcomes = [f.result() for f in futures]

    for out in outcomes:
        types = [f["type"] for f in out.frames]
        assert types == list(RUN_FRAMES), f"{out.user.email} got {out.frames!r}"
        seen = {f["run_id"] for f in out.frames}
        assert len(seen) == 1, f"{out.user.email} saw several runs: {out.frames!r}"
        assert out.frames[-1]["result"] == word_stats(out.content)
        assert out.leaked is None, f"{out.user.email} received a stranger's frame: {out.leaked!r}"
    run_ids = [out.frames[0]["run_id"] for out in outcomes]
    assert len(set(run_ids)) == USERS, f"run ids are not distinct: {run_ids}"

    rows = db.execute(
        "SELECT id::text, user_id, status, result FROM runs WHERE id = ANY(%s::uuid[])",
        (run_ids,),
    ).fetchall()
    stored = {uuid.UUID(row[0]): row[1:] for row in rows}
    for out in outcomes:
        run_id = out.frames[0]["run_id"]
        assert stored.get(uuid.UUID(run_id)) == (
            out.user.sub,
            "completed",
            word_stats(out.content),
        ), run_id
