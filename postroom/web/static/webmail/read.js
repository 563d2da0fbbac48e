/* Postroom webmail, the reading page (web/webmail/read.py): keyboard shortcuts only.
 * The message's own HTML is in a sandboxed frame without scripts; nothing here touches it.
 * Shortcuts (urls contract): r reply, a reply all, f forward, u back to the list. */
(function () {
  "use strict";
  function go(attr) {
    return function () {
      var article = document.querySelector(".wm-message");
      var url = article ? article.getAttribute(attr) : null;
      if (url) { location.assign(url); }
    };
  }
  if (!window.Postroom) { return; }
  window.Postroom.keys.add("r", "Reply", go("data-reply"));
  window.Postroom.keys.add("a", "Reply to all", go("data-reply-all"));
  window.Postroom.keys.add("f", "Forward", go("data-forward"));
  window.Postroom.keys.add("u", "Back to the list", go("data-list"));
}());
