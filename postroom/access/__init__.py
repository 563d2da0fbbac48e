"""The access gate: every mailbox operation from every protocol is decided here."""
