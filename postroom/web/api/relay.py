"""``/api/v1`` for mail that crosses to other servers: domain gateways, ATRN providers,
MultiPOP remote accounts (an account's, or the caller's own), and dynamic screening. The
handlers call services/admin/relay.py and services/admin/screening.py; secrets (passwords,
the Minger secret) go in, never come out.

Not here: ``postroom multipop run-now`` and ``postroom atrn run-now`` (a collection from the
CLI's process; the running server collects on its own schedule, and enabling an account or
provider makes it run soon) and ``postroom minger query`` (a network probe, not
administration). docs/api.md says so."""

from __future__ import annotations

from collections.abc import Callable

from postroom.core.errors import invalid
from postroom.core.records import GatewayRec, ProviderRec, RemoteRec
from postroom.core.screening import BlockRec
from postroom.web.api import models as m
from postroom.web.api.framework import Api, Call

GATEWAYS, ATRN, MULTIPOP, SCREENING = "gateways", "atrn", "multipop", "screening"


def gateway_out(r: GatewayRec, waiting: tuple[int, int] | None = None) -> m.GatewayOut:
    return m.GatewayOut(domain=r.domain, deliver_to=r.deliver_to, verify=r.verify,
                        minger_host=r.minger_host, minger_secret=bool(r.minger_secret),
                        unverifiable=r.unverifiable, recipients=list(r.recipients),
                        atrn_users=list(r.atrn_users), created=r.created_at,
                        queued_messages=waiting[0] if waiting else None,
                        queued_octets=waiting[1] if waiting else None)


def provider_out(r: ProviderRec) -> m.ProviderOut:
    return m.ProviderOut(name=r.name, host=r.host, port=r.port, tls=r.tls,
                         verify_tls=r.tls_verify, user=r.username, domains=r.domain_list,
                         interval=r.interval_s, enabled=r.enabled, next_run=r.next_run,
                         failures=r.failures, last_success=r.last_success,
                         last_error=r.last_error, last_error_at=r.last_error_at,
                         last_received=r.last_received, created=r.created_at)


def remote_out(r: RemoteRec, seen: int | None = None) -> m.RemoteOut:
    return m.RemoteOut(id=r.id, address=r.address, host=r.host, port=r.port, tls=r.tls,
                       verify_tls=r.tls_verify, user=r.username,
                       leave_on_server=r.leave_on_server,
                       delete_after_days=r.delete_after_days, interval=r.interval_s,
                       folder=r.folder, enabled=r.enabled, next_run=r.next_run,
                       failures=r.failures, last_success=r.last_success,
                       last_error=r.last_error, last_error_at=r.last_error_at,
                       last_fetched=r.last_fetched, created=r.created_at,
                       uidls_recorded=seen)


def block_out(r: BlockRec) -> m.BlockOut:
    return m.BlockOut(network=r.network, created=r.created_at, expires=r.expires_at,
                      reason=r.reason, source=r.source)


def register(api: Api) -> None:
    _gateways(api)
    _atrn(api)
    _multipop(api, "/users/{address}", lambda c: c.param("address"), "user",
              "postroom multipop {} ADDRESS")
    _multipop(api, "/me", lambda c: c.user.address, "own", "")
    _screening(api)


