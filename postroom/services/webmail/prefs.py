"""A webmail user's own settings, recent recipients and the senders whose images they allow.

Settings are one JSON document per account (store/repo/webmail.py), decoded into ``Prefs``
with defaults for anything missing, so adding a setting needs no migration; a stored document
that no longer decodes (an older or hand-edited one) yields the defaults rather than an error
page. Every value is validated here, where it is set: a time zone must be one the system's
zoneinfo knows, a language one webmail has strings for, a signature at most
``web.webmail.signature_max`` characters, a default identity an address the user may send
as (services/senders.py, the rule submission applies).
"""

from __future__ import annotations

import zoneinfo
from typing import Literal

import msgspec

from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.webmail.context import WebmailContext

Density = Literal["comfortable", "compact"]
LANGUAGES = {"en": "English"}  # strings are marked for translation; English is the first
DENSITIES: tuple[Density, ...] = ("comfortable", "compact")


class Prefs(msgspec.Struct, kw_only=True, frozen=True):
    signature: str = ""  # appended to new messages, replies and forwards (plain text)
    density: Density = "comfortable"
    timezone: str = "UTC"  # IANA name; dates in lists and messages are shown in it
    language: str = "en"
    page_size: int = 0  # messages per list page; 0 = web.webmail.page_size
    threads: bool = False  # the list shows conversations by default
    rich_text: bool = False  # new messages start in the rich-text editor
    identity: str = ""  # the From address new messages start with; "" = one's own


DEFAULT = Prefs()
_decode = msgspec.json.Decoder(Prefs)


class Preferences:
    def __init__(self, ctx: WebmailContext) -> None:
        self._ctx = ctx
        self._repo = ctx.store.webmail
        self._config = ctx.config

    async def get(self, principal: Principal) -> Prefs:
        if principal.account_id is None:
            return DEFAULT
        raw = await self._repo.prefs(principal.account_id)
        if raw is None:
            return DEFAULT
        try:
            return _decode.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return DEFAULT

    async def update(self, principal: Principal, **changes: object) -> Prefs:
        """Set some settings; each is validated, and an invalid one refuses the whole change
        (``Kind.INVALID`` with what was wrong)."""
        account = _account(principal)
        current = msgspec.structs.asdict(await self.get(principal))
        for key, value in changes.items():
            if key not in current:
                raise MailError(Kind.INVALID, f"no setting named {key!r}")
            current[key] = self._validate(key, value)
        identity = str(current["identity"])
        if "identity" in changes and identity and \
                not await self._ctx.senders.may_use(principal, identity):
            # the same rule as submission's (RFC 6409 §8.1), so a saved default never fails
            raise MailError(Kind.INVALID, f"identity: you may not send as {identity}")
        prefs = Prefs(**current)
        await self._repo.set_prefs(account, msgspec.json.encode(prefs).decode())
        return prefs

    def _validate(self, key: str, value: object) -> object:
        if key == "signature":
            text = str(value).replace("\r\n", "\n")
            if len(text) > self._config.signature_max:
                raise MailError(Kind.INVALID, "the signature is longer than "
                                f"{self._config.signature_max} characters")
            return text
        if key == "density":
            if value not in DENSITIES:
                raise MailError(Kind.INVALID, "density is comfortable or compact")
            return value
        if key == "timezone":
            name = str(value)
            if name not in _zones():
                raise MailError(Kind.INVALID, f"unknown time zone {name!r}")
            return name
        if key == "language":
            if value not in LANGUAGES:
                raise MailError(Kind.INVALID, f"no strings for the language {value!r}")
            return value
        if key == "page_size":
            if not isinstance(value, int) or isinstance(value, bool) or not (
                    value == 0 or 10 <= value <= self._config.page_max):
                raise MailError(Kind.INVALID, "messages per page is 0 (the default) or "
                                f"between 10 and {self._config.page_max}")
            return value
        if key in ("threads", "rich_text"):
            if not isinstance(value, bool):
                raise MailError(Kind.INVALID, f"{key} is on or off")
            return value
        if key == "identity":
            return str(value).strip().lower()
        raise MailError(Kind.INVALID, f"no setting named {key!r}")  # pragma: no cover

    async def identity_choices(self, principal: Principal) -> list[str]:
        """The From addresses the settings page offers: one's own and each single address
        an administrator granted (a whole-domain grant, ``@domain``, is typed instead)."""
        if principal.account_id is None:
            return []
        grants = await self._ctx.store.directory.send_as(principal.account_id)
        own = [principal.address] if principal.address else []
        return own + sorted(g for g in grants if not g.startswith("@") and g not in own)

    def page_size(self, prefs: Prefs) -> int:
        return prefs.page_size or self._config.page_size

    # -- recent recipients (address completion) -----------------------------------------------
    async def remember_recipients(self, principal: Principal,
                                  people: list[tuple[str, str]]) -> None:
        """Count a message sent to ``people`` (address, display name)."""
        if principal.account_id is not None and people:
            await self._repo.record_recipients(principal.account_id, people,
                                               self._config.recent_recipients)

    async def recent_recipients(self, principal: Principal, prefix: str,
                                ) -> list[tuple[str, str]]:
        if principal.account_id is None or self._config.recent_recipients == 0:
            return []
        rows = await self._repo.recipients(principal.account_id, prefix,
                                           self._config.completion_results)
        return [(address, name) for address, name, _ in rows]

    # -- senders whose remote images are shown ------------------------------------------------
    async def allow_images_from(self, principal: Principal, address: str) -> None:
        if self._config.remote_images == "never":
            raise MailError(Kind.POLICY, "remote images are never shown on this server")
        await self._repo.allow_images(_account(principal), address)

    async def forget_image_sender(self, principal: Principal, address: str) -> None:
        await self._repo.forget_image_sender(_account(principal), address)

    async def images_allowed(self, principal: Principal, address: str) -> bool:
        if self._config.remote_images == "never" or principal.account_id is None or \
                not address:
            return False
        return await self._repo.images_allowed(principal.account_id, address)

    async def image_senders(self, principal: Principal) -> list[str]:
        if principal.account_id is None:
            return []
        return await self._repo.image_senders(principal.account_id)


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(zoneinfo.available_timezones())
        _ZONES.add("UTC")
    return _ZONES


def zones() -> list[str]:
    """Every time zone a user may pick, sorted."""
    return sorted(_zones())


def _account(principal: Principal) -> int:
    if principal.account_id is None:
        raise MailError(Kind.NO_PERM, "only accounts have webmail settings")
    return principal.account_id
