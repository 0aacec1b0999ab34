// Keyboard shortcuts for the review flow. Plain JavaScript served by orbweaver itself (no CDN).
// Every shortcut presses a real button or link on the page, so the flow works without it too.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" && el.type !== "radio" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
  }
  function press(selector) {
    var el = document.querySelector(selector);
    if (!el) { return false; }
    if (el.type === "radio") {
      el.checked = true;
      el.focus();
      if (el.dataset.jurisdiction) {
        var j = document.getElementById("jurisdiction");
        if (j) { j.focus(); }
      }
    } else {
      el.click();
    }
    return true;
  }
  function toggleHelp() {
    var box = document.getElementById("shortcut-help");
    if (box) { box.remove(); return; }
    box = document.createElement("div");
    box.id = "shortcut-help";
    var lines = [
      "n: open the next item", "r: reveal the next step (unblur, colour, full size)",
      "1-9: choose a classification", "s: submit the decision", "q: back to the queue",
      "b: I took a break", "?: show or hide this help", "Esc: leave a text field"
    ];
    lines.forEach(function (line) {
      var p = document.createElement("div");
      p.textContent = line;
      box.appendChild(p);
    });
    document.body.appendChild(box);
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "Escape") { if (document.activeElement) { document.activeElement.blur(); } return; }
    // Choosing a class that needs a jurisdiction moves the cursor into that field, so "s" used to be typed
    // into it ("DE" became "DEs", refused as no jurisdiction). An "s" that cannot continue a code submits.
    var active = document.activeElement;
    if (active && active.id === "jurisdiction" && ev.key.toLowerCase() === "s" &&
        !/^[A-Za-z]{0,2}$|^[A-Za-z]{2}-[A-Za-z0-9]{0,3}$/.test(active.value + ev.key)) {
      if (press("[data-key='s']")) { ev.preventDefault(); }
      return;
    }
    if (typing(active)) { return; }
    var key = ev.key.toLowerCase();
    var handled = false;
    if (key === "?") { toggleHelp(); handled = true; }
    else if (key === "q") { window.location.assign("/review"); handled = true; }
    else if (key === "n") { handled = press("[data-key='n']") || (window.location.assign("/review/next"), true); }
    else if (/^[a-z0-9]$/.test(key)) { handled = press("[data-key='" + key + "']"); }
    if (handled) { ev.preventDefault(); }
  });
})();
