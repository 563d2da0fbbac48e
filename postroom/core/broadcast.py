"""Small facts every node of a cluster should hear at once: a failed login, an offence that
counts toward a block, a block made (docs/cluster.md "Shared limits").

Counters stay in each node's memory (cheap on every login) and each node tells the others
what it counted, so every node counts the whole cluster's failures: an attacker spreading
guesses over the nodes behind a load balancer is slowed as if there were one. ``send`` is
fire-and-forget (a lost message only makes a limit a little looser for a while, never
wrong the other way); handlers run on the event loop. One process: ``LocalBroadcast``, which
tells nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Handler = Callable[[list[str]], None]


class Broadcast(Protocol):
    def send(self, topic: str, fields: list[str]) -> None:
        """Tell the other nodes (not this one) ``fields`` under ``topic``."""

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler`` with the fields of every other node's message on ``topic``."""


class LocalBroadcast:
    def __init__(self) -> None:
        self.handlers: dict[str, list[Handler]] = {}

    def send(self, topic: str, fields: list[str]) -> None:
        return None  # nobody else to tell

    def subscribe(self, topic: str, handler: Handler) -> None:
        self.handlers.setdefault(topic, []).append(handler)
