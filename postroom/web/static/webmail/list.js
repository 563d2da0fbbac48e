/* Postroom webmail: the message list (templates/webmail/list.html). No inline script (CSP).
 *
 * On top of the page, which works without it (links and form posts):
 *   - keyboard: j/k move the focus between rows, x selects, o/Enter opens, s flags, u marks
 *     read/unread (Enter opens too: the focused row's link), # deletes, ! marks as spam, m opens the folder picker (a <dialog>);
 *   - "Select all"; drag-and-drop of the selected rows (or the dragged one) onto a folder of
 *     the tree ([data-folder-id] in #folders, re-bound after the tree refreshes);
 *   - actions are posted with Accept: application/json, then the rows are fetched again;
 *   - live: a "mail" event for this folder refreshes the rows (selection and focus kept) and
 *     announces new messages.
 */
(function () {
  "use strict";
  var P = window.Postroom;
  var form = document.getElementById("list-form");
  if (!P || !form) { return; }
  var fid = form.dataset.fid;  // (form.action would be the button named "action")
  var role = form.dataset.role || "";
  var focusUid = null;

  function tbody() { return document.getElementById("rows"); }
  function rowEls() { return Array.prototype.slice.call(document.querySelectorAll("#rows tr.msg")); }
  function box(row) { return row.querySelector('input[name="uid"]'); }
  function selected() {
    return rowEls().filter(function (r) { return box(r).checked; })
      .map(function (r) { return r.dataset.uid; });
  }
  function focused() {
    var rows = rowEls();
    var active = document.activeElement;
    for (var i = 0; i < rows.length; i++) { if (rows[i].contains(active)) { return rows[i]; } }
    return null;
  }
  function focusRow(row) {
    if (!row) { return; }
    rowEls().forEach(function (r) { r.classList.remove("current"); });
    row.classList.add("current");
    focusUid = row.dataset.uid;
    var link = row.querySelector("a.open");
    (link || row).focus();
  }
  function targetUids() {
    var uids = selected();
    if (!uids.length) { var row = focused(); if (row) { uids = [row.dataset.uid]; } }
    return uids;
  }

  function rowsUrl() { return tbody() ? tbody().dataset.rowsUrl : null; }

  function reload(announceNew) {
    var url = rowsUrl();
    if (!url) { return Promise.resolve(); }
    var before = rowEls().map(function (r) { return r.dataset.uid; });
    var keep = selected();
    var hadFocus = focused() !== null;
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var holder = document.createElement("table");
        holder.innerHTML = html;
        var fresh = holder.querySelector("tbody");
        if (!fresh || !tbody()) { return; }
        tbody().replaceWith(fresh);
        bindRows();
        rowEls().forEach(function (r) { if (keep.indexOf(r.dataset.uid) >= 0) { box(r).checked = true; } });
        var again = focusUid && document.querySelector('#rows tr[data-uid="' + focusUid + '"]');
        if (again && hadFocus) { focusRow(again); } else if (again) { again.classList.add("current"); }
        if (announceNew) {
          var added = rowEls().filter(function (r) { return before.indexOf(r.dataset.uid) < 0; }).length;
          if (added === 1) { P.announce("1 new message"); }
          else if (added > 1) { P.announce(added + " new messages"); }
        }
      });
  }

  function act(action, uids, target, confirmed) {
    if (!uids.length) { P.announce("Select at least one message first."); return Promise.resolve(); }
    if ((action === "delete" && role === "\\Trash") || action === "expunge") {
      if (!confirmed && !window.confirm(uids.length + " message(s) will be deleted for good. Continue?")) {
        return Promise.resolve();
      }
    }
    var data = new URLSearchParams();
    data.append("action", action);
    uids.forEach(function (u) { data.append("uid", u); });
    if (target) { data.append("target", target); }
    return fetch(form.getAttribute("action"), { method: "POST", credentials: "same-origin", body: data,
                                headers: { "X-CSRF-Token": P.csrf(), "Accept": "application/json" } })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (r.ok) {
            P.announce((body.count || 0) + " message(s) done.");
          } else {
            P.announce(body.detail || ("Refused (" + r.status + ")"));
            showError(body.detail || ("Refused (" + r.status + ")"));
          }
        });
      })
      .then(function () { P.refreshTree(); return reload(false); });
  }

  function showError(text) {
    var p = document.getElementById("list-error");
    if (!p) {
      p = document.createElement("p");
      p.id = "list-error"; p.className = "flash error"; p.setAttribute("role", "alert");
      form.parentNode.insertBefore(p, form);
    }
    p.textContent = text;
  }

  // Buttons of the toolbar: the same form, posted with fetch.
  form.addEventListener("submit", function (ev) {
    var button = ev.submitter;
    if (!button || button.name !== "action") { return; }
    ev.preventDefault();
    var target = button.value === "move" || button.value === "copy"
      ? document.getElementById("move-target").value : null;
    act(button.value, targetUids(), target, false);
  });

  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      rowEls().forEach(function (r) { box(r).checked = all.checked; });
    });
  }

  // Drag-and-drop onto the folder tree
  function bindRows() {
    rowEls().forEach(function (row) {
      row.addEventListener("dragstart", function (ev) {
        var uids = selected();
        if (uids.indexOf(row.dataset.uid) < 0) { uids = [row.dataset.uid]; }
        ev.dataTransfer.setData("application/x-postroom-uids", uids.join(","));
        ev.dataTransfer.setData("text/plain", uids.join(","));
        ev.dataTransfer.effectAllowed = "move";
      });
      row.addEventListener("click", function (ev) {
        if (ev.target.tagName !== "A" && ev.target.tagName !== "INPUT" && ev.target.tagName !== "LABEL") {
          focusRow(row);
        }
      });
    });
  }
  function bindTree() {
    document.querySelectorAll("#folders [data-folder-id]").forEach(function (link) {
      if (link.dataset.dropBound) { return; }
      link.dataset.dropBound = "1";
      link.addEventListener("dragover", function (ev) { ev.preventDefault(); link.classList.add("drop"); });
      link.addEventListener("dragleave", function () { link.classList.remove("drop"); });
      link.addEventListener("drop", function (ev) {
        ev.preventDefault();
        link.classList.remove("drop");
        var raw = ev.dataTransfer.getData("application/x-postroom-uids") || ev.dataTransfer.getData("text/plain");
        var uids = (raw || "").split(",").filter(function (u) { return /^\d+$/.test(u); });
        if (uids.length && link.dataset.folderId !== fid) { act("move", uids, link.dataset.folderId, true); }
      });
    });
  }
  document.addEventListener("postroom:tree", bindTree);

  // The folder picker (m)
  var dialog = document.getElementById("move-dialog");
  var pickFor = [];
  if (dialog) {
    dialog.addEventListener("close", function () {
      if (dialog.returnValue === "move" && pickFor.length) {
        act("move", pickFor, document.getElementById("move-dialog-target").value, true);
      }
      pickFor = [];
    });
  }

  function move(step) {
    var rows = rowEls();
    if (!rows.length) { return; }
    var current = focused() || (focusUid && document.querySelector('#rows tr[data-uid="' + focusUid + '"]'));
    var i = current ? rows.indexOf(current) : -1;
    focusRow(rows[Math.max(0, Math.min(rows.length - 1, i + step))]);
  }
  P.keys.add("j", "Next message in the list", function () { move(1); });
  P.keys.add("k", "Previous message in the list", function () { move(-1); });
  P.keys.add("x", "Select or unselect the message", function () {
    var row = focused(); if (row) { box(row).checked = !box(row).checked; }
  });
  // Enter needs no shortcut: j/k focus the row's link, and Enter on a link opens it (a
  // registered Enter would also swallow Enter on the toolbar's buttons).
  P.keys.add("o", "Open the message (Enter too)", function () {
    var row = focused(); var link = row && row.querySelector("a.open"); if (link) { link.click(); }
  });
  P.keys.add("s", "Flag or unflag", function () {
    var uids = targetUids(); if (!uids.length) { return; }
    var row = document.querySelector('#rows tr[data-uid="' + uids[0] + '"]');
    act(row && row.classList.contains("flagged") ? "unflag" : "flag", uids);
  });
  P.keys.add("u", "Mark read or unread", function () {
    var uids = targetUids(); if (!uids.length) { return; }
    var row = document.querySelector('#rows tr[data-uid="' + uids[0] + '"]');
    act(row && row.classList.contains("unread") ? "read" : "unread", uids);
  });
  P.keys.add("#", "Delete", function () { act("delete", targetUids()); });
  P.keys.add("!", "Mark as spam", function () { act(role === "\\Junk" ? "ham" : "spam", targetUids()); });
  P.keys.add("m", "Move to a folder", function () {
    pickFor = targetUids();
    if (pickFor.length && dialog && typeof dialog.showModal === "function") {
      dialog.showModal();
      document.getElementById("move-dialog-target").focus();
    }
  });

  P.live.on("mail", function (d) {
    if (d && String(d.folder) === String(fid)) { reload(true); }
  });

  bindRows();
  bindTree();
}());
