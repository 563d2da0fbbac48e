"""web/eas/app.py: a command's answer is encoded inside the guard, so an element its code
page does not have (a programming error) reaches the device as Status 110, not HTTP 500."""

from __future__ import annotations

import asyncio
import sys
import types
from typing import Any, cast

import pytest

from postroom.core.principal import Principal
from postroom.protocols.eas import wbxml
from postroom.protocols.eas.element import E, Element
from postroom.protocols.eas.request import CommandLine
from postroom.services.eas.model import Device
from postroom.web.eas import app as eas_app
from postroom.web.eas import common
from postroom.web.eas.common import CommandContext


def test_an_unencodable_answer_is_status_110(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("postroom.web.eas.fake_bad_answer")

    async def handle(ctx: CommandContext, body: Element | None) -> Element:
        return E("Settings", "Settings", E("Settings", "NoSuchElement", text=1))
    fake.handle = handle  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setitem(common.MODULES, "Settings", "fake_bad_answer")
    app = eas_app.EasApp.__new__(eas_app.EasApp)
    ctx = CommandContext(cast(Any, None), CommandLine("Settings", "u", "D1", "T"), "14.1",
                         Principal(1, "u@example.test", 1),
                         Device(1, 1, "u@example.test", "D1", "T"),
                         cast(Any, None), cast(Any, None), cast(Any, None), b"")
    response = asyncio.run(app.dispatch(ctx, None))
    assert response.status_code == 200
    root = wbxml.decode(bytes(response.body))
    assert (root.name, root.value("Status")) == ("Settings", "110")
