"""``/api/v1`` for mail data: folders (an account's, public ones, the caller's own), their ACLs
with apply-to-subfolders, and the queue. Folder names are the user's names
(``INBOX/Projects``), in the path as they are: the ``{folder}`` parameter takes the rest of
the path, slashes included (percent-encode other reserved characters).

The same handlers serve three namespaces: ``/users/{address}/...`` (administrators),
``/public-folders/...`` and ``/public-acl/...`` (global administrators) and ``/me/...`` (the
caller's own folders, where the access gate treats them exactly as IMAP does)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from postroom.access import vocab
from postroom.core.errors import invalid
from postroom.core.records import MailboxRec, QueueRec
from postroom.web.api import models as m
from postroom.web.api.framework import Api, Call

FOLDERS, ACLS, QUEUE = "folders", "acls", "queue"


def folder_out(b: MailboxRec) -> m.FolderOut:
    return m.FolderOut(folder=b.name, type=b.kind, special_use=b.special_use or None,
                       messages=b.message_count, size=b.total_size, address=b.address,
                       uidvalidity=b.uidvalidity)


def queue_out(rec: QueueRec) -> m.QueueOut:
    params = rec.param_dict()
    return m.QueueOut(id=rec.id, state=rec.state, sender=rec.sender,
                      recipients=list(rec.recipients), size=rec.size,
                      destination="remote" if params.get("remote") else "local",
                      attempts=rec.attempts, queued=rec.created_at,
                      next_attempt=rec.next_attempt, last_error=rec.last_error)


def queue_detail(rec: QueueRec) -> m.QueueDetail:
    params = rec.param_dict()
    base = queue_out(rec)
    return m.QueueDetail(
        id=base.id, state=base.state, sender=base.sender, recipients=base.recipients,
        size=base.size, destination=base.destination, attempts=base.attempts,
        queued=base.queued, next_attempt=base.next_attempt, last_error=base.last_error,
        notice=bool(params.get("notice")),
        dsn={k: str(params[k]) for k in ("ret", "envid", "notify", "orcpt") if k in params},
        body=str(params.get("body", "7BIT")), blob=rec.blob)


def register(api: Api) -> None:
    _folders(api, "/users/{address}", "user", lambda c: c.param("address"),
             "postroom folder {} ADDRESS", "postroom acl {} ADDRESS")
    _folders(api, "/public", "public", lambda c: None,
             "postroom folder {} --public", "postroom acl {} --public")
    _folders(api, "/me", "own", lambda c: c.user.address or None, "", "")
    _queue(api)


def _folders(api: Api, base: str, whose: str, owner: Callable[[Call], str | None],
             folder_cli: str, acl_cli: str) -> None:
    """The folder and ACL endpoints of one namespace. ``owner(call)`` is the account whose
    folders they are (None: public folders)."""
    folders = api.services.admin.folders
    pick = owner
    slug = whose
    plural, one = {"user": ("the account's folders", "a folder of the account"),
                   "public": ("the public folders", "a public folder"),
                   "own": ("the caller's own folders", "a folder of the caller's")}[whose]
    tag_f, tag_a = FOLDERS, ACLS

    def cli(form: str, action: str) -> str:
        return form.format(action) if form else ""

    async def list_folders(c: Call) -> list[m.FolderOut]:
        return [folder_out(b) for b in await folders.list(c.actor, pick(c))]

    async def create_folder(c: Call) -> m.FolderOut:
        b = c.body_as(m.FolderIn)
        if b.address is not None and whose != "public":
            raise invalid("a posting address is for public folders")
        return folder_out(await folders.create(c.actor, pick(c), b.name, kind=b.type,
                                               folder_address=b.address))

    async def rename_folder(c: Call) -> None:
        await folders.rename(c.actor, pick(c), c.param("folder"), c.body_as(m.RenameIn).name)

    async def delete_folder(c: Call) -> None:
        await folders.delete(c.actor, pick(c), c.param("folder"))

    async def get_acl(c: Call) -> m.AclOut:
        folder = c.param("folder")
        entries = await folders.acl(c.actor, pick(c), folder)
        return m.AclOut(folder=folder, entries=[
            m.AclEntryOut(identifier=e.identifier, rights=vocab.imap_stored(e.rights))
            for e in entries])

    async def set_acl(c: Call) -> m.AclChanged:
        b, folder = c.body_as(m.AclSet), c.param("folder")
        ident, stored = await folders.set_acl(c.actor, pick(c), folder, b.identifier,
                                              b.rights)
        count = await folders.apply_to_subfolders(c.actor, pick(c), folder) \
            if b.apply_to_subfolders else None
        return m.AclChanged(identifier=ident, rights=vocab.imap_stored(stored),
                            subfolders=count)

    async def delete_acl(c: Call) -> m.AclChanged:
        q, folder = c.query_as(m.AclDelete), c.param("folder")
        await folders.delete_acl(c.actor, pick(c), folder, q.identifier)
        count = await folders.apply_to_subfolders(c.actor, pick(c), folder) \
            if q.apply_to_subfolders else None
        return m.AclChanged(identifier=q.identifier, rights="", subfolders=count)

    async def apply_acl(c: Call) -> m.Count:
        return m.Count(count=await folders.apply_to_subfolders(c.actor, pick(c),
                                                               c.param("folder")))

    for fn in (list_folders, create_folder, rename_folder, delete_folder, get_acl, set_acl,
               delete_acl, apply_acl):
        fn.__name__ = f"{fn.__name__}_{slug}"
    fpath, apath = base + "/folders", base + "/acl/{folder:path}"
    api.add("GET", fpath, summary=f"List {plural}", tag=tag_f,
            cli=cli(folder_cli, "list"), out=list[m.FolderOut])(list_folders)
    api.add("POST", fpath, summary=f"Create {one}"
            + (" (address: a posting address delivering into it)" if whose == "public"
               else ""), tag=tag_f, cli=cli(folder_cli, "create"), body=m.FolderIn,
            out=m.FolderOut, status=201)(create_folder)
    api.add("PATCH", fpath + "/{folder:path}", summary=f"Rename {one} "
            "(subfolders move along)", tag=tag_f, cli=cli(folder_cli, "rename"),
            body=m.RenameIn)(rename_folder)
    api.add("DELETE", fpath + "/{folder:path}", summary=f"Delete {one} with its messages",
            tag=tag_f, cli=cli(folder_cli, "delete"))(delete_folder)
    api.add("GET", apath, summary=f"The ACL of {one}", tag=tag_a,
            cli=cli(acl_cli, "get"), out=m.AclOut)(get_acl)
    api.add("PUT", apath, summary="Set an identifier's rights (+r adds, -r removes, lr "
            "replaces); optionally copy the whole ACL onto every subfolder", tag=tag_a,
            cli=cli(acl_cli, "set"), body=m.AclSet, out=m.AclChanged)(set_acl)
    api.add("DELETE", apath, summary="Remove an identifier's entry (?identifier=)", tag=tag_a,
            cli=cli(acl_cli, "delete"), query=m.AclDelete, out=m.AclChanged)(delete_acl)
    if whose != "own":  # the ACL service keeps this for administrators
        api.add("POST", base + "/acl-apply/{folder:path}", summary="Copy the folder's ACL "
                "onto every subfolder", tag=tag_a,
                cli=cli(acl_cli, "get") + " --apply-to-subfolders", out=m.Count)(apply_acl)


def _queue(api: Api) -> None:
    queue = api.services.admin.queue

    @api.add("GET", "/queue", summary="List queued messages", tag=QUEUE,
             cli="postroom queue list", out=list[m.QueueOut])
    async def list_queue(c: Call) -> list[m.QueueOut]:
        return [queue_out(r) for r in await queue.list(c.actor)]

    @api.add("GET", "/queue/{id}", summary="Show a queue entry", tag=QUEUE,
             cli="postroom queue show", out=m.QueueDetail)
    async def show_queue_entry(c: Call) -> m.QueueDetail:
        return queue_detail(await queue.get(c.actor, c.int_param("id")))

    @api.add("GET", "/queue/{id}/content", summary="The message as queued", tag=QUEUE,
             cli="postroom queue show --content", out=bytes, raw="message/rfc822")
    async def queue_content(c: Call) -> bytes:
        rec = await queue.get(c.actor, c.int_param("id"))
        return await asyncio.to_thread(queue.open_content, c.actor, rec)

    @api.add("POST", "/queue/{id}/hold", summary="Keep an entry from being tried until "
             "released", tag=QUEUE, cli="postroom queue hold", out=m.QueueDetail)
    async def hold_queue_entry(c: Call) -> m.QueueDetail:
        await queue.hold(c.actor, c.int_param("id"))
        return await show_queue_entry(c)

    # release and retry answer 204: the queue manager may have delivered (and removed) the
    # entry before a second read could show it
    @api.add("POST", "/queue/{id}/release", summary="Release a held entry (tried at once)",
             tag=QUEUE, cli="postroom queue release")
    async def release_queue_entry(c: Call) -> None:
        await queue.release(c.actor, c.int_param("id"))

    @api.add("POST", "/queue/{id}/retry", summary="Try an entry now", tag=QUEUE,
             cli="postroom queue retry")
    async def retry_queue_entry(c: Call) -> None:
        await queue.release(c.actor, c.int_param("id"), retry=True)

    @api.add("POST", "/queue/{id}/bounce", summary="Return an entry to its sender with a "
             "failure notice", tag=QUEUE, cli="postroom queue bounce", out=m.QueueDetail)
    async def bounce_queue_entry(c: Call) -> m.QueueDetail:
        return queue_detail(await queue.bounce(c.actor, c.int_param("id")))

    @api.add("DELETE", "/queue/{id}", summary="Drop an entry without telling the sender",
             tag=QUEUE, cli="postroom queue delete")
    async def delete_queue_entry(c: Call) -> None:
        await queue.delete(c.actor, c.int_param("id"))
