"""A private Dovecot with sharing enabled, the reference the sharing tests compare against.

Debian's dovecot-imapd with the ``acl`` and ``imap_acl`` plugins, ACLs in ``dovecot-acl`` files
(``vfile``), the shared-mailbox dictionary that lets LIST find other users' folders, and the
same three namespaces as Postroom (Product decision 4): personal ``""``, ``Other Users/`` then
``user@domain/``, and ``Public Folders/``, delimiter ``/``, with private \\Seen in the shared
ones (``INDEXPVT``). It listens on a loopback high port and runs from a temporary directory;
the system's Dovecot service is never touched (bench/reference.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.reference import Dovecot


def available() -> bool:
    return shutil.which("dovecot") is not None and shutil.which("doveadm") is not None


SHARING = """
mail_plugins = $mail_plugins acl
protocol imap {{
  mail_plugins = $mail_plugins imap_acl
}}
namespace inbox {{
  type = private
  inbox = yes
  separator = /
  prefix =
}}
namespace shared {{
  type = shared
  separator = /
  prefix = Other Users/%%u/
  location = maildir:{root}/mail/%%d/%%n:INDEXPVT=~/shared/%%u
  subscriptions = no
  list = children
}}
namespace public {{
  type = public
  separator = /
  prefix = Public Folders/
  location = maildir:{root}/mail/_public:INDEXPVT=~/public
  subscriptions = no
  list = children
}}
# A user's imap process looks up the owner of a shared folder; the mail processes all run as
# nobody, so the userdb socket is opened to them (private instance, loopback only).
service auth {{
  unix_listener auth-userdb {{
    mode = 0777
  }}
}}
plugin {{
  acl = vfile:cache_secs=0
  acl_shared_dict = file:{root}/mail/shared-mailboxes.db
}}
"""


def sharing_dovecot() -> Iterator[Dovecot]:
    """Start one in a fresh directory; yield it; stop it and remove the directory.

    Not under pytest's tmp_path: that is private to root (0700), and Dovecot's unprivileged
    auth and mail processes must reach their files."""
    root = Path(tempfile.mkdtemp(prefix="postroom-dovecot-"))
    root.chmod(0o755)
    dc = Dovecot(root)
    dc.extra_config = SHARING.format(root=root)
    dc.write_config()
    (root / "mail" / "_public").mkdir(parents=True, exist_ok=True)
    dc.start()
    try:
        yield dc
    finally:
        dc.stop()
        shutil.rmtree(root, ignore_errors=True)
