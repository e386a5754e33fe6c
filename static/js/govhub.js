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
