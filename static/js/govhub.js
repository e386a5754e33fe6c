// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // "Copy" buttons next to a read-only value (the API token shown once).
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var input = document.getElementById(btn.getAttribute("data-copy"));
      var status = document.getElementById(btn.getAttribute("data-copy") + "-status");
      input.select();
      var done = function (ok) { if (status) { status.textContent = ok ? "Copied to the clipboard." : "Press Ctrl+C (Cmd+C) to copy."; } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(false); });
      } else {
        done(false);
      }
    });
  });
})();

// Live search: leave empty filters out of the request, so the address bar (hx-push-url) reads
// /datasets/?q=onco rather than a list of blank parameters.
document.addEventListener("htmx:configRequest", function (event) {
  var data = event.detail.formData;
  if (event.detail.verb !== "get" || !data) { return; }
  Array.from(new Set(data.keys())).forEach(function (key) {
    if (data.getAll(key).every(function (value) { return value === ""; })) { data.delete(key); }
  });
});

// After a live-search swap, announce only the new result count (not the whole table).
document.addEventListener("htmx:afterSwap", function (event) {
  if (!event.detail.target || event.detail.target.id !== "results") { return; }
  var meta = event.detail.target.querySelector(".results-meta span");
  var status = document.getElementById("results-status");
  if (meta && status) { status.textContent = meta.textContent.trim(); }
});
