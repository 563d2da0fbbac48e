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
    if (!box || !window.Postroom) { return; }
    window.Postroom.complete(field, box, {
      minChars: parseInt(field.dataset.minChars || "2", 10),
      // a group may be typed as $group@domain: complete what follows the "$"
      query: function (value) { return value.trim().replace(/^\$/, ""); },
      entry: function (r) { return r.address; },
      pick: function (entry) { field.value = entry; }
    });
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
