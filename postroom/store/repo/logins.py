"""Rows of web logins: sessions, TOTP secrets, recovery codes and app passwords.

Both engines run the same SQL. Every row refers to its account with ``ON DELETE CASCADE``, so
removing an account removes its sessions and second factors in the same transaction.
Single-use values are spent by a conditional ``UPDATE`` whose row count says who won: two
requests presenting the same TOTP code or recovery code at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.core.logins import AppPasswordRec, LoginFactors, SessionRec, TotpRec
from postroom.store.engine import Engine, Row, Tx

_SESSION_COLS = ("id_hash, public_id, realm, account_id, stage, password_stamp, ip, "
                 "user_agent, created_at, last_seen, attempts")
_APP_COLS = "id, account_id, name, hint, password_hash, created_at, last_used"


def _session(row: Row) -> SessionRec:
    return SessionRec(str(row[0]), str(row[1]), str(row[2]), int(row[3]),
                      row[4], str(row[5]), str(row[6]), str(row[7]), int(row[8]),
                      int(row[9]), int(row[10]))


def _app(row: Row) -> AppPasswordRec:
    return AppPasswordRec(int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]),
                          int(row[5]), None if row[6] is None else int(row[6]))


class LoginsRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- sessions ------------------------------------------------------------------------------
    async def add_session(self, rec: SessionRec, replaces: str | None = None,
                          idle_before: int = 0) -> None:
        """Store a session; drop the one it ``replaces`` (a login step finished: the id
        changes at each step, so an id planted before the login is worth nothing) and
        sessions idle since before ``idle_before`` (the table stays the size of what is
        live without a sweeper)."""
        def fn(tx: Tx) -> None:
            if replaces is not None:
                tx.execute("DELETE FROM web_sessions WHERE id_hash = ?", (replaces,))
            if idle_before:
                tx.execute("DELETE FROM web_sessions WHERE last_seen < ?", (idle_before,))
            tx.execute(f"INSERT INTO web_sessions ({_SESSION_COLS}) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (rec.id_hash, rec.public_id, rec.realm, rec.account_id, rec.stage,
                        rec.password_stamp, rec.ip, rec.user_agent, rec.created_at,
                        rec.last_seen, rec.attempts))
        await self.engine.write(fn)

    async def session(self, id_hash: str) -> tuple[SessionRec, str, str] | None:
        """The session with the account's current password hash and state, in one read."""
        def fn(tx: Tx) -> tuple[SessionRec, str, str] | None:
            row = tx.one(f"SELECT {', '.join('s.' + c for c in _SESSION_COLS.split(', '))}, "
                         "a.password_hash, a.state FROM web_sessions s JOIN accounts a ON "
                         "a.id = s.account_id WHERE s.id_hash = ?", (id_hash,))
            return None if row is None else (_session(row), str(row[11]), str(row[12]))
        return await self.engine.read(fn)

    async def sessions(self, account_id: int, realm: str | None = None) -> list[SessionRec]:
        def fn(tx: Tx) -> list[SessionRec]:
            if realm is None:
                rows = tx.all(f"SELECT {_SESSION_COLS} FROM web_sessions WHERE account_id = ? "
                              "ORDER BY created_at, public_id", (account_id,))
            else:
                rows = tx.all(f"SELECT {_SESSION_COLS} FROM web_sessions WHERE account_id = ? "
                              "AND realm = ? ORDER BY created_at, public_id",
                              (account_id, realm))
            return [_session(r) for r in rows]
        return await self.engine.read(fn)

    async def touch(self, id_hash: str, now: int) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE web_sessions SET last_seen = ? WHERE id_hash = ?", (now, id_hash))
        await self.engine.write(fn)

    async def count_attempt(self, id_hash: str) -> int:
        """One more wrong second-factor code on a session; the new count (0: no session)."""
        def fn(tx: Tx) -> int:
            tx.execute("UPDATE web_sessions SET attempts = attempts + 1 WHERE id_hash = ?",
                       (id_hash,))
            row = tx.one("SELECT attempts FROM web_sessions WHERE id_hash = ?", (id_hash,))
            return 0 if row is None else int(row[0])
        return await self.engine.write(fn)

    async def restamp(self, id_hash: str, stamp: str) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE web_sessions SET password_stamp = ? WHERE id_hash = ?",
                       (stamp, id_hash))
        await self.engine.write(fn)

    async def end_session(self, id_hash: str) -> bool:
        def fn(tx: Tx) -> bool:
            return tx.execute("DELETE FROM web_sessions WHERE id_hash = ?", (id_hash,)) > 0
        return await self.engine.write(fn)

    async def end_public(self, account_id: int, public_id: str) -> str | None:
        """End one of an account's sessions by its public id; its id hash, or None."""
        def fn(tx: Tx) -> str | None:
            row = tx.one("SELECT id_hash FROM web_sessions WHERE account_id = ? AND "
                         "public_id = ?", (account_id, public_id))
            if row is None:
                return None
            tx.execute("DELETE FROM web_sessions WHERE id_hash = ?", (row[0],))
            return str(row[0])
        return await self.engine.write(fn)

    async def end_sessions(self, account_id: int, keep: str | None = None) -> list[str]:
        """End every session of an account (but ``keep``); the id hashes ended."""
        def fn(tx: Tx) -> list[str]:
            rows = tx.all("SELECT id_hash FROM web_sessions WHERE account_id = ?",
                          (account_id,))
            ended = [str(r[0]) for r in rows if r[0] != keep]
            tx.many("DELETE FROM web_sessions WHERE id_hash = ?", [(h,) for h in ended])
            return ended
        return await self.engine.write(fn)

    # -- TOTP ----------------------------------------------------------------------------------
    async def totp(self, account_id: int) -> TotpRec | None:
        def fn(tx: Tx) -> TotpRec | None:
            row = tx.one("SELECT account_id, secret, created_at, confirmed_at, last_step FROM "
                         "totp_secrets WHERE account_id = ?", (account_id,))
            return None if row is None else TotpRec(
                int(row[0]), str(row[1]), int(row[2]),
                None if row[3] is None else int(row[3]), int(row[4]))
        return await self.engine.read(fn)

    async def begin_totp(self, account_id: int, sealed: str, now: int) -> bool:
        """Store a new, unconfirmed secret; False (and nothing changed) when a confirmed one
        exists: enrolling again needs disabling first."""
        def fn(tx: Tx) -> bool:
            row = tx.one("SELECT confirmed_at FROM totp_secrets WHERE account_id = ?",
                         (account_id,))
            if row is not None and row[0] is not None:
                return False
            tx.execute("DELETE FROM totp_secrets WHERE account_id = ?", (account_id,))
            tx.execute("INSERT INTO totp_secrets (account_id, secret, created_at, confirmed_at, "
                       "last_step) VALUES (?, ?, ?, NULL, 0)", (account_id, sealed, now))
            return True
        return await self.engine.write(fn)

    async def use_step(self, account_id: int, step: int, confirm_at: int | None = None,
                       ) -> bool:
        """Accept time step ``step`` once: True when it is newer than every step accepted
        before (the conditional UPDATE is the replay check, RFC 6238 §5.2). With
        ``confirm_at`` an unconfirmed secret becomes confirmed in the same statement."""
        def fn(tx: Tx) -> bool:
            if confirm_at is not None:
                return tx.execute("UPDATE totp_secrets SET last_step = ?, confirmed_at = ? "
                                  "WHERE account_id = ? AND last_step < ? AND confirmed_at "
                                  "IS NULL", (step, confirm_at, account_id, step)) > 0
            return tx.execute("UPDATE totp_secrets SET last_step = ? WHERE account_id = ? AND "
                              "last_step < ? AND confirmed_at IS NOT NULL",
                              (step, account_id, step)) > 0
        return await self.engine.write(fn)

    async def remove_totp(self, account_id: int) -> bool:
        """Turn the second factor off: the secret and the recovery codes go together."""
        def fn(tx: Tx) -> bool:
            tx.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))
            return tx.execute("DELETE FROM totp_secrets WHERE account_id = ?",
                              (account_id,)) > 0
        return await self.engine.write(fn)

    # -- recovery codes ------------------------------------------------------------------------
    async def set_recovery_codes(self, account_id: int, digests: Sequence[str], now: int,
                                 ) -> None:
        """Replace every recovery code of the account."""
        def fn(tx: Tx) -> None:
            tx.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))
            tx.many("INSERT INTO recovery_codes (account_id, code_hash, created_at, used_at) "
                    "VALUES (?, ?, ?, NULL)", [(account_id, d, now) for d in digests])
        await self.engine.write(fn)

    async def use_recovery_code(self, account_id: int, digest: str, now: int) -> bool:
        def fn(tx: Tx) -> bool:
            return tx.execute("UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND "
                              "code_hash = ? AND used_at IS NULL",
                              (now, account_id, digest)) > 0
        return await self.engine.write(fn)

    async def recovery_codes_left(self, account_id: int) -> int:
        def fn(tx: Tx) -> int:
            row = tx.one("SELECT count(*) FROM recovery_codes WHERE account_id = ? AND "
                         "used_at IS NULL", (account_id,))
            return int(row[0]) if row else 0
        return await self.engine.read(fn)

    # -- app passwords -------------------------------------------------------------------------
    async def add_app_password(self, account_id: int, name: str, hint: str,
                               password_hash: str, now: int, most: int) -> AppPasswordRec | None:
        """Store an app password; None when the account already has ``most``."""
        def fn(tx: Tx) -> AppPasswordRec | None:
            row = tx.one("SELECT count(*) FROM app_passwords WHERE account_id = ?",
                         (account_id,))
            if row is not None and int(row[0]) >= most:
                return None
            new = tx.one("INSERT INTO app_passwords (account_id, name, hint, password_hash, "
                         "created_at, last_used) VALUES (?, ?, ?, ?, ?, NULL) RETURNING id",
                         (account_id, name, hint, password_hash, now))
            assert new is not None
            return AppPasswordRec(int(new[0]), account_id, name, hint, password_hash, now,
                                  None)
        return await self.engine.write(fn)

    async def app_passwords(self, account_id: int) -> list[AppPasswordRec]:
        def fn(tx: Tx) -> list[AppPasswordRec]:
            return [_app(r) for r in tx.all(f"SELECT {_APP_COLS} FROM app_passwords WHERE "
                                            "account_id = ? ORDER BY id", (account_id,))]
        return await self.engine.read(fn)

    async def remove_app_password(self, account_id: int, app_id: int) -> bool:
        def fn(tx: Tx) -> bool:
            return tx.execute("DELETE FROM app_passwords WHERE account_id = ? AND id = ?",
                              (account_id, app_id)) > 0
        return await self.engine.write(fn)

    async def app_password_used(self, app_id: int, now: int) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE app_passwords SET last_used = ? WHERE id = ?", (now, app_id))
        await self.engine.write(fn)

    async def factors(self, account_id: int) -> LoginFactors:
        """Whether the account has a second factor, and its app passwords: one read per mail
        login (directory/service.py ``authenticate``)."""
        def fn(tx: Tx) -> LoginFactors:
            row = tx.one("SELECT 1 FROM totp_secrets WHERE account_id = ? AND confirmed_at IS "
                         "NOT NULL", (account_id,))
            apps = tuple(_app(r) for r in tx.all(
                f"SELECT {_APP_COLS} FROM app_passwords WHERE account_id = ? ORDER BY id",
                (account_id,)))
            return LoginFactors(row is not None, apps)
        return await self.engine.read(fn)
