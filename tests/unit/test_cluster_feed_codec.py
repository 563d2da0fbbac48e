"""The cross-node change feed's payloads (store/postgres/feed.py): every event survives the
trip, in order, and no payload passes NOTIFY's 8,000-byte limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from postroom.core.changes import (
    AclChanged,
    Change,
    FlagsChanged,
    MailboxCreated,
    MailboxDeleted,
    MailboxRenamed,
    MessageAdded,
    MessagesExpunged,
)
from postroom.store.postgres.feed import MAX_PAYLOAD, decode, encode


def _roundtrip(changes: list[Change]) -> list[Change]:
    out: list[Change] = []
    payloads = encode("n1/42", changes)
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    assert len(set(payloads)) == len(payloads)  # PostgreSQL folds identical payloads
    for p in payloads:
        sender, got = decode(p)
        assert sender == "n1/42"
        out.extend(got)
    return out


def _merged(changes: list[Change]) -> list[tuple[object, ...]]:
    """Events with their UIDs, where a split event's parts are joined again."""
    out: list[tuple[object, ...]] = []
    for c in changes:
        if isinstance(c, (MessagesExpunged, FlagsChanged)):
            key = (type(c).__name__, c.mailbox_id, c.modseq,
                   getattr(c, "private_to", None))
            if out and out[-1][:4] == key:
                out[-1] = (*key, out[-1][4] + tuple(sorted(c.uids)))  # type: ignore[operator]
                continue
            out.append((*key, tuple(sorted(c.uids))))
        else:
            out.append((c,))
    return out


def test_every_kind_round_trips() -> None:
    changes: list[Change] = [
        MessageAdded(3, 17, 90), MessagesExpunged(3, (1, 2, 3, 9), 91),
        FlagsChanged(3, (4, 5), 92), FlagsChanged(3, (6,), 93, private_to=12),
        MailboxCreated(4), MailboxRenamed(4, "Old name", "Nouveau «nom»"), AclChanged(4),
        MailboxDeleted(4)]
    assert _roundtrip(changes) == changes


def test_a_huge_expunge_is_split_under_the_limit() -> None:
    uids = tuple(range(1, 200_000, 2))  # no ranges to compress: the worst case
    out = _roundtrip([MessagesExpunged(7, uids, 5), MessageAdded(7, 300_000, 6)])
    assert _merged(out) == [("MessagesExpunged", 7, 5, None, uids),
                            (MessageAdded(7, 300_000, 6),)]


def test_a_rename_with_the_longest_names_still_fits() -> None:
    name = "\U0001f4ec" * 1000  # 1,000 characters of four octets each
    out = _roundtrip([MailboxRenamed(9, name, name + "x"[:0])])
    assert out == [MailboxRenamed(9, "", "")]


def test_garbage_is_refused_cleanly() -> None:
    for bad in ("", "[", "[1,2]", '["n",0,[["?",1]]]', '["n",0,[["A"]]]', "null"):
        try:
            decode(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")


@given(st.lists(st.one_of(
    st.builds(MessageAdded, st.integers(1, 10**9), st.integers(1, 10**9),
              st.integers(1, 10**12)),
    st.builds(MessagesExpunged, st.integers(1, 10**9),
              st.lists(st.integers(1, 10**6), min_size=1, max_size=3000, unique=True).map(
                  lambda u: tuple(sorted(u))), st.integers(1, 10**12)),
    st.builds(MailboxRenamed, st.integers(1, 10**9), st.text(max_size=300),
              st.text(max_size=300))), max_size=40))
def test_any_sequence_round_trips(changes: list[Change]) -> None:
    assert _merged(_roundtrip(changes)) == _merged(changes)