def _gateways(api: Api) -> None:
    gw = api.services.admin.gateways

    @api.add("GET", "/gateways", summary="List gateway domains", tag=GATEWAYS,
             cli="postroom gateway list", out=list[m.GatewayOut])
    async def list_gateways(c: Call) -> list[m.GatewayOut]:
        return [gateway_out(r) for r in await gw.list(c.actor)]

    @api.add("POST", "/gateways", summary="Add a gateway domain (backup MX)", tag=GATEWAYS,
             cli="postroom gateway add", body=m.GatewayIn, out=m.GatewayOut, status=201,
             location=lambda r: f"/gateways/{r.domain}")
    async def add_gateway(c: Call) -> m.GatewayOut:
        b = c.body_as(m.GatewayIn)
        return gateway_out(await gw.add(
            c.actor, b.domain, deliver_to=b.deliver_to, verify=b.verify,
            minger_host=b.minger_host, minger_secret=b.minger_secret or None,
            unverifiable=b.unverifiable, recipients=b.recipients, atrn_users=b.atrn_users))

    @api.add("GET", "/gateways/{domain}", summary="Show a gateway with the mail waiting "
             "for it", tag=GATEWAYS, cli="postroom gateway show", out=m.GatewayOut)
    async def show_gateway(c: Call) -> m.GatewayOut:
        rec, waiting = await gw.show(c.actor, c.param("domain"))
        return gateway_out(rec, waiting)

    @api.add("PATCH", "/gateways/{domain}", summary="Change a gateway", tag=GATEWAYS,
             cli="postroom gateway set", body=m.GatewayPatch, out=m.GatewayOut)
    async def set_gateway(c: Call) -> m.GatewayOut:
        b = c.body_as(m.GatewayPatch)
        fields = {"deliver_to": b.deliver_to, "verify": b.verify,
                  "minger_host": b.minger_host, "unverifiable": b.unverifiable,
                  "minger_secret": b.minger_secret}
        if all(v is None for v in fields.values()) and not (
                b.add_recipients or b.remove_recipients or b.add_atrn_users
                or b.remove_atrn_users):
            raise invalid("nothing to change")
        await gw.update(c.actor, c.param("domain"), fields=fields,
                        add_recipients=b.add_recipients, drop_recipients=b.remove_recipients,
                        add_users=b.add_atrn_users, drop_users=b.remove_atrn_users)
        return await show_gateway(c)

    @api.add("DELETE", "/gateways/{domain}", summary="Remove a gateway (refused while mail "
             "waits, unless ?force=true)", tag=GATEWAYS, cli="postroom gateway remove",
             query=m.ForceQuery, out=m.Count)
    async def remove_gateway(c: Call) -> m.Count:
        return m.Count(count=await gw.remove(c.actor, c.param("domain"),
                                             force=c.query_as(m.ForceQuery).force))


def _atrn(api: Api) -> None:
    atrn = api.services.admin.atrn

    @api.add("GET", "/atrn", summary="List ATRN providers", tag=ATRN,
             cli="postroom atrn list", out=list[m.ProviderOut])
    async def list_providers(c: Call) -> list[m.ProviderOut]:
        return [provider_out(r) for r in await atrn.list(c.actor)]

    @api.add("POST", "/atrn", summary="Add a provider to collect our domains' mail from",
             tag=ATRN, cli="postroom atrn add", body=m.ProviderIn, out=m.ProviderOut,
             status=201, location=lambda r: f"/atrn/{r.name}")
    async def add_provider(c: Call) -> m.ProviderOut:
        b = c.body_as(m.ProviderIn)
        return provider_out(await atrn.add(
            c.actor, b.name, host=b.host, username=b.user, password=b.password,
            domains=b.domains, tls=b.tls, port=b.port, tls_verify=b.verify_tls,
            interval=b.interval, enabled=b.enabled))

    @api.add("GET", "/atrn/{name}", summary="Show a provider with its last success and "
             "error", tag=ATRN, cli="postroom atrn show", out=m.ProviderOut)
    async def show_provider(c: Call) -> m.ProviderOut:
        return provider_out(await atrn.show(c.actor, c.param("name")))

    @api.add("PATCH", "/atrn/{name}", summary="Change a provider", tag=ATRN,
             cli="postroom atrn set", body=m.ProviderPatch, out=m.ProviderOut)
    async def set_provider(c: Call) -> m.ProviderOut:
        b = c.body_as(m.ProviderPatch)
        return provider_out(await atrn.update(
            c.actor, c.param("name"), password=b.password, host=b.host, username=b.user,
            tls=b.tls, port=b.port, interval=b.interval, domains=b.domains,
            enabled=b.enabled, tls_verify=b.verify_tls))

    @api.add("DELETE", "/atrn/{name}", summary="Remove a provider", tag=ATRN,
             cli="postroom atrn remove")
    async def remove_provider(c: Call) -> None:
        await atrn.remove(c.actor, c.param("name"))


