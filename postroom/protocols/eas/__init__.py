"""Exchange ActiveSync, the sans-I/O part: what a request and a response are made of.

- ``element``   the document tree every command reads and writes (``Element``), with
                namespaces named as the code pages are (``AirSync``, ``FolderHierarchy``…);
- ``codepages`` the WBXML code pages of MS-ASWBXML §2.1.2.1 (every page 0x00-0x18);
- ``wbxml``     the WBXML 1.3 codec (MS-ASWBXML §2.1.1): bytes ↔ Element, bounded;
- ``request``   the request line of MS-ASHTTP §2.2.1.1: the plain query form
                (``Cmd=Sync&User=…&DeviceId=…&DeviceType=…``) and the base64 form
                (§2.2.1.1.1.1), into one ``CommandLine``.

Nothing here does I/O or knows the store: web/eas/ decodes a body with ``wbxml.decode``,
hands the Element to a command, and encodes the Element the command returns.
"""
