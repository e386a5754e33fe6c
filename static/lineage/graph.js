/* govhub lineage graph: a small SVG renderer, no dependencies (air-gapped sites have no CDN).
 * Every [data-lineage-graph] block fetches /api/v1/lineage/graph for its root and draws the
 * neighbourhood in columns by depth (upstream to the left, downstream to the right). Assets are
 * coloured by storage jurisdiction; unknown residency is drawn dashed. Click (or Enter) opens a node.
 * Every [data-lineage-constraints] block renders /api/v1/lineage/constraints/<id>. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var W = 190, H = 40, COL = 250, ROW = 56, PAD = 24;

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function colour(code) {
    if (!code) return "#e5e7eb";
    var h = 0;
    for (var i = 0; i < code.length; i++) h = (h * 31 + code.charCodeAt(i)) % 360;
    return "hsl(" + h + ", 62%, 84%)";
  }

  function truncate(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

  function layout(data) {
    var columns = {}, pos = {};
    function place(node, col) { (columns[col] = columns[col] || []).push(node); }
    place(Object.assign({}, data.root, { root: true }), 0);
    data.nodes.forEach(function (n) { place(n, n.direction === "upstream" ? -n.depth : n.depth); });
    var keys = Object.keys(columns).map(Number).sort(function (a, b) { return a - b; });
    var tallest = 0;
    keys.forEach(function (k) {
      columns[k].sort(function (a, b) { return (a.type + a.name).localeCompare(b.type + b.name); });
      tallest = Math.max(tallest, columns[k].length);
    });
    keys.forEach(function (k, ci) {
      var col = columns[k], offset = (tallest - col.length) * ROW / 2;
      col.forEach(function (node, ri) {
        if (!pos[node.id]) pos[node.id] = { x: PAD + ci * COL, y: PAD + offset + ri * ROW, node: node };
      });
    });
    return { pos: pos, width: PAD * 2 + (keys.length - 1) * COL + W, height: PAD * 2 + (tallest - 1) * ROW + H };
  }

  function describe(n) {
    if (n.type === "job") return "job " + n.name;
    if (n.type === "run") return "run " + n.name + " (" + (n.state || "") + ")";
    if (n.type === "column") return "column " + n.name + " of " + (n.asset_name || "");
    var r = n.residency || {};
    return (n.kind || "asset").replace("_", "-") + " " + n.name + ", " + (r.known ? "stored in " + r.storage : "residency unknown");
  }

  function draw(canvas, data, status, keyList) {
    canvas.textContent = "";
    var g = layout(data), codes = {};
    var svg = el("svg", { width: g.width, height: g.height, viewBox: "0 0 " + g.width + " " + g.height, role: "group",
                          "aria-label": "Lineage of " + data.root.name + ": " + data.nodes.length + " connected nodes" }, canvas);
    var defs = el("defs", {}, svg);
    var marker = el("marker", { id: canvas.id + "-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7b8594" }, marker);
    var edges = el("g", { class: "lg-edges" }, svg);
    data.edges.forEach(function (e) {
      var a = g.pos[e.source], b = g.pos[e.target];
      if (!a || !b) return;
      var x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
      if (x2 <= x1) { x1 = a.x + W / 2; y1 = a.y + H; x2 = b.x + W / 2; y2 = b.y; }
      var dx = Math.max(40, Math.abs(x2 - x1) / 2);
      el("path", { d: "M" + x1 + "," + y1 + " C" + (x1 + dx) + "," + y1 + " " + (x2 - dx) + "," + y2 + " " + x2 + "," + y2,
                   class: "lg-edge lg-edge-" + e.kind, "marker-end": "url(#" + canvas.id + "-arrow)" }, edges);
    });
    Object.keys(g.pos).forEach(function (id) {
      var p = g.pos[id], n = p.node, r = n.residency || {};
      var link = el("a", { href: n.url || "#", class: "lg-node lg-" + n.type + " lg-" + (n.kind || n.type) + (n.root ? " lg-root" : "") +
                           (n.type === "asset" && !r.known ? " lg-unknown" : ""), "aria-label": describe(n) + (n.root ? " (this page)" : "") }, svg);
      if (n.type === "asset") codes[r.storage || "unknown"] = true;
      var fill = n.type === "asset" ? colour(r.known ? r.storage : null) : (n.type === "column" ? "#eef2ff" : "#f1f3f5");
      el("rect", { x: p.x, y: p.y, width: W, height: H, rx: n.type === "job" ? 4 : (n.kind === "dataset" ? 8 : 18), fill: fill }, link);
      var title = el("text", { x: p.x + 10, y: p.y + 16, class: "lg-name" }, link);
      title.textContent = truncate(n.name || n.id, 26);
      var sub = el("text", { x: p.x + 10, y: p.y + 31, class: "lg-sub" }, link);
      sub.textContent = n.type === "asset" ? ((n.kind || "").replace("_", "-") + " · " + (r.known ? r.storage + " → " + (r.processing || []).join(",") : "residency unknown"))
        : n.type === "job" ? ("job · " + truncate(n.namespace || "", 20)) : n.type === "run" ? ("run · " + (n.state || "")) : ("column · " + truncate(n.asset_name || "", 18));
      var tip = el("title", {}, link);
      tip.textContent = describe(n) + (n.namespace ? "\n" + n.namespace : "");
    });
    if (keyList) {
      keyList.textContent = "";
      Object.keys(codes).sort().forEach(function (code) {
        var li = html("li", code === "unknown" ? "residency unknown" : code);
        var sw = html("span", "", "lg-swatch");
        sw.style.background = colour(code === "unknown" ? null : code);
        li.insertBefore(sw, li.firstChild);
        keyList.appendChild(li);
      });
    }
    status.textContent = data.count + " connected node(s) within depth " + data.depth + (data.truncated ? "; more lie beyond this depth" : "") +
      (data.next_offset !== null ? "; showing the first " + (data.offset + data.limit) : "") + ".";
  }

  function initGraph(block) {
    var canvas = block.querySelector(".lineage-canvas"), status = block.querySelector(".lineage-status");
    var form = block.querySelector(".lineage-controls"), keyList = block.querySelector(".lineage-residency-key");
    var state = null;
    function load(offset) {
      var params = new URLSearchParams({ node: block.dataset.root, direction: form.direction.value, depth: form.depth.value,
                                         limit: "200", offset: String(offset || 0) });
      status.textContent = "Loading…";
      fetch(block.dataset.url + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!res.ok) { status.textContent = (res.body.error && res.body.error.detail) || "Could not load the lineage graph."; return; }
          var data = res.body;
          if (offset && state) { data.nodes = state.nodes.concat(data.nodes); data.edges = state.edges.concat(data.edges); }
          state = data;
          draw(canvas, data, status, keyList);
          if (data.next_offset !== null) {
            var more = html("button", "Show more nodes", "btn btn-small lineage-more");
            more.type = "button";
            more.addEventListener("click", function () { load(data.next_offset); });
            status.appendChild(document.createTextNode(" "));
            status.appendChild(more);
          }
        })
        .catch(function () { status.textContent = "Could not load the lineage graph."; });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(0); });
    form.direction.addEventListener("change", function () { load(0); });
    form.depth.addEventListener("change", function () { load(0); });
    load(0);
  }

  function sourceItem(s) {
    var li = html("li");
    if (s.url) { var a = html("a", s.name); a.href = s.url; li.appendChild(a); } else { li.appendChild(html("span", s.name, "muted")); }
    var bits = [];
    if (s.allowed) bits.push(s.allowed.length ? s.allowed.join(", ") : "nothing");
    if (s.reason) bits.push(s.reason);
    if (s.detail) bits.push(s.detail);
    if (s.depth) bits.push(s.depth === 1 ? "directly upstream" : s.depth + " hops upstream");
    else if (s.depth === 0) bits.push("this asset");
    if (bits.length) li.appendChild(html("span", " — " + bits.join("; ")));
    if (s.binding) li.appendChild(html("span", " binding", "badge badge-warn"));
    return li;
  }

  function section(body, title, value, sources) {
    var wrap = html("div", null, "lg-constraint");
    wrap.appendChild(html("h3", title));
    wrap.appendChild(html("p", value, "lg-constraint-value"));
    if (sources && sources.length) {
      var ul = html("ul", null, "lg-sources");
      sources.forEach(function (s) { ul.appendChild(sourceItem(s)); });
      wrap.appendChild(ul);
    }
    body.appendChild(wrap);
  }

  function initConstraints(block) {
    var body = block.querySelector(".lineage-constraints-body");
    fetch(block.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (c) {
        body.textContent = "";
        var exp = c.explanation || {};
        var jur = exp.jurisdictions || {}, pur = exp.purposes || {};
        section(body, "May be processed in",
                jur.unknown && jur.unknown.length ? "Nowhere: residency is unknown upstream (unknown is never allowed)."
                  : (c.jurisdictions_display.length ? c.jurisdictions_display.join(", ") : "Nowhere (the upstream jurisdictions do not overlap)."),
                (jur.unknown || []).map(function (s) { return Object.assign({ reason: "residency unknown" }, s); }).concat(jur.sources || []));
        section(body, "May be used for", c.purposes_unrestricted ? "Any purpose (no upstream consent restricts it)."
                  : (c.purposes.length ? c.purposes.join(", ") : "No purpose."), pur.sources || []);
        section(body, "Classification", c.classification, exp.classification ? [exp.classification.source] : []);
        if ((exp.flags || []).length) section(body, "Flags inherited from upstream", exp.flags.length + " flag(s)", exp.flags);
        body.appendChild(html("p", "Computed " + new Date(c.computed_at).toISOString().replace("T", " ").slice(0, 19) + " UTC over " +
                                   c.upstream_count + " upstream asset(s).", "muted small"));
      })
      .catch(function () { body.textContent = "Could not load the inherited constraints."; });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-lineage-graph]"), function (b) {
      if (!b.dataset.ready) { b.dataset.ready = "1"; initGraph(b); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-lineage-constraints]"), function (b) {
      if (!b.dataset.ready) { b.dataset.ready = "1"; initConstraints(b); }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
  document.addEventListener("htmx:afterSettle", init);
})();
