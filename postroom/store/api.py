"""Storage constants shared by the repositories.

The records the store hands out and takes in live in ``postroom.core.records``, so that the
layers above can name them without importing the store.
"""

from __future__ import annotations

GLOBAL_SCOPE = 0  # admin_roles.domain_id for a global administrator
PUBLIC_OWNER = 0  # mailboxes.owner_key for public folders
