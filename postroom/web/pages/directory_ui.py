"""WebAdmin's directory and folder pages (docs/web.md "WebAdmin pages").

Each area is its own module: domains, users (and the CSV import), aliases and groups,
administrators, folders with the ACL editor (public folders, an account's folders, and a
user's own ``/me/sharing``), a user's MultiPOP accounts, and administrators' Sieve scripts.
Every page calls the admin services with ``user.actor`` (web/pages/dir_common.py says how
refusals become statuses).

Order matters where paths overlap: ``/users/import`` and ``/users/new`` come before
``/users/{address}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from postroom.web.pages import (
    dir_admins,
    dir_devices,
    dir_domains,
    dir_folders,
    dir_groups,
    dir_import,
    dir_self,
    dir_sieve,
    dir_users,
)

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    admin = services.admin
    return [*dir_domains.routes(admin), *dir_import.routes(admin),
            *dir_devices.routes(services.eas),
            *dir_users.routes(admin, settings.users_page_size, settings.users_page_max),
            *dir_groups.routes(admin),
            *dir_admins.routes(admin), *dir_folders.routes(admin), *dir_self.routes(admin),
            *dir_sieve.routes(admin, services.sieve_scripts)]
