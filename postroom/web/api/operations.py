"""``/api/v1`` for outbound authentication and the server itself: DKIM keys, the DNS records a
domain should publish, BATV keys, the audit log and the status. The handlers call
services/admin/signing.py and the ``Admin`` facade (services/admin/__init__.py)."""

from __future__ import annotations

from postroom.core.address import normalize_domain
from postroom.services.dkimkeys import KeyView
from postroom.web.api import models as m
from postroom.web.api.framework import Api, Call

DKIM, DNS, BATV, AUDIT, STATUS = "dkim", "dns", "batv", "audit", "status"


def key_out(k: KeyView) -> m.DkimKeyOut:
    return m.DkimKeyOut(domain=k.domain, selector=k.selector, algorithm=k.algorithm,
                        state=k.state, created=k.created_at, activates=k.activate_at,
                        published_until=k.retire_at, record_name=k.record_name,
                        record=k.record)


def register(api: Api) -> None:
    admin = api.services.admin
    signing = admin.signing
    keys = "/domains/{domain}/dkim"

    @api.add("GET", "/dkim", summary="Every domain's DKIM keys (one domain's with "
             "?domain=)", tag=DKIM, cli="postroom dkim list", query=m.DkimQuery,
             out=list[m.DkimKeyOut])
    async def list_all_dkim_keys(c: Call) -> list[m.DkimKeyOut]:
        return [key_out(k) for k in
                await signing.dkim_list(c.actor, c.query_as(m.DkimQuery).domain)]

    @api.add("GET", keys, summary="A domain's DKIM keys with their DNS records", tag=DKIM,
             cli="postroom dkim show DOMAIN", out=list[m.DkimKeyOut])
    async def list_dkim_keys(c: Call) -> list[m.DkimKeyOut]:
        return [key_out(k) for k in await signing.dkim_list(c.actor, c.param("domain"))]

    @api.add("POST", keys + "/generate", summary="Make a domain's first keys (signing at "
             "once)", tag=DKIM, cli="postroom dkim generate", body=m.DkimGenerate,
             out=list[m.DkimKeyOut], status=201)
    async def generate_dkim_keys(c: Call) -> list[m.DkimKeyOut]:
        b = c.body_as(m.DkimGenerate)
        return [key_out(k) for k in await signing.dkim_generate(
            c.actor, c.param("domain"), b.algorithms, b.selector)]

    @api.add("POST", keys + "/rotate", summary="Make new keys, published now and signing "
             "after delay; the old ones retire after the overlap", tag=DKIM,
             cli="postroom dkim rotate", body=m.DkimRotate, out=list[m.DkimKeyOut],
             status=201)
    async def rotate_dkim_keys(c: Call) -> list[m.DkimKeyOut]:
        b = c.body_as(m.DkimRotate)
        return [key_out(k) for k in await signing.dkim_rotate(
            c.actor, c.param("domain"), b.algorithms, b.delay, b.selector)]

    @api.add("POST", keys + "/{selector}/activate", summary="A pending key signs from now "
             "on", tag=DKIM, cli="postroom dkim activate", out=m.DkimKeyOut)
    async def activate_dkim_key(c: Call) -> m.DkimKeyOut:
        return key_out(await signing.dkim_activate(c.actor, c.param("domain"),
                                                    c.param("selector")))

    @api.add("POST", keys + "/{selector}/retire", summary="Stop signing with and publishing "
             "a key now", tag=DKIM, cli="postroom dkim retire", out=m.DkimKeyOut)
    async def retire_dkim_key(c: Call) -> m.DkimKeyOut:
        return key_out(await signing.dkim_retire(c.actor, c.param("domain"),
                                                 c.param("selector")))

    @api.add("GET", keys + "/{selector}/private", summary="The private key in PEM (the "
             "reading is audited)", tag=DKIM, cli="postroom dkim show --private",
             out=m.PrivateKeyOut)
    async def dkim_private_key(c: Call) -> m.PrivateKeyOut:
        domain, selector = c.param("domain"), c.param("selector")
        pem = await signing.dkim_private(c.actor, domain, selector)
        return m.PrivateKeyOut(domain=normalize_domain(domain), selector=selector, pem=pem)

    @api.add("DELETE", keys + "/{selector}", summary="Delete a retired key for good",
             tag=DKIM, cli="postroom dkim remove")
    async def remove_dkim_key(c: Call) -> None:
        await signing.dkim_remove(c.actor, c.param("domain"), c.param("selector"))

    @api.add("GET", "/domains/{domain}/dns", summary="Every DNS record the domain should "
             "publish (MX, SPF, DKIM, DMARC, RFC 6186 SRV, autoconfig)", tag=DNS,
             cli="postroom dns", out=m.DnsOut)
    async def dns_records(c: Call) -> m.DnsOut:
        advice = await signing.dns(c.actor, c.param("domain"), api.settings.hostname)
        return m.DnsOut(domain=advice.domain, notes=list(advice.notes), records=[
            m.DnsRecordOut(name=r.name, type=r.type, ttl=r.ttl, value=r.value,
                           comment=r.comment) for r in advice.records])

    @api.add("GET", "/batv", summary="BATV keys (never their secrets)", tag=BATV,
             cli="postroom batv list", out=list[m.BatvKeyOut])
    async def list_batv_keys(c: Call) -> list[m.BatvKeyOut]:
        return [m.BatvKeyOut(key=k.number, state=k.state, created=k.created_at,
                             retired=k.retired_at) for k in await signing.batv_keys(c.actor)]

    @api.add("POST", "/batv/rotate", summary="A new BATV signing key (drop_old: stop "
             "accepting older tags)", tag=BATV, cli="postroom batv rotate",
             body=m.BatvRotate, out=list[m.BatvKeyOut])
    async def rotate_batv_key(c: Call) -> list[m.BatvKeyOut]:
        await signing.batv_rotate(c.actor, c.body_as(m.BatvRotate).drop_old)
        return await list_batv_keys(c)

    @api.add("GET", "/audit", summary="The audit log, newest first", tag=AUDIT,
             cli="postroom audit list", query=m.AuditQuery, out=list[m.AuditOut])
    async def audit_log(c: Call) -> list[m.AuditOut]:
        q = c.query_as(m.AuditQuery)
        recs = await admin.audit(c.actor, limit=q.limit, since=q.since, who=q.actor,
                                 action=q.action, target=q.target)
        return [m.AuditOut(id=r.id, at=r.at, actor=r.actor, origin=r.origin, action=r.action,
                           target=r.target, detail=r.detail) for r in recs]

    @api.add("GET", "/cluster", summary="The nodes of a cluster: state, versions, feed lag, "
             "queue claims, locks, and what needs attention", tag=STATUS,
             cli="postroom cluster status", out=m.ClusterOut)
    async def cluster(c: Call) -> m.ClusterOut:
        st = await admin.cluster_status(c.actor)
        return m.ClusterOut(
            enabled=st.enabled, schema_version=st.schema_version,
            multipop_leases=st.multipop_leases, problems=st.problems,
            nodes=[m.NodeOut(name=n.name, state=n.state, version=n.version,
                             schema_version=n.schema_version, address=n.address, pid=n.pid,
                             heartbeat_age=n.heartbeat_age, lag_ms=n.lag_ms,
                             queue_claims=n.queue_claims, locks=n.locks) for n in st.nodes])

    @api.add("GET", "/status", summary="Version, pipeline checks, and whether spamd and "
             "clamd answer", tag=STATUS, cli="postroom status", out=m.StatusOut)
    async def status(c: Call) -> m.StatusOut:
        version, checks, daemons = await admin.status(c.actor)
        return m.StatusOut(version=version, checks=checks, daemons=[
            m.DaemonOut(name=d.name, check=d.check, enabled=d.enabled, address=d.address,
                        state=d.state, engine=d.engine, signatures=d.signatures,
                        detail=d.detail) for d in daemons])
