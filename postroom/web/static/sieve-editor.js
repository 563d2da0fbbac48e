// Sieve script editors (webmail's filters_script.html, WebAdmin's admin/sieve_scope.html):
// choosing an error of a refused script (a link with data-line and data-column whose href
// names the textarea) puts the cursor on that line and column. Without it the links still
// lead to the textarea.
"use strict";
(function () {
  function place(area, line, column) {
    var lines = area.value.split("\n");
    var at = 0;
    for (var i = 0; i < Math.min(line - 1, lines.length); i++) { at += lines[i].length + 1; }
    at += Math.max(0, column - 1);
    area.focus();
    area.setSelectionRange(at, at);
    var height = area.scrollHeight / Math.max(1, lines.length);
    area.scrollTop = Math.max(0, (line - 3) * height);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("a[data-line][href^='#']").forEach(function (link) {
      var area = document.getElementById(link.getAttribute("href").slice(1));
      if (!area || area.tagName !== "TEXTAREA") { return; }
      link.addEventListener("click", function (event) {
        event.preventDefault();
        place(area, parseInt(link.dataset.line, 10) || 1, parseInt(link.dataset.column, 10) || 1);
      });
    });
  });
})();
