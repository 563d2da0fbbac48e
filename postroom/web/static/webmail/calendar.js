/* Webmail calendar and contacts pages (progressive enhancement; the pages work without it).
 *
 * - keys: ArrowLeft/ArrowRight previous/next, t today, n new event, d/w/m/a the views;
 *   on the contacts list n new contact, f find (all listed by "?", core.js);
 * - colours: a calendar's own colour (data-color="#rrggbb") set through the CSSOM (the CSP
 *   forbids inline style attributes; the palette class cal-cN is the fallback);
 * - the calendar toggles apply as soon as one is changed (the button stays for no-script);
 * - live: a "mail" event for one of the shown folders (data-calendars / data-books) reloads
 *   the page, unless the user is typing in a form.
 */
(function () {
  "use strict";
  var P = window.Postroom;
  var COLOR = /^#[0-9a-fA-F]{6}$/;

  function go(id) {
    var a = document.getElementById(id);
    if (a && a.href) { location.assign(a.href); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-color]").forEach(function (el) {
      var c = el.getAttribute("data-color");
      if (c && COLOR.test(c)) { el.style.setProperty("--cal", c); }
    });
    var toggles = document.getElementById("cal-toggles");
    if (toggles) {
      toggles.addEventListener("change", function () { toggles.submit(); });
      var apply = toggles.querySelector(".cal-apply");
      if (apply) { apply.classList.add("visually-hidden"); }
    }
    var root = document.getElementById("calendar");
    if (root && P) {
      P.keys.add("ArrowLeft", "Previous day, week or month", function () { go("cal-prev"); });
      P.keys.add("ArrowRight", "Next day, week or month", function () { go("cal-next"); });
      P.keys.add("t", "Today", function () { go("cal-today"); });
      P.keys.add("n", "New event", function () { go("cal-new"); });
      P.keys.add("d", "Day view", function () { go("cal-view-day"); });
      P.keys.add("w", "Week view", function () { go("cal-view-week"); });
      P.keys.add("m", "Month view", function () { go("cal-view-month"); });
      P.keys.add("a", "Agenda view", function () { go("cal-view-agenda"); });
    }
    if (document.getElementById("contacts") && P) {
      P.keys.add("n", "New contact", function () { go("ct-new"); });
      P.keys.add("f", "Find contacts", function () {
        var q = document.getElementById("ct-q");
        if (q) { q.focus(); }
      });
    }
    var finder = document.getElementById("cal-invite-finder");
    var find = document.getElementById("f-invite-find");
    var box = document.getElementById("invite-list");
    var people = document.getElementById("f-attendees");
    if (finder && find && box && people && P) {
      finder.hidden = false;
      P.complete(find, box, {
        minChars: parseInt(find.dataset.minChars || "2", 10),
        query: function (value) { return value.trim(); },
        entry: function (r) { return r.address; },
        pick: function (entry) {
          var lines = people.value.split("\n").filter(function (l) { return l.trim(); });
          if (lines.indexOf(entry) < 0) { lines.push(entry); }
          people.value = lines.join("\n");
          find.value = "";
          P.announce(entry + " added to the invitations.");
        }
      });
    }
    var watched = document.querySelector("[data-calendars], [data-books]");
    if (watched && P) {
      var ids = (watched.getAttribute("data-calendars") || watched.getAttribute("data-books") || "")
        .split(",").filter(function (s) { return s; });
      var timer = null;
      P.live.on("mail", function (data) {
        if (!data || ids.indexOf(String(data.folder)) < 0) { return; }
        var active = document.activeElement;
        if (active && active.form) { return; }  // never lose what is being typed
        clearTimeout(timer);
        timer = setTimeout(function () {
          P.announce("The calendar changed; showing the new version.");
          location.reload();
        }, 300);
      });
    }
  });
}());
