"""Pure domain values: addresses, rights, flags, errors, change events.

Nothing here imports any other part of postroom (checked by tests/unit/test_import_rules.py), so
every layer can depend on it without cycles.
"""
