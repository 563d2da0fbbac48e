"""The ``postroom`` command line."""
