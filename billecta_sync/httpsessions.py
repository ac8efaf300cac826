"""HTTP sessions for the Billecta and Lime clients, which the threads of a worker share.

``requests.Session`` is not documented as thread-safe (its adapters, cookie jar and the per-request merge of
environment settings are shared state), and its pool keeps 10 connections per host, so 32 threads through
one session would open and drop connections all the time. Each thread therefore gets a session of its own,
made on first use and closed with the client; a thread pool's threads live as long as the worker, so the
sessions and their keep-alive connections are reused task after task. A session a caller passes in (tests,
the CLI) is used by every thread as given and left open.

Taking the session is also where a task on the thread pool meets its soft time limit (``deadlines``): it is
the one step before every request of both clients.
"""

from __future__ import annotations

import threading

import requests

from billecta_sync import deadlines

__all__ = ["ThreadSessions"]


class ThreadSessions:
    """One ``requests.Session`` per thread, or the caller's session for all of them."""

    def __init__(self, given: requests.Session | None = None) -> None:
        self._given = given
        self._local = threading.local()
        self._made: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        deadlines.check()
        if self._given is not None:
            return self._given
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._made.append(session)
        return session

    def close(self) -> None:
        """Close the sessions this object made (never the caller's); a later ``get`` makes new ones."""
        with self._lock:
            made, self._made = self._made, []
            self._local = threading.local()
        for session in made:
            session.close()
