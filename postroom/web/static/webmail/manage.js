/* Webmail's sharing screen (templates/webmail/sharing.html): ticking a custom right chooses
 * "Custom", and choosing "Custom" without any right ticked moves the focus to the first
 * right. A convenience only: the form works without it, and the server decides. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
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
  });
}());
