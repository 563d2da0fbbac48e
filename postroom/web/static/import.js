// Postroom WebAdmin: the import progress page polls its job's JSON status and redraws the bar
// and the text, instead of reloading the whole page (which it does without this script).
"use strict";
(function () {
  const box = document.getElementById("import");
  if (!box || box.dataset.state !== "running") { return; }
  const bar = document.getElementById("import-bar");
  const text = document.getElementById("import-text");
  const error = document.getElementById("import-error");
  async function poll() {
    let job;
    try {
      const response = await fetch(box.dataset.status, { credentials: "same-origin" });
      if (!response.ok) { throw new Error(String(response.status)); }
      job = await response.json();
    } catch (e) {
      window.setTimeout(poll, 3000);
      return;
    }
    bar.max = job.total;
    bar.value = job.done;
    bar.textContent = job.done + " of " + job.total;
    box.dataset.state = job.state;
    if (job.state === "running") {
      text.textContent = job.done + " of " + job.total + " accounts created so far…";
      window.setTimeout(poll, 1000);
    } else if (job.state === "done") {
      text.textContent = "Done: " + job.done + " of " + job.total + " accounts created.";
    } else {
      text.textContent = "Stopped after " + job.done + " of " + job.total + " accounts.";
      error.textContent = job.error;
    }
  }
  window.setTimeout(poll, 500);
}());
