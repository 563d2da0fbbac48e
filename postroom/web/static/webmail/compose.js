/* Postroom webmail: writing a message (templates/webmail/compose.html).
 *
 * The page works without this script (a plain form); this adds:
 *  - the rich-text editor: a contenteditable area with a labelled toolbar (bold, italic,
 *    underline, lists, link, quote) and shortcuts (Ctrl+B/I/U, Ctrl+K, Ctrl+Shift+7/8/9).
 *    Its HTML is copied into the form's "body" field on every submit; the server sanitises
 *    it (mime/richtext.py), so nothing here is trusted;
 *  - autosave: every data-autosave seconds when something changed, the form is posted to
 *    /webmail/compose/{cid}/save (fetch, X-CSRF-Token); "Saved at 10:42" is announced;
 *  - uploads: files chosen or dropped on the compose area go one by one to
 *    /webmail/upload/{cid} as the raw body (X-File-Name percent-encoded), with progress;
 *    "Remove" deletes one (DELETE /webmail/upload/{cid}/{aid});
 *  - address completion on To/Cc/Bcc (ARIA 1.2 combobox: listbox, aria-activedescendant,
 *    arrows, Enter, Escape), from GET /webmail/addresses?q=;
 *  - Ctrl+Enter sends.
 */
(function () {
  "use strict";

  function init() {
    var form = document.getElementById("compose");
    if (!form || !window.Postroom) { return; }
    var P = window.Postroom;
    var cid = form.dataset.cid;
    var textarea = document.getElementById("compose-text");
    var editor = document.getElementById("compose-editor");
    var richField = document.getElementById("compose-rich");
    var toggle = document.getElementById("compose-rich-toggle");
    var toolbar = document.getElementById("compose-toolbar");
    var savedLabel = document.getElementById("compose-saved");
    var dirty = false;
    var rich = false;

    // -- the editor ---------------------------------------------------------------------
    function escapeHtml(text) {
      var div = document.createElement("div");
      div.textContent = text;
      return div.innerHTML.replace(/\n/g, "<br>");
    }

    function setRich(on, convert) {
      rich = on;
      editor.hidden = !on;
      toolbar.hidden = !on;
      textarea.hidden = on;
      richField.value = on ? "1" : "0";
      if (convert) {
        if (on) { editor.innerHTML = escapeHtml(textarea.value); }
        else { textarea.value = editor.innerText; }
      }
      dirty = dirty || convert;
    }

    document.getElementById("compose-format").hidden = false;
    if (form.dataset.rich === "1") {
      setRich(true, false);
      if (textarea.hasAttribute("autofocus")) { editor.focus(); }
    }
    toggle.addEventListener("change", function () { setRich(toggle.checked, true); });

    function command(cmd) {
      editor.focus();
      if (cmd === "createLink") {
        var url = window.prompt("Link address (https://… or mailto:…)", "https://");
        if (url) { document.execCommand("createLink", false, url); }
      } else if (cmd === "quote") {
        document.execCommand("formatBlock", false, "blockquote");
      } else {
        document.execCommand(cmd, false, null);
      }
      dirty = true;
    }

    toolbar.addEventListener("click", function (ev) {
      var button = ev.target.closest("button[data-cmd]");
      if (button) { command(button.dataset.cmd); }
    });
    // A toolbar is one tab stop; arrows move between its buttons (ARIA toolbar pattern).
    var tools = Array.prototype.slice.call(toolbar.querySelectorAll("button"));
    tools.forEach(function (b, i) { b.tabIndex = i === 0 ? 0 : -1; });
    toolbar.addEventListener("keydown", function (ev) {
      var i = tools.indexOf(document.activeElement);
      if (i < 0) { return; }
      var next = ev.key === "ArrowRight" ? i + 1 : ev.key === "ArrowLeft" ? i - 1 : null;
      if (next === null) { return; }
      ev.preventDefault();
      next = (next + tools.length) % tools.length;
      tools[i].tabIndex = -1; tools[next].tabIndex = 0; tools[next].focus();
    });
    editor.addEventListener("keydown", function (ev) {
      if (!(ev.ctrlKey || ev.metaKey)) { return; }
      var map = ev.shiftKey ? { "8": "insertUnorderedList", "*": "insertUnorderedList",
                                "7": "insertOrderedList", "&": "insertOrderedList",
                                "9": "quote", "(": "quote" }
                            : { "k": "createLink", "K": "createLink" };
      var cmd = map[ev.key];
      if (cmd) { ev.preventDefault(); command(cmd); }
    });

    function syncBody() {
      if (rich) { textarea.value = editor.innerHTML; }
      richField.value = rich ? "1" : "0";
    }

    // -- autosave -----------------------------------------------------------------------
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });

    function formData() {
      syncBody();
      var data = new FormData(form);
      data.delete("files");
      return data;
    }

    var sending = false;
    var uploading = 0;

    function save(announce) {
      if (sending) { return Promise.resolve(); }
      dirty = false;
      return fetch("/webmail/compose/" + cid + "/save", {
        method: "POST", credentials: "same-origin", body: formData(),
        headers: { "X-CSRF-Token": P.csrf(), "Accept": "application/json" }
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        var text = res.ok ? "Saved at " + res.body.saved : "Not saved: " + res.body.error;
        savedLabel.textContent = text;
        if (announce || !res.ok) { P.announce(text); }
        if (!res.ok) { dirty = true; }
      }).catch(function () { dirty = true; savedLabel.textContent = "Not saved (offline?)"; });
    }

    var every = parseFloat(form.dataset.autosave || "0");
    if (every > 0) {
      setInterval(function () { if (dirty) { save(true); } }, every * 1000);
    }

    form.addEventListener("submit", function (ev) {
      syncBody();
      var button = ev.submitter;
      if (button && button.id === "compose-save") {
        ev.preventDefault();
        save(true);
        return;
      }
      if (sending) { ev.preventDefault(); return; }
      if (button && button.id === "compose-send" && uploading > 0) {
        ev.preventDefault();
        P.announce("Wait until the attachments have been uploaded, then send.");
        savedLabel.textContent = "Uploading attachments…";
        return;
      }
      if (button && button.id === "compose-send") {
        sending = true;
        setTimeout(function () { sending = false; }, 10000);
      }
    });
    form.addEventListener("keydown", function (ev) {
      if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") {
        ev.preventDefault();
        form.requestSubmit(document.getElementById("compose-send"));
      }
    });

    // -- attachments --------------------------------------------------------------------
    var list = document.getElementById("compose-file-list");
    var progress = document.getElementById("compose-progress");
    var sizeLine = document.getElementById("compose-size");
    var input = document.getElementById("compose-files-input");
    var maxMessage = parseInt(form.dataset.maxMessage, 10);
    var maxUpload = parseInt(form.dataset.maxUpload, 10);
    var maxFiles = parseInt(form.dataset.maxFiles, 10);
    var textEstimate = parseInt(form.dataset.estimate, 10);
    Array.prototype.forEach.call(list.children, function (li) {
      textEstimate -= parseInt(li.dataset.encoded || "0", 10);
    });
    document.getElementById("compose-attach").hidden = true;

    function human(n) {
      if (n >= 1048576) { return (n / 1048576).toFixed(1) + " MB"; }
      if (n >= 1024) { return Math.round(n / 1024) + " KB"; }
      return n + " bytes";
    }

    function updateSize() {
      var total = textEstimate;
      Array.prototype.forEach.call(list.children, function (li) {
        total += parseInt(li.dataset.encoded || "0", 10);
      });
      var over = total > maxMessage;
      sizeLine.classList.toggle("error", over);
      sizeLine.textContent = over
        ? "Too large to send: about " + human(total) + ", but this server accepts at most " +
          human(maxMessage) + ". Remove an attachment."
        : "About " + human(total) + " of at most " + human(maxMessage) + ".";
    }

    function addRow(file) {
      var li = document.createElement("li");
      li.dataset.aid = file.id;
      li.dataset.encoded = String(file.encoded);
      var name = document.createElement("span");
      name.className = "compose-file-name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "muted";
      size.textContent = " (" + file.human + ") ";
      var button = document.createElement("button");
      button.type = "button";
      button.className = "compose-remove";
      button.textContent = "Remove";
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = " " + file.name;
      button.appendChild(hidden);
      li.appendChild(name); li.appendChild(size); li.appendChild(button);
      list.appendChild(li);
      updateSize();
    }

    list.addEventListener("click", function (ev) {
      var button = ev.target.closest(".compose-remove");
      if (!button) { return; }
      ev.preventDefault();
      var li = button.closest("li");
      var name = li.querySelector(".compose-file-name").textContent;
      P.send("/webmail/upload/" + cid + "/" + li.dataset.aid, null, "DELETE").then(function (r) {
        if (r.ok || r.status === 404) {
          li.remove(); updateSize(); dirty = true;
          P.announce(name + " removed");
          input.focus();
        }
      });
    });

    function upload(file) {
      var item = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = file.name + " ";
      var bar = document.createElement("progress");
      bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", "Uploading " + file.name);
      item.appendChild(label); item.appendChild(bar);
      progress.appendChild(item);
      if (file.size > maxUpload) {
        bar.remove();
        label.textContent = file.name + ": too large (at most " + human(maxUpload) + ")";
        label.className = "error";
        P.announce(label.textContent);
        return Promise.resolve();
      }
      uploading += 1;
      return new Promise(function (resolve) {
        var xhr = new XMLHttpRequest();
        xhr.addEventListener("loadend", function () { uploading -= 1; });
        xhr.open("POST", "/webmail/upload/" + cid);
        xhr.setRequestHeader("X-CSRF-Token", P.csrf());
        xhr.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
        xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.addEventListener("progress", function (ev) {
          if (ev.lengthComputable) { bar.value = Math.round(100 * ev.loaded / ev.total); }
        });
        xhr.addEventListener("load", function () {
          var body = {};
          try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
          if (xhr.status === 201) {
            item.remove();
            addRow(body);
            dirty = true;
            P.announce(file.name + " attached");
          } else {
            bar.remove();
            label.className = "error";
            label.textContent = file.name + ": " + (body.error ||
              (xhr.status === 413 ? "too large" : "not attached (" + xhr.status + ")"));
            P.announce(label.textContent);
          }
          resolve();
        });
        xhr.addEventListener("error", function () {
          bar.remove(); label.className = "error";
          label.textContent = file.name + ": upload failed"; resolve();
        });
        xhr.send(file);
      });
    }

    function uploadAll(files) {
      var queue = Array.prototype.slice.call(files);
      if (list.children.length + queue.length > maxFiles) {
        P.announce("A message may have at most " + maxFiles + " attachments");
      }
      var chain = Promise.resolve();
      queue.forEach(function (file) { chain = chain.then(function () { return upload(file); }); });
      return chain;
    }

    input.addEventListener("change", function () {
      var files = input.files;
      uploadAll(files).then(function () { input.value = ""; });
    });

    var drop = form;
    var hint = document.getElementById("compose-drop-hint");
    hint.hidden = false;
    ["dragenter", "dragover"].forEach(function (type) {
      drop.addEventListener(type, function (ev) {
        if (ev.dataTransfer && Array.prototype.indexOf.call(ev.dataTransfer.types, "Files") >= 0) {
          ev.preventDefault();
          form.classList.add("compose-dragging");
        }
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      drop.addEventListener(type, function () { form.classList.remove("compose-dragging"); });
    });
    drop.addEventListener("drop", function (ev) {
      if (ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files.length) {
        ev.preventDefault();
        uploadAll(ev.dataTransfer.files);
      }
    });

    // -- address completion (ARIA 1.2 combobox) -------------------------------------------
    var minChars = parseInt(form.dataset.minChars || "2", 10);
    Array.prototype.forEach.call(document.querySelectorAll(".compose-complete"), function (field) {
      var box = document.getElementById(field.id + "-list");
      if (!box) { return; }
      // the piece after the last comma is completed; a pick replaces it and adds ", "
      P.complete(field, box, {
        minChars: minChars,
        query: function (value) { return value.slice(value.lastIndexOf(",") + 1).trim(); },
        entry: function (r) {
          return r.name ? '"' + r.name.replace(/["\\]/g, "") + '" <' + r.address + ">" : r.address;
        },
        pick: function (entry) {
          var value = field.value;
          var at = value.lastIndexOf(",");
          field.value = (at >= 0 ? value.slice(0, at + 1) + " " : "") + entry + ", ";
          dirty = true;
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
