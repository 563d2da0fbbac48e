// The Sieve script editor (webmail/filters_script.html): choosing an error of a refused
// script puts the cursor in the textarea on that line and column. Without it the links
// still lead to the textarea.
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
    var area = document.getElementById("f-source");
    if (!area) { return; }
    document.querySelectorAll("a.wm-goto").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        place(area, parseInt(link.dataset.line, 10) || 1, parseInt(link.dataset.column, 10) || 1);
      });
    });
  });
})();
