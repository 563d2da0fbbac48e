/* Webmail's sharing screen (templates/webmail/sharing.html). Conveniences only: the form
 * works without this script, and the server decides.
 *  - ticking a custom right chooses "Custom", and choosing "Custom" without any right ticked
 *    moves the focus to the first right;
 *  - whom to share with: the "who" field becomes an ARIA 1.2 combobox (listbox,
 *    aria-activedescendant, arrows, Enter, Escape) filled as the user types from the compose
 *    page's address completion, GET /webmail/addresses?q= (own domain only, nothing before
 *    data-min-chars characters). The page itself never lists anyone: a user cannot read the
 *    whole domain from it (security review, finding 9).
 */
(function () {
  "use strict";

  function customRights() {
    var custom = document.getElementById("r-custom");
    if (!custom) { return; }
    var boxes = document.querySelectorAll('input[name="right"]');
    Array.prototype.forEach.call(boxes, function (box) {
      box.addEventListener("change", function () { custom.checked = true; });
    });
    custom.addEventListener("change", function () {
      var ticked = Array.prototype.some.call(boxes, function (b) { return b.checked; });
      if (!ticked && boxes.length) { boxes[0].focus(); }
    });
  }

  function completion(field) {
    var box = document.getElementById(field.dataset.complete);
    if (!box) { return; }
    var minChars = parseInt(field.dataset.minChars || "2", 10);
    var active = -1;
    var items = [];
    var timer = null;
    var serial = 0;
    field.setAttribute("role", "combobox");
    field.setAttribute("aria-autocomplete", "list");
    field.setAttribute("aria-expanded", "false");
    field.setAttribute("aria-controls", box.id);

    function close() {
      serial++;  // an answer still on its way is not shown any more
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
      field.value = items[i].dataset.value;
      close();
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
        li.dataset.value = r.address;
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
      // a group may be typed as $group@domain: complete what follows the "$"
      var q = field.value.trim().replace(/^\$/, "");
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

  function init() {
    customRights();
    Array.prototype.forEach.call(document.querySelectorAll("input[data-complete]"), completion);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
