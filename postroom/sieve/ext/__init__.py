"""The Sieve extensions, one module per concern; importing this package registers them all
(postroom/sieve/registry.py). A module added here must be imported below (one name a line,
sorted; core registers the base language whatever the order)."""

from postroom.sieve.ext import (  # noqa: F401
    body,
    comparators,
    copy,
    core,
    date,
    duplicate,
    editheader,
    encoded_character,
    envelope,
    environment,
    fileinto,
    imap4flags,
    include,
    mailbox,
    regex,
    reject,
    relational,
    subaddress,
    vacation,
    variables,
)
