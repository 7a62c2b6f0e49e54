"""A background thread of the fresh-database pool, with a libpq connection of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable

from realstack.pytest_plugin._pgsql import RawConnection
from realstack.waiting import wait_until

RECONNECT_WAIT = 30.0  # PostgreSQL restarted by a test is back well within this


class Lane:
    """One background thread with a connection of its own (reconnecting when a test restarts
    PostgreSQL), doing the jobs ``jobs`` hands out until it returns None."""

    def __init__(
        self,
        name: str,
        connect: Callable[[], RawConnection],
        jobs: Callable[[], str | None],
        work: Callable[[RawConnection, str], None],
        finished: Callable[[BaseException | None], None],
    ) -> None:
        self._connect = connect
        self._jobs = jobs
        self._work = work
        self._finished = finished
        self.conn = connect()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _reconnect(self) -> str | None:
        """For :func:`wait_until`: None once connected again, else why not yet."""
        import psycopg  # noqa: PLC0415 - loaded already by the session's template

        try:
            self.conn = self._connect()
        except psycopg.OperationalError as exc:
            return str(exc)
        return None

    def _run(self) -> None:
        import psycopg  # noqa: PLC0415

        error: BaseException | None = None
        try:
            while (job := self._jobs()) is not None:
                try:
                    self._work(self.conn, job)
                except psycopg.OperationalError:
                    if not self.conn.broken:
                        raise
                    self.conn.close()
                    wait_until(self._reconnect, RECONNECT_WAIT)
                    self._work(self.conn, job)  # once more, on the new connection
        except BaseException as exc:  # noqa: BLE001 - handed to the test waiting in take()
            error = exc
        finally:
            self._finished(error)
