// nnmatch web: a few lines on top of htmx. Every page works without JavaScript.
(function () {
  "use strict";
  // After htmx swaps a result in (accepted, dismissed, shortlisted, an error), move focus to it,
  // so keyboard and screen-reader users hear what happened instead of losing their place.
  document.addEventListener("htmx:afterSettle", function (event) {
    var scope = event.target;
    if (scope && !scope.isConnected && scope.id) { scope = document.getElementById(scope.id); }
    if (!scope || !scope.isConnected) { return; }
    var focus = scope.matches("[data-focus]") ? scope : scope.querySelector("[data-focus]");
    if (focus) { focus.focus(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    // A page that opens with a message (saved, refused) reads it first.
    var notice = document.querySelector("main .notice[data-focus]");
    if (notice) { notice.focus(); }
    // Quiet hours: offer this device's time zone when none is saved yet.
    var select = document.querySelector("select[data-detect-tz='yes']");
    if (select && window.Intl) {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
      for (var i = 0; i < select.options.length; i++) {
        if (select.options[i].value === zone) { select.value = zone; break; }
      }
    }
  });
})();
