/* What every console page shares: calling the console API (with the API key, when one is
 * needed), the status line, and building tables safely (text only, never HTML from data). */
(function () {
  "use strict";
  var KEY = "interactions-console-key";
  var api = document.body.dataset.api || "api";
  var status = document.getElementById("status");
  var keyForm = document.getElementById("key-form");
  var waiting = [];

  function say(message, isError) {
    status.textContent = message || "";
    status.classList.toggle("error", Boolean(isError));
  }

  function askForKey(message) {
    keyForm.hidden = false;
    document.getElementById("key-message").textContent = message;
    document.getElementById("api-key").focus();
  }

  keyForm.addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("api-key").value);
    keyForm.hidden = true;
    say("");
    var retry = waiting.splice(0);
    retry.forEach(function (fn) { fn(); });
  });

  /* GET api/<path>?<params>; resolves to the JSON, or rejects after saying why. */
  function get(path, params) {
    var query = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) {
      if (params[k] !== "" && params[k] !== null && params[k] !== undefined) query.set(k, params[k]);
    });
    var headers = {};
    var key = sessionStorage.getItem(KEY);
    if (key) headers["X-API-Key"] = key;
    var url = api + "/" + path + (query.toString() ? "?" + query : "");
    return fetch(url, { headers: headers }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok) return body;
        var detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
        if (response.status === 401 || response.status === 403) {
          askForKey(detail);
          return new Promise(function (resolve, reject) {
            waiting.push(function () { get(path, params).then(resolve, reject); });
          });
        }
        say(detail, true);
        throw new Error(detail);
      });
    });
  }

  function cell(row, value, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (value instanceof Node) td.appendChild(value);
    else td.textContent = value === null || value === undefined ? "–" : String(value);
    row.appendChild(td);
    return td;
  }

  function num(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return value.toLocaleString("en");
    return value.toPrecision(digits || 4);
  }

  /* Fill a table from rows. columns: [{key, label, format(value, row) -> text|Node, num}];
   * without columns, every key of the first row. */
  function fill(table, rows, columns, emptyText) {
    rows = rows || [];
    columns = columns || Object.keys(rows[0] || {}).map(function (k) { return { key: k, label: k, num: typeof rows[0][k] === "number" }; });
    var head = table.tHead;
    if (head && !head.rows.length && columns.length) {
      var hr = head.insertRow();
      columns.forEach(function (c) { var th = document.createElement("th"); th.scope = "col"; th.textContent = c.label || c.key; hr.appendChild(th); });
    }
    var body = table.tBodies[0];
    body.replaceChildren();
    if (!rows.length) {
      var tr = body.insertRow();
      var td = cell(tr, emptyText || "none", "empty");
      td.colSpan = Math.max(1, (head && head.rows[0] ? head.rows[0].cells.length : columns.length));
      return;
    }
    rows.forEach(function (row) {
      var tr = body.insertRow();
      if (row.regressed) tr.className = "regressed";
      columns.forEach(function (c) {
        var value = c.format ? c.format(row[c.key], row) : (c.num || typeof row[c.key] === "number" ? num(row[c.key]) : row[c.key]);
        cell(tr, value, c.num || typeof row[c.key] === "number" ? "num" : "");
      });
    });
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function formValues(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name) return;
      values[input.name] = input.type === "checkbox" ? input.checked : input.value.trim();
    });
    return values;
  }

  function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$|Z$/, "") : "–"; }

  window.ConsoleApp = { get: get, say: say, fill: fill, num: num, el: el, formValues: formValues, when: when };
})();
