// Postroom WebAdmin operations pages: progressive enhancement only; every page works without
// this file. Two things:
// 1. the dashboard's figures (#figures[data-source]) are fetched again every data-refresh
//    seconds while the tab is visible, and swapped in (the server renders them);
// 2. copy buttons (button[data-copy]) copy the text of the element they name to the
//    clipboard and say so in a polite live region. Without script the buttons stay hidden
//    and the text is selectable.
"use strict";

(function () {
  function refreshFigures(box) {
    var seconds = parseInt(box.getAttribute("data-refresh"), 10) || 5;
    var source = box.getAttribute("data-source");
    var busy = false;
    function tick() {
      // not while hidden, nor while the keyboard focus is inside (swapping would lose it)
      if (busy || document.hidden || box.contains(document.activeElement)) { return; }
      busy = true;
      fetch(source, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          // a redirect means the session ended (the login page): keep the last figures
          if (!response.ok || response.redirected) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          box.replaceChildren.apply(box, Array.prototype.slice.call(doc.body.childNodes));
          box.setAttribute("data-updated", String(Date.now()));
        })
        .catch(function () { /* keep the last figures; try again at the next tick */ })
        .then(function () { busy = false; });
    }
    window.setInterval(tick, seconds * 1000);
  }

  function copyButtons() {
    var status = document.getElementById("copy-status");
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source) { return; }
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          if (status) { status.textContent = "Copied: " + button.getAttribute("aria-label"); }
        }, function () {
          if (status) { status.textContent = "Could not copy; select the text instead."; }
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector("#figures[data-source]");
    if (box) { refreshFigures(box); }
    copyButtons();
  });
})();
