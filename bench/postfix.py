"""A private Postfix (Debian's package) delivering into Dovecot over LMTP: the SMTP reference.

Own config directory, queue and log under ``root``; smtpd on 127.0.0.1 at a high port; every
message for ``bench.test`` goes to Dovecot's LMTP listener. Settings that would make the
comparison unfair are switched off and said so: ``in_flow_delay = 0`` (Postfix otherwise slows
clients down when its queue is busy) and no per-client connection limits. Postfix fsyncs its
queue file before its 250, Dovecot fsyncs the delivered message before its LMTP 250, so the
durability of both pipelines matches Postroom's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.reference import free_port, wait_port

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    name = "postfix"

    def __init__(self, root: Path, lmtp_port: int) -> None:
        self.root = root
        self.smtp_port = free_port()
        self.lmtp_port = lmtp_port

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    def write_config(self) -> None:
        r = self.root
        self.etc.mkdir(parents=True, exist_ok=True)
        (r / "queue").mkdir(exist_ok=True)
        (r / "data").mkdir(exist_ok=True)
        subprocess.run(["chown", "postfix", str(r / "data")], check=True)
        (self.etc / "master.cf").write_text(MASTER_CF.format(port=self.smtp_port))
        (self.etc / "main.cf").write_text(f"""# Private Postfix for Postroom's bench
compatibility_level = 3.6
queue_directory = {r}/queue
data_directory = {r}/data
mail_owner = postfix
myhostname = mx.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = bench.test
virtual_transport = lmtp:inet:127.0.0.1:{self.lmtp_port}
smtpd_reject_unlisted_recipient = no
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = {r}/postfix.log
maillog_file_prefixes = {r}
default_process_limit = 200
in_flow_delay = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
biff = no
""")

    def start(self) -> None:
        # Postfix reports its fatal errors only to syslog or a terminal; run it under one
        # so that a failure says why.
        done = subprocess.run(["script", "-qec", f"postfix -c {self.etc} start", "/dev/null"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"postfix did not start: {done.stdout.strip()[-500:]}")
        wait_port(self.smtp_port, timeout=60)

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True)
