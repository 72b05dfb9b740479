/* camaudit report: sorting, filtering and search. Plain ES2017, no libraries, no network.
   Without it the report is complete and readable; this only adds convenience. */
(function () {
  "use strict";
  var d = document;
  d.documentElement.className += " js";

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  /* ---- Sorting: every th[data-sort] in a table.sortable becomes a button. ----
     data-sort="key": compare the cells' data-v as plain strings (fixed-width keys such as IPs);
     "num": numbers from data-v (or the text); "text": natural, case-insensitive text order. */
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var v = cell.getAttribute("data-v");
    return v !== null ? v : cell.textContent.trim();
  }
  var collator = (typeof Intl !== "undefined" && Intl.Collator) ?
    new Intl.Collator(undefined, { numeric: true, sensitivity: "base" }) : null;
  function comparer(kind) {
    if (kind === "num") {
      return function (a, b) { return (parseFloat(a) || 0) - (parseFloat(b) || 0); };
    }
    if (kind === "key") {
      return function (a, b) { return a < b ? -1 : (a > b ? 1 : 0); };
    }
    return function (a, b) {
      var ea = a === "" || a === "\u2014", eb = b === "" || b === "\u2014";
      if (ea !== eb) { return ea ? 1 : -1; }  /* empty cells last */
      return collator ? collator.compare(a, b) : a.localeCompare(b);
    };
  }
  function sortTable(table, th) {
    var headRow = th.parentNode;
    var index = Array.prototype.indexOf.call(headRow.cells, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var cmp = comparer(th.getAttribute("data-sort"));
    /* A table with one tbody per item (the inventory) sorts its tbodies; else its rows. */
    var grouped = table.tBodies.length > 1;
    var parent = grouped ? table : table.tBodies[0];
    var units = Array.prototype.slice.call(grouped ? table.tBodies : parent.rows);
    var keyed = units.map(function (u, i) {
      return { u: u, k: cellValue(grouped ? u.rows[0] : u, index), i: i };
    });
    keyed.sort(function (a, b) {
      var c = cmp(a.k, b.k);
      return (ascending ? c : -c) || a.i - b.i;
    });
    var frag = d.createDocumentFragment();
    keyed.forEach(function (x) { frag.appendChild(x.u); });
    parent.appendChild(frag);
    each(headRow.cells, function (c) { if (c !== th) { c.removeAttribute("aria-sort"); } });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  each(d.querySelectorAll("table.sortable"), function (table) {
    each(table.querySelectorAll("thead th[data-sort]"), function (th) {
      var button = d.createElement("button");
      button.type = "button";
      button.className = "sortbtn";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () { sortTable(table, th); });
    });
  });

  /* ---- Filtering: a .toolbar[data-target] filters the [data-item] elements of its target by
     free text (q), maker (data-maker), site (data-site) and severity (data-sev, space-separated);
     a [data-group] with no visible item is hidden too. ---- */
  each(d.querySelectorAll(".toolbar[data-target]"), function (bar) {
    var target = d.getElementById(bar.getAttribute("data-target"));
    if (!target) { return; }
    var items = Array.prototype.slice.call(target.querySelectorAll("[data-item]"));
    var groups = target.querySelectorAll("[data-group]");
    var q = bar.querySelector("[data-f=q]");
    var maker = bar.querySelector("[data-f=maker]");
    var site = bar.querySelector("[data-f=site]");
    var sev = bar.querySelector("[data-f=sev]");
    var count = bar.querySelector("[data-f=count]");
    var texts = items.map(function (el) { return el.textContent.toLowerCase(); });
    function apply() {
      var words = q ? q.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
      var m = maker ? maker.value : "";
      var st = site ? site.value : "";
      var s = sev ? sev.value : "";
      var shown = 0;
      items.forEach(function (el, i) {
        var ok = (!m || el.getAttribute("data-maker") === m) &&
          (!st || el.getAttribute("data-site") === st) &&
          (!s || (" " + el.getAttribute("data-sev") + " ").indexOf(" " + s + " ") >= 0) &&
          words.every(function (w) { return texts[i].indexOf(w) >= 0; });
        el.classList.toggle("is-hidden", !ok);
        if (ok) { shown += 1; }
      });
      var narrowed = words.length > 0 || m !== "" || st !== "" || s !== "";
      each(groups, function (g) {
        g.classList.toggle("is-hidden", !g.querySelector("[data-item]:not(.is-hidden)"));
        /* A collapsed list with matches opens, so a search never hides its own results. */
        if (narrowed) { each(g.querySelectorAll("details.rule-devices"), function (el) { el.open = true; }); }
      });
      if (count) { count.textContent = "Showing " + shown + " of " + items.length; }
    }
    [q, maker, site, sev].forEach(function (el) {
      if (el) { el.addEventListener("input", apply); el.addEventListener("change", apply); }
    });
    bar.hidden = false;
    apply();
  });

  /* ---- Expand / collapse every evidence chain of a table. ---- */
  each(d.querySelectorAll("[data-expand]"), function (button) {
    button.addEventListener("click", function () {
      var target = d.getElementById(button.getAttribute("data-expand"));
      if (!target) { return; }
      var open = button.getAttribute("aria-pressed") !== "true";
      each(target.querySelectorAll("details"), function (el) { el.open = open; });
      button.setAttribute("aria-pressed", open ? "true" : "false");
      button.textContent = open ? "Collapse all" : "Expand all";
    });
  });

  /* ---- Print: show the evidence of devices with findings, then restore. ---- */
  var opened = [];
  window.addEventListener("beforeprint", function () {
    each(d.querySelectorAll("details[data-print-open]:not([open])"), function (el) {
      el.open = true;
      opened.push(el);
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (el) { el.open = false; });
    opened = [];
  });
}());
