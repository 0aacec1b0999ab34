// Live campaign page: polls the campaign's small JSON progress endpoint and updates the page in place.
// Plain JavaScript served by orbweaver itself (no CDN); every value is set as text, never as HTML.
(function () {
  "use strict";
  var section = document.getElementById("campaign");
  if (!section) { return; }
  var PERIOD_MS = 3000;
  var ACTIONS = {start: "Start", pause: "Pause", resume: "Resume", stop: "Stop"};

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value === null || value === undefined ? "" : String(value); }
  }
  function fill(tableId, emptyId, rows) {
    var table = document.getElementById(tableId);
    var body = table.tBodies[0];
    while (body.firstChild) { body.removeChild(body.firstChild); }
    rows.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = String(cell[0]);
        if (cell[1]) { td.className = cell[1]; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.hidden = rows.length === 0;
    document.getElementById(emptyId).hidden = rows.length !== 0;
  }
  function actions(data) {
    var box = document.getElementById("actions");
    var shown = Array.prototype.map.call(box.querySelectorAll("button"), function (b) { return b.value; });
    if (shown.join() === data.actions.join()) { return; }
    while (box.firstChild) { box.removeChild(box.firstChild); }
    data.actions.forEach(function (action) {
      var form = document.createElement("form");
      form.className = "inline";
      form.method = "post";
      form.action = "/dashboard/campaigns/" + encodeURIComponent(data.id) + "/" + action;
      var csrf = document.createElement("input");
      csrf.type = "hidden";
      csrf.name = "csrf_token";
      csrf.value = section.dataset.csrf;
      var button = document.createElement("button");
      button.type = "submit";
      button.name = "action";
      button.value = action;
      button.textContent = ACTIONS[action] || action;
      form.appendChild(csrf);
      form.appendChild(button);
      box.appendChild(form);
    });
  }
  function show(data) {
    text("state", data.state + (data.crashed ? " (crawler died)" : ""));
    text("run-count", data.run_count);
    text("pages", data.pages_fetched);
    text("media", data.media_fetched);
    text("errors", data.fetch_errors);
    text("queued", data.queued);
    text("last-reason", data.last_reason);
    text("as-of", "as of " + data.as_of.replace("T", " ").slice(0, 19) + " UTC");
    var problems = data.problems;
    document.getElementById("nothing-fetched").hidden = data.pages_fetched > 0 || problems.length === 0;
    text("first-reason", problems.length ? problems[problems.length - 1].reason : "");
    fill("problems", "no-problems", problems.map(function (p) {
      return [[p.at.replace("T", " ").slice(0, 19) + " UTC"], [p.kind], [p.url, "url"], [p.reason, "reason"]];
    }));
    fill("hosts", "no-hosts", data.hosts.map(function (h) {
      return [[h.host, "url"], [h.pages], [h.page_errors], [h.media], [h.media_errors]];
    }));
    actions(data);
  }
  function poll() {
    if (document.hidden) { return; }
    fetch(section.dataset.progress, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { show(data); } })
      .catch(function () { /* the next poll tries again */ });
  }
  window.setInterval(poll, PERIOD_MS);
})();
