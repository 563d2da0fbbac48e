/* Postroom webmail: the live stream (Server-Sent Events, GET /webmail/events).
 *
 * Each event ("mail", "folders", "rights", "gone") is handed to Postroom.live.emit (core.js),
 * where the screens listen. The stream names the folder the page shows (<body data-folder>),
 * so the server can say at once that it is gone.
 *
 * Breaks: while the browser reconnects by itself (the server's "retry"), nothing to do; when
 * it gives up (a refusal: 503 past the server's stream cap, a 4xx), reconnect with growing
 * waits, and after a few failures poll instead: every POLL ms ask for the open folder's counts
 * (/webmail/events?poll=FID) and emit them as "mail". The server ends a stream with
 * "end" {reason}: "shutdown" (reconnect later), "replaced" (the user opened too many pages:
 * this one polls until it is shown again), "session" (logged out: stop).
 */
(function () {
  "use strict";
  var TYPES = ["mail", "folders", "rights", "gone"];
  var POLL = 60000;  // ms between polls once the stream is refused
  var BASE = 3000;   // ms before the first reconnection of our own
  var MOST = 300000; // ms at most between two attempts
  var body = document.body;
  var folder = body ? (body.dataset.folder || "") : "";
  var source = null;
  var failures = 0;
  var opened = false;
  var stopped = false;
  var retryTimer = null;
  var pollTimer = null;

  function emit(type, data) {
    if (window.Postroom) { window.Postroom.live.emit(type, data); }
  }

  function url(resume) {
    var query = [];
    if (folder) { query.push("folder=" + encodeURIComponent(folder)); }
    if (resume) { query.push("resume=1"); }
    return "/webmail/events" + (query.length ? "?" + query.join("&") : "");
  }

  function parse(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function stopStream() {
    if (source) { source.close(); source = null; }
  }

  function later() {
    if (stopped || retryTimer) { return; }
    var wait = Math.min(MOST, BASE * Math.pow(2, Math.max(0, failures - 1)));
    wait = wait / 2 + Math.random() * wait / 2;  // spread clients after a restart
    retryTimer = setTimeout(function () { retryTimer = null; connect(true); }, wait);
  }

  function poll() {
    if (!folder) { if (window.Postroom) { window.Postroom.refreshTree(); } return; }
    fetch("/webmail/events?poll=" + encodeURIComponent(folder),
          { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 404 || r.status === 403) {
          emit("gone", { folder: Number(folder) });
          return null;
        }
        var type = r.headers.get("Content-Type") || "";
        if (!r.ok || r.redirected || type.indexOf("application/json") !== 0) { return null; }
        return r.json();
      })
      .then(function (data) { if (data) { emit("mail", data); } })
      .catch(function () { /* offline: the next poll tries again */ });
  }

  function startPoll() {
    // once at once (the page may have missed changes while refused), then every POLL ms
    if (!pollTimer && !stopped) { pollTimer = setInterval(poll, POLL); poll(); }
  }

  function stopPoll() {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function connect(resume) {
    if (stopped || source) { return; }
    if (!window.EventSource) { startPoll(); return; }
    opened = false;
    source = new EventSource(url(resume));
    source.onopen = function () { opened = true; failures = 0; stopPoll(); };
    TYPES.forEach(function (type) {
      source.addEventListener(type, function (ev) {
        var data = parse(ev.data);
        if (data) { emit(type, data); }
      });
    });
    source.addEventListener("end", function (ev) {
      var data = parse(ev.data) || {};
      stopStream();
      if (data.reason === "shutdown") { failures = 1; later(); }
      else if (data.reason === "replaced") { startPoll(); }
      else { stopped = true; stopPoll(); }
    });
    source.onerror = function () {
      if (!source) { return; }
      if (source.readyState === EventSource.CLOSED) {
        // the browser gave up: a refusal (503 past the cap, a 4xx) or not a stream at all
        stopStream();
        failures += 1;
        if (failures >= 3 || !opened) { startPoll(); }
        later();
      }
      // CONNECTING: the browser reconnects by itself after the server's "retry"
    };
  }

  document.addEventListener("visibilitychange", function () {
    // a page shown again that was polling takes a stream back
    if (document.visibilityState === "visible" && pollTimer && !source && !stopped) {
      stopPoll(); failures = 0; connect(true);
    }
  });
  window.addEventListener("pagehide", function () { stopStream(); });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) { connect(true); } });

  connect(false);
}());
