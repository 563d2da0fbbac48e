"""The "copy" extension (RFC 3894): ``:copy`` on fileinto and redirect keeps the implicit
keep (§3: "the message is not … cancelling the implicit keep"). The handlers of fileinto
(ext/fileinto.py) and redirect (ext/core.py) read the tag."""

from __future__ import annotations

from postroom.sieve.registry import Extension, TagSpec, register

register(Extension(
    "copy",
    extra_tags={"fileinto": (TagSpec("copy", capability="copy"),),
                "redirect": (TagSpec("copy", capability="copy"),)},
))
