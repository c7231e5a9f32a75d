"""A check a long-running process repeats in a daemon thread of its own (the server's watches)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


class RepeatedCheck:
    """Runs `check` every `every_s` seconds between `repeat` and `stop`; a database error is logged
    (`failure`) and the check runs again next time: the database may be away for a moment."""

    #: the thread's name
    name = "loyalty-check"
    #: what the log says when a check failed
    failure = "the check failed"

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> object:
        raise NotImplementedError

    def repeat(self) -> None:
        """Check every `every_s` seconds from now on, in a daemon thread (none when it is 0)."""
        if self.every_s <= 0:
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread (it finishes the check it is in)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.check()
            except SQLAlchemyError as exc:
                log.warning("%s: %s", self.failure, exc)
