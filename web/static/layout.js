// Layout help for every page. Plain JavaScript served by orbweaver itself (no CDN).
// On a narrow screen a wide table scrolls inside itself; keyboard users must be able to reach and
// scroll it too, so each table or box that scrolls sideways gets keyboard focus and a name.
(function () {
  "use strict";
  function name(el) {
    var caption = el.querySelector("caption");
    if (caption) { return caption.textContent.trim(); }
    var prev = el.previousElementSibling;
    while (prev && !/^H[1-6]$/.test(prev.tagName)) { prev = prev.previousElementSibling; }
    return prev ? prev.textContent.trim() : "Table";
  }
  function mark() {
    document.querySelectorAll("table, .scroll").forEach(function (el) {
      var scrolls = el.scrollWidth > el.clientWidth + 1;
      if (scrolls && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
        if (el.tagName !== "TABLE") { el.setAttribute("role", "region"); }
        if (!el.hasAttribute("aria-label")) { el.setAttribute("aria-label", name(el) + " (scrolls sideways)"); }
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  window.addEventListener("resize", mark);
})();
