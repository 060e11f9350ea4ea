// yolo-diagnostics scan report: sortable tables and the filterable table of images.
// Plain DOM (textContent, never innerHTML), no network, works from file://.
"use strict";
(function () {
  function valueOf(cell) {
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    const n = Number(raw);
    return raw !== "" && !Number.isNaN(n) ? n : raw.toLowerCase();
  }

  function compare(a, b) {
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === "number" ? -1 : 1; // numbers before text
  }

  function markSorted(headers, active, descending) {
    for (const th of headers) th.classList.remove("sorted-asc", "sorted-desc");
    active.classList.add(descending ? "sorted-desc" : "sorted-asc");
  }

  // Small tables rendered by the page: click a header to sort its rows (largest first).
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((th, column) => {
      th.classList.add("sortable");
      th.addEventListener("click", () => {
        const descending = !th.classList.contains("sorted-desc");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort((r, s) => {
          const c = compare(valueOf(r.cells[column]), valueOf(s.cells[column]));
          return descending ? -c : c;
        });
        body.replaceChildren(...rows);
        markSorted(headers, th, descending);
      });
    });
  }

  // The table of images: rows come from a JSON blob, so 100,000 images stay fast.
  const blob = document.getElementById("images-data");
  if (!blob) return;
  const data = JSON.parse(blob.textContent);
  const keys = data.columns;
  const col = Object.fromEntries(keys.map((k, i) => [k, i]));
  const table = document.getElementById("images");
  const body = table.tBodies[0];
  const headers = Array.from(table.tHead.rows[0].cells);
  const filter = document.getElementById("image-filter");
  const onlyUnmatched = document.getElementById("only-unmatched");
  const onlyPages = document.getElementById("only-pages");
  const status = document.getElementById("images-status");
  const prev = document.getElementById("images-prev");
  const next = document.getElementById("images-next");
  const pageSize = 100;
  // the column that marks a row (red) and that the checkbox filters on: the anchor scan's
  // "unmatched", or what the table names (the TAL scan's targets without a candidate)
  const bad = table.dataset.bad || "unmatched";
  const only = onlyUnmatched.dataset.key || bad;
  const counts = headers.map((th) => th.dataset.key).filter((k) => k && !["index", "file", "id"].includes(k));
  let sortKey = table.dataset.sort || bad, descending = true, page = 0;

  function visible() {
    const text = filter.value.trim().toLowerCase();
    const rows = data.rows.filter((r) =>
      (!text || String(r[col.file]).toLowerCase().includes(text) || String(r[col.id]).toLowerCase().includes(text)) &&
      (!onlyUnmatched.checked || r[col[only]] > 0) &&
      (!onlyPages.checked || r[col.page])
    );
    const k = col[sortKey];
    rows.sort((r, s) => {
      const c = compare(r[k], s[k]);
      return (descending ? -c : c) || r[col.index] - s[col.index];
    });
    return rows;
  }

  function cell(value, cls) {
    const td = document.createElement("td");
    td.textContent = String(value);
    if (cls) td.className = cls;
    return td;
  }

  function render() {
    const rows = visible();
    const pages = Math.max(1, Math.ceil(rows.length / pageSize));
    page = Math.min(page, pages - 1);
    const shown = rows.slice(page * pageSize, (page + 1) * pageSize);
    body.replaceChildren(...shown.map((r) => {
      const tr = document.createElement("tr");
      if (r[col[bad]] > 0) tr.className = "unmatched";
      tr.appendChild(cell(r[col.index]));
      const name = document.createElement("td");
      name.className = "text";
      if (r[col.page]) {
        const a = document.createElement("a");
        a.href = "images/" + Number(r[col.index]) + ".html";
        a.textContent = String(r[col.file]);
        name.appendChild(a);
      } else {
        name.textContent = String(r[col.file]);
      }
      tr.appendChild(name);
      tr.appendChild(cell(r[col.id], "text"));
      for (const k of counts) {
        const v = r[col[k]];
        tr.appendChild(cell(v, v === 0 ? "zero" : k === bad ? "bad" : ""));
      }
      return tr;
    }));
    const first = rows.length ? page * pageSize + 1 : 0;
    status.textContent = `${first.toLocaleString()}–${(page * pageSize + shown.length).toLocaleString()} of ` +
      `${rows.length.toLocaleString()} images` +
      (rows.length < data.rows.length ? ` (filtered from ${data.rows.length.toLocaleString()})` : "");
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  headers.forEach((th) => {
    const key = th.dataset.key;
    if (!key) return;
    th.classList.add("sortable");
    th.addEventListener("click", () => {
      descending = sortKey === key ? !descending : !["index", "file", "id"].includes(key);
      sortKey = key;
      page = 0;
      markSorted(headers, th, descending);
      render();
    });
  });
  for (const input of [filter, onlyUnmatched, onlyPages]) {
    input.addEventListener("input", () => { page = 0; render(); });
  }
  prev.addEventListener("click", () => { page -= 1; render(); });
  next.addEventListener("click", () => { page += 1; render(); });
  markSorted(headers, headers.find((th) => th.dataset.key === sortKey), descending);
  render();
})();