def _multipop(api: Api, base: str, owner: Callable[[Call], str], slug: str,
              cli_form: str) -> None:
    mp = api.services.admin.multipop

    def cli(action: str) -> str:
        return cli_form.format(action) if cli_form else ""

    async def list_remotes(c: Call) -> list[m.RemoteOut]:
        return [remote_out(r) for r in await mp.list(c.actor, owner(c))]

    async def add_remote(c: Call) -> m.RemoteOut:
        b = c.body_as(m.RemoteIn)
        return remote_out(await mp.add(
            c.actor, owner(c), host=b.host, username=b.user, password=b.password, tls=b.tls,
            port=b.port, tls_verify=b.verify_tls,
            leave_on_server=b.leave_on_server or b.delete_after_days is not None,
            delete_after_days=b.delete_after_days, interval=b.interval, folder=b.folder,
            enabled=b.enabled))

    async def show_remote(c: Call) -> m.RemoteOut:
        remote_id = c.int_param("id")
        rec = await mp.one(c.actor, owner(c), remote_id)
        return remote_out(rec, len(await mp.seen(c.actor, owner(c), remote_id)))

    async def set_remote(c: Call) -> m.RemoteOut:
        b = c.body_as(m.RemotePatch)
        if all(v is None for v in (b.password, b.interval, b.folder, b.enabled,
                                   b.leave_on_server, b.delete_after_days)):
            raise invalid("nothing to change")
        await mp.update(c.actor, owner(c), c.int_param("id"), password=b.password,
                        interval=b.interval, folder=b.folder, enabled=b.enabled,
                        leave_on_server=b.leave_on_server,
                        delete_after_days=b.delete_after_days)
        return await show_remote(c)

    async def remove_remote(c: Call) -> None:
        await mp.remove(c.actor, owner(c), c.int_param("id"))

    for fn in (list_remotes, add_remote, show_remote, set_remote, remove_remote):
        fn.__name__ = f"{fn.__name__}_{slug}"
    path = base + "/multipop"
    whose = "the account's" if slug == "user" else "the caller's own"
    api.add("GET", path, summary=f"List {whose} remote POP3 accounts", tag=MULTIPOP,
            cli=cli("list"), out=list[m.RemoteOut])(list_remotes)
    api.add("POST", path, summary=f"Add a remote POP3 account to collect into {whose} "
            "mailbox", tag=MULTIPOP, cli=cli("add"), body=m.RemoteIn, out=m.RemoteOut,
            status=201, location=lambda r: (f"/users/{r.address}" if slug == "user"
                                            else "/me") + f"/multipop/{r.id}")(add_remote)
    api.add("GET", path + "/{id}", summary="Show a remote account with its last success and "
            "error", tag=MULTIPOP, cli=cli("show"), out=m.RemoteOut)(show_remote)
    api.add("PATCH", path + "/{id}", summary="Change a remote account", tag=MULTIPOP,
            cli=cli("set"), body=m.RemotePatch, out=m.RemoteOut)(set_remote)
    api.add("DELETE", path + "/{id}", summary="Remove a remote account (nothing is deleted "
            "remotely)", tag=MULTIPOP, cli=cli("remove"))(remove_remote)
    if slug == "user":
        @api.add("GET", "/multipop", summary="Every account's remote POP3 accounts",
                 tag=MULTIPOP, cli="postroom multipop list", out=list[m.RemoteOut])
        async def list_all_remotes(c: Call) -> list[m.RemoteOut]:
            return [remote_out(r) for r in await mp.list(c.actor, None)]


def _screening(api: Api) -> None:
    sc = api.services.admin.screening

    @api.add("GET", "/screening", summary="The blocks in force", tag=SCREENING,
             cli="postroom screening list", out=list[m.BlockOut])
    async def list_blocks(c: Call) -> list[m.BlockOut]:
        return [block_out(r) for r in await sc.list(c.actor)]

    @api.add("POST", "/screening", summary="Refuse connections from an address or network",
             tag=SCREENING, cli="postroom screening block", body=m.BlockIn, out=m.BlockOut,
             status=201)
    async def block(c: Call) -> m.BlockOut:
        b = c.body_as(m.BlockIn)
        return block_out(await sc.block(c.actor, b.network,
                                        None if b.seconds is None else float(b.seconds),
                                        b.reason))

    @api.add("DELETE", "/screening/{network:path}", summary="Lift a block (given an "
             "address: every block covering it)", tag=SCREENING,
             cli="postroom screening unblock", out=m.Unblocked)
    async def unblock(c: Call) -> m.Unblocked:
        return m.Unblocked(unblocked=await sc.unblock(c.actor, c.param("network")))
