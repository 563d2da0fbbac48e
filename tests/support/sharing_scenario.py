"""The sharing scenario of issue 4, written once and run against Postroom and Dovecot.

Alice shares ``Projects`` with Bob (``lr``): Bob finds it under ``Other Users/``, reads it,
cannot flag it. Alice grants ``w``: Bob flags. Alice deletes Bob's entry: from then on every
reply Bob gets about ``Projects`` must be byte-identical, apart from the tag, to the reply for a
folder that never existed (Product decision 8), and to the reply once Alice has deleted it.
"""

from __future__ import annotations

import re

from tests.support.imapclient import RawImap
from tests.support.sharing_matrix import MESSAGE, Target, outcome

PROBES = ('LIST "" {name}', 'LIST "" "Other Users/{owner}/*"', "STATUS {name} (MESSAGES)",
          "SELECT {name}", "EXAMINE {name}", "GETACL {name}", "MYRIGHTS {name}",
          "LISTRIGHTS {name} {bob}", "SETACL {name} {bob} lr", "DELETE {name}",
          "SUBSCRIBE {name}")


def _replies(c: RawImap, owner: str, bob: str, folder: str) -> list[bytes]:
    """Each probe's whole reply, the tag cut off and the folder's name made neutral."""
    name = f'"Other Users/{owner}/{folder}"'
    out = []
    for probe in PROBES:
        untagged, tagged = c.cmd(probe.format(name=name, owner=owner, bob=bob))
        text = b"\r\n".join([*untagged, tagged.split(b" ", 1)[1]])
        text = re.sub(rb"\(\d+\.\d+( \+ \d+\.\d+)* secs\)", b"(timing)", text)  # Dovecot
        out.append(text.replace(folder.encode(), b"FOLDER"))
    return out


def run_scenario(target: Target) -> dict[str, object]:
    alice, bob = target.add_user("alice"), target.add_user("bob")
    a, b = target.login(alice), target.login(bob)
    name = f'"Other Users/{alice[0]}/Projects"'
    got: dict[str, object] = {}
    a.ok("CREATE Projects")
    a.append("Projects", MESSAGE)
    a.ok(f"SETACL Projects {bob[0]} lr")
    listed = b.cmd('LIST "" "Other Users/*"')[0]
    got["listed"] = any(name.encode() in ln for ln in listed)
    got["select"] = outcome(b.cmd(f"SELECT {name}")[1])
    fetched = b.cmd("FETCH 1 BODY[]")
    got["read"] = outcome(fetched[1]) == "OK" and any(b"matrix" in ln for ln in fetched[0])
    got["flag without w"] = outcome(b.cmd("STORE 1 +FLAGS (\\Flagged)")[1])
    a.ok(f"SETACL Projects {bob[0]} +w")
    got["select after w"] = outcome(b.cmd(f"SELECT {name}")[1])
    got["flag with w"] = outcome(b.cmd("STORE 1 +FLAGS (\\Flagged)")[1])
    a.ok("EXAMINE Projects")
    got["alice sees flag"] = b"\\Flagged" in b"".join(a.cmd("FETCH 1 FLAGS")[0])
    a.ok("UNSELECT")
    b.close()
    a.ok(f"DELETEACL Projects {bob[0]}")
    fresh = target.login(bob)
    revoked = _replies(fresh, alice[0], bob[0], "Projects")
    never = _replies(fresh, alice[0], bob[0], "Nothing")
    a.ok("DELETE Projects")
    deleted = _replies(fresh, alice[0], bob[0], "Projects")
    got["revoked == never existed"] = [p for p, x, y in zip(PROBES, revoked, never, strict=True)
                                       if x != y] or True
    got["revoked == deleted"] = [p for p, x, y in zip(PROBES, revoked, deleted, strict=True)
                                 if x != y] or True
    got["replies"] = revoked
    fresh.close()
    a.close()
    return got


EXPECTED: dict[str, object] = {
    "listed": True, "select": "OK [READ-ONLY]", "read": True, "flag without w": "NO [NOPERM]",
    "select after w": "OK [READ-WRITE]", "flag with w": "OK", "alice sees flag": True,
    "revoked == never existed": True, "revoked == deleted": True,
}
