/* Postroom webmail, the core every screen loads (no inline script: the CSP forbids it).
 *
 * window.Postroom gives the other scripts (list.js, read.js, compose.js, live.js, ...):
 *   Postroom.csrf()                 the session's CSRF token (from <body data-csrf>)
 *   Postroom.send(url, body, method) fetch with the token in X-CSRF-Token; resolves to the
 *                                   Response (same-origin credentials)
 *   Postroom.keys.add(key, help, fn) a keyboard shortcut ("?" lists them all); keys are ignored
 *                                   while typing in a field
 *   Postroom.live.on(type, fn)      events from the live stream: "mail" {folder,total,unseen},
 *                                   "folders" {}, "rights" {folder,rights}, "gone" {folder}
 *   Postroom.live.emit(type, data)  used by live.js when an event arrives
 *   Postroom.announce(text)         tell screen readers (the polite status region)
 *   Postroom.refreshTree()          reload the folder tree (debounced)
 *   Postroom.complete(field, box, opts)  address completion as an ARIA combobox (below)
 */
(function () {
  "use strict";
  var handlers = {};
  var shortcuts = [];
  var body = document.body;

  function csrf() { return body ? (body.dataset.csrf || "") : ""; }

  function send(url, data, method) {
    var init = { method: method || "POST", credentials: "same-origin",
                 headers: { "X-CSRF-Token": csrf() } };
    if (data instanceof FormData || data instanceof URLSearchParams || data instanceof Blob) {
      init.body = data;
    } else if (data !== undefined && data !== null) {
      init.body = JSON.stringify(data);
      init.headers["Content-Type"] = "application/json";
    }
    return fetch(url, init);
  }

  function announce(text) {
    var region = document.getElementById("wm-status");
    if (region) { region.textContent = ""; setTimeout(function () { region.textContent = text; }, 50); }
  }

  var treeTimer = null;
  function refreshTree() {
    if (treeTimer) { return; }
    treeTimer = setTimeout(function () {
      treeTimer = null;
      var nav = document.getElementById("folders");
      if (!nav) { return; }
      fetch("/webmail/tree?current=" + encodeURIComponent(body.dataset.folder || ""),
            { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var focused = document.activeElement && nav.contains(document.activeElement)
            ? document.activeElement.getAttribute("data-folder-id") : null;
          nav.innerHTML = html;
          if (focused) {
            var again = nav.querySelector('[data-folder-id="' + focused + '"]');
            if (again) { again.focus(); }
          }
          document.dispatchEvent(new CustomEvent("postroom:tree"));
        });
    }, 150);
  }

  var live = {
    on: function (type, fn) { (handlers[type] = handlers[type] || []).push(fn); },
    emit: function (type, data) {
      (handlers[type] || []).forEach(function (fn) {
        try { fn(data); } catch (e) { if (window.console) { console.error(e); } }
      });
    }
  };

  function typing(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  var pending = "";  // the first key of a two-key shortcut ("g i")
  var keys = {
    add: function (key, help, fn) { shortcuts.push({ key: key, help: help, fn: fn }); },
    list: function () { return shortcuts.slice(); }
  };

  function showKeys() {
    var dialog = document.getElementById("wm-keys");
    var list = document.getElementById("wm-keys-list");
    if (!dialog || !list) { return; }
    list.textContent = "";
    shortcuts.forEach(function (s) {
      var dt = document.createElement("dt"); dt.textContent = s.key;
      var dd = document.createElement("dd"); dd.textContent = s.help;
      list.appendChild(dt); list.appendChild(dd);
    });
    if (typeof dialog.showModal === "function") { dialog.showModal(); }
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) { return; }
    var dialog = document.getElementById("wm-keys");
    if (dialog && dialog.open) { return; }
    var key = pending ? pending + " " + ev.key : ev.key;
    var found = shortcuts.filter(function (s) { return s.key === key; });
    if (!found.length && !pending && shortcuts.some(function (s) {
      return s.key.indexOf(ev.key + " ") === 0; })) {
      pending = ev.key; setTimeout(function () { pending = ""; }, 1500);
      ev.preventDefault(); return;
    }
    pending = "";
    if (found.length) { ev.preventDefault(); found[0].fn(ev); }
  });

  keys.add("?", "Show these shortcuts", showKeys);
  keys.add("/", "Search", function () { var q = document.getElementById("wm-q"); if (q) { q.focus(); } });
  keys.add("c", "Write a new message", function () { location.assign("/webmail/compose"); });
  keys.add("g i", "Go to the inbox", function () { location.assign("/webmail/"); });

  // The folder list as a drawer on a phone screen
  document.addEventListener("DOMContentLoaded", function () {
    var menu = document.querySelector(".wm-menu");
    var nav = document.getElementById("folders");
    if (menu && nav) {
      menu.addEventListener("click", function () {
        var open = nav.classList.toggle("open");
        menu.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
  });

  // What every screen does with live events: the tree's counts, and closing a folder the
  // user lost (the list and reading screens add their own handlers).
  live.on("mail", refreshTree);
  live.on("folders", refreshTree);
  // The user's rights on the open folder changed (someone shared more, or less): the page is
  // drawn again, so the buttons offered are the ones the gate now allows. A page that
  // redraws itself (it sets data-own-rights on <body>) does it instead.
  live.on("rights", function (data) {
    if (data && String(data.folder) === (body.dataset.folder || "") &&
        !body.hasAttribute("data-own-rights")) {
      announce("Your access to this folder changed.");
      setTimeout(function () { location.reload(); }, 300);
    }
  });
  live.on("gone", function (data) {
    refreshTree();
    if (data && String(data.folder) === (body.dataset.folder || "")) {
      location.assign("/webmail/?gone=1");
    }
  });


  /* An address field as an ARIA 1.2 combobox, filled from /webmail/addresses?q= as the user
   * types (the compose page's To/Cc/Bcc, the sharing screen's "who"): arrows move, Enter
   * picks, Escape closes; an answer that comes back after newer typing is dropped.
   *   opts.minChars     characters before anything is asked (the server says the same)
   *   opts.query(value) what to ask for, from the field's value
   *   opts.entry(r)     the text picking result r ({address, name}) puts in
   *   opts.pick(text)   puts it in the field */
  function complete(field, box, opts) {
    var minChars = opts.minChars || 2;
    var active = -1, items = [], timer = null, serial = 0;
    field.setAttribute("role", "combobox");
    field.setAttribute("aria-autocomplete", "list");
    field.setAttribute("aria-expanded", "false");
    field.setAttribute("aria-controls", box.id);
    function close() {
      serial++;
      box.hidden = true; box.textContent = ""; items = []; active = -1;
      field.setAttribute("aria-expanded", "false");
      field.removeAttribute("aria-activedescendant");
    }
    function mark(i) {
      items.forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      active = i;
      field.setAttribute("aria-activedescendant", items[i].id);
      items[i].scrollIntoView({ block: "nearest" });
    }
    function choose(i) {
      var entry = items[i].dataset.value;
      close();
      opts.pick(entry);
      field.focus();
    }
    function show(results) {
      box.textContent = ""; items = []; active = -1;
      if (!Array.isArray(results) || !results.length) { close(); return; }
      results.forEach(function (r, i) {
        var li = document.createElement("li");
        li.id = box.id + "-opt-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.value = opts.entry(r);
        li.textContent = r.name ? r.name + " <" + r.address + ">" : r.address;
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
        box.appendChild(li);
        items.push(li);
      });
      box.hidden = false;
      field.setAttribute("aria-expanded", "true");
    }
    field.addEventListener("input", function () {
      clearTimeout(timer);
      var q = opts.query(field.value);
      if (q.length < minChars) { close(); return; }
      timer = setTimeout(function () {
        var mine = ++serial;
        fetch("/webmail/addresses?q=" + encodeURIComponent(q), { credentials: "same-origin",
              headers: { "Accept": "application/json" } })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (results) { if (mine === serial) { show(results); } })
          .catch(close);
      }, 150);
    });
    field.addEventListener("keydown", function (ev) {
      if (box.hidden || !items.length) { return; }
      if (ev.key === "ArrowDown") { ev.preventDefault(); mark((active + 1) % items.length); }
      else if (ev.key === "ArrowUp") { ev.preventDefault(); mark(active <= 0 ? items.length - 1 : active - 1); }
      else if (ev.key === "Enter" && active >= 0) { ev.preventDefault(); choose(active); }
      else if (ev.key === "Escape") { ev.preventDefault(); close(); }
    });
    field.addEventListener("blur", function () { setTimeout(close, 100); });
  }

  window.Postroom = { csrf: csrf, send: send, keys: keys, live: live, announce: announce,
                      refreshTree: refreshTree, complete: complete };
}());
