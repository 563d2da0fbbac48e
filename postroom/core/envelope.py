"""The stages of accepting a message, named the same for every way mail comes in.

SMTP's MAIL, RCPT and DATA, a webmail "send" and an ActiveSync SendMail all decide the same
three things in the same order: may this sender send (``SENDER``), may this recipient be
reached (``RECIPIENT``), may this content go (``CONTENT``). Services and pipeline checks name the
stage they decide; each protocol maps a stage and an error kind to its own reply (for SMTP:
core/smtp.py).
"""

from __future__ import annotations

import enum


class Stage(enum.Enum):
    SENDER = "sender"
    RECIPIENT = "recipient"
    CONTENT = "content"
