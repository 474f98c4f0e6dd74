// The semsearch page: plain JavaScript, no build step, nothing fetched from elsewhere.
// Data from the index never becomes HTML: every name, path and snippet goes in
// through textContent, and highlights are built as <mark> elements from spans.
"use strict";

const $ = (id) => document.getElementById(id);
// The server's own lists (GET /api/meta): modes, sorts, spaces, formats, filter names.
let meta = { modes: [], sorts: [], spaces: [], formats: {}, filters: [] };
const fields = () => ["q", "mode", "space", "sort", ...meta.filters].filter((f) => $(f));
const OLD_NAMES = { type: "space", kind: "format", under: "folder" }; // bookmarks made before
const LABELS = { dense: "meaning", lexical: "words", text: "documents", image: "images",
  relevance: "best first", date: "newest first" };
let current = null; // {kind: "text"|"image"|"similar", next, ...}
let canOpenFolder = false; // the server sits on this desktop and has a file manager to call

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function notice(text) { $("notice").textContent = text || ""; }
function baseName(path) { return path.split(/[\\/]/).pop(); }

async function getJSON(url, options) {
  const res = await fetch(url, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

// the query lives in the URL, so a search can be bookmarked

function readURL() {
  const params = new URLSearchParams(location.search);
  for (const [old, now] of Object.entries(OLD_NAMES)) {
    if (params.has(old) && !params.has(now)) params.set(now, params.get(old));
  }
  for (const f of fields()) if (params.has(f)) $(f).value = params.get(f);
  return params;
}

function writeURL(extra = {}) {
  const params = new URLSearchParams();
  for (const f of fields()) if ($(f).value) params.set(f, $(f).value);
  for (const [k, v] of Object.entries(extra)) if (v) params.set(k, v);
  history.replaceState(null, "", params.toString() ? `?${params}` : location.pathname);
}

// "PDF, .jpeg md" → pdf, jpg, md: the server takes the names it lists, nothing looser
function formatNames(text) {
  const byExtension = {};
  for (const [name, exts] of Object.entries(meta.formats)) for (const e of exts) byExtension[e] = name;
  return text.toLowerCase().split(/[\s,;]+/).map((w) => w.replace(/^\.+/, ""))
    .filter(Boolean).map((w) => (w in meta.formats ? w : byExtension[w] || w));
}

function searchParams() {
  const params = new URLSearchParams({ q: $("q").value.trim(), mode: $("mode").value, k: "10" });
  if ($("space").value) params.set("space", $("space").value);
  if ($("sort").value && $("sort").value !== meta.sorts[0]) params.set("sort", $("sort").value);
  for (const f of meta.filters) {
    if (!$(f)) continue;
    const values = f === "format" ? formatNames($(f).value) : $(f).value.split(/\s*;\s*/);
    for (const v of values) if (v.trim()) params.append(f, v.trim());
  }
  return params;
}

function fillChoices() {
  const fill = (id, values) => $(id).append(...values.map((v) => el("option", { value: v, text: LABELS[v] || v })));
  fill("mode", meta.modes);
  fill("space", meta.spaces);
  fill("sort", meta.sorts);
}

// results

function snippetNode(text, spans) {
  const chars = Array.from(text); // spans count code points, as Python does
  const node = el("p", { class: "snippet" });
  let at = 0;
  for (const [start, end] of spans || []) {
    if (start < at || end <= start) continue;
    node.append(chars.slice(at, start).join(""));
    node.append(el("mark", { text: chars.slice(start, end).join("") }));
    at = end;
  }
  node.append(chars.slice(at).join(""));
  return node;
}

function hitNode(hit, rank) {
  const name = baseName(hit.path);
  const ext = (name.includes(".") ? name.split(".").pop() : hit.kind).slice(0, 5);
  const picture = hit.thumb_url
    ? el("img", { class: "thumb", src: `${hit.thumb_url}?size=128`, alt: "", loading: "lazy" })
    : el("div", { class: "badge", text: ext });
  const place = hit.place || (hit.page ? `page ${hit.page}` : "");
  // no score beside the rank: a hit's score is its own list's (text or image), and the
  // lists are merged by rank, so the numbers would jump; it stays in the tooltip
  const meta = el("div", { class: "meta",
    title: `score ${Number(hit.score).toFixed(3)} in the ${hit.space} ranking` },
    `${rank}. ${hit.kind}${place ? ` · ${place}` : ""} · `,
    hit.good_match === false ? el("span", { class: "weak", text: "weak match" })
      : el("span", { class: "good", text: "good match" }));
  if (hit.ocr) {
    meta.append(" ", el("span", { class: "ocr", text: "OCR",
      title: "these words were read from a picture by OCR: they may hold errors" }));
  }
  if (hit.within) {  // a mail's attachment: "open" and "copy path" are the mail's
    meta.append(" · ", el("span", { class: "within", text: `attached to ${baseName(hit.within)}`,
      title: hit.within }));
  }
  const copy = el("button", { class: "copy", text: "copy path", type: "button",
    onclick: () => { report("copy", hit.id, rank); copyPath(hit.within || hit.path); } });
  const path = el("div", { class: "path" }, el("span", { text: hit.path }), " ", copy);
  if (canOpenFolder) {
    path.append(" ", el("button", { class: "open-folder", text: "open folder", type: "button",
      onclick: () => { report("folder", hit.id, rank); openFolder(hit.id); } }));
  }
  const body = el("div", { class: "body" },
    el("div", { class: "title", text: name, onclick: () => openItem(hit.id) }),
    meta,
    path);
  if (hit.snippet) body.append(snippetNode(hit.snippet, hit.highlights));
  if (hit.tags && hit.tags.length) {
    body.append(el("div", { class: "tags", text: hit.tags.map((t) => `${t.ko} ${t.en}`).join(" · ") }));
  }
  body.append(el("div", { class: "actions" },
    el("button", { class: "more-like-this", type: "button", text: "more like this",
      onclick: () => { report("similar", hit.id, rank); similar(hit.id, name); } }),
    el("a", { href: hit.file_url, target: "_blank", rel: "noopener noreferrer", text: "open",
      class: "open", onclick: () => report("open", hit.id, rank) })));
  return el("li", { class: `hit${hit.good_match === false ? " weak" : ""}`, "data-id": String(hit.id) },
    picture, body);
}

// a page of pictures only (an image-space search, most searches by picture) is a grid of
// larger thumbnails; the name, tags and score are the card's tooltip. Documents stay a list.
function cardNode(hit, rank) {
  const name = baseName(hit.path);
  const tags = (hit.tags || []).map((t) => `${t.ko} ${t.en}`).join(" · ");
  const tip = [`${rank}. ${name}`, hit.domain || "", tags,
    `score ${Number(hit.score).toFixed(3)} in the ${hit.space} ranking`].filter(Boolean).join("\n");
  const picture = hit.thumb_url
    ? el("img", { class: "big-thumb", src: `${hit.thumb_url}?size=256`, alt: name, loading: "lazy" })
    : el("div", { class: "badge big-thumb", text: hit.kind });
  const mark = hit.good_match === false ? el("span", { class: "weak", text: "weak match" })
    : el("span", { class: "good", text: "good match" });
  return el("li", { class: `card${hit.good_match === false ? " weak" : ""}`, "data-id": String(hit.id),
    tabindex: "0", title: tip, onclick: () => openItem(hit.id),
    onkeydown: (e) => { if (e.key === "Enter") openItem(hit.id); } },
  picture, el("div", { class: "card-name", text: name }), el("div", { class: "meta" }, `${rank} · `, mark));
}

// arrow keys move between the grid's cards: left/right along, up/down by a row
function gridKeys(e) {
  const cards = [...$("hits").querySelectorAll(".card")];
  const at = cards.indexOf(document.activeElement);
  if (!$("hits").classList.contains("grid") || at < 0) return;
  const top = cards[0].offsetTop;
  const perRow = Math.max(1, cards.filter((c) => c.offsetTop === top).length);
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow }[e.key];
  if (!step) return;
  e.preventDefault();
  cards[Math.min(cards.length - 1, Math.max(0, at + step))].focus();
}

function show(body, append) {
  if (current.reveal) showView("results");
  if (!append) {
    $("hits").replaceChildren();
    $("hits").classList.toggle("grid", body.hits.length > 0 && body.hits.every((h) => h.kind === "image"));
  }
  const start = $("hits").children.length;
  const node = $("hits").classList.contains("grid") ? cardNode : hitNode;
  body.hits.forEach((hit, i) => $("hits").append(node(hit, start + i + 1)));
  const notes = [...(body.notes || [])];
  if (!append && body.hits.length && !body.good_matches) notes.unshift("no good match");
  if (!append && !body.hits.length) notes.unshift("nothing found");
  notice(`${notes.join(" · ")}${notes.length ? " · " : ""}${body.took_ms} ms`);
  current.next = body.next;
  $("more").hidden = !body.next;
  lightUp(body.hits.map((h) => h.id), append);
}

async function run(append = false) {
  try {
    let body;
    if (current.kind === "text") {
      const params = new URLSearchParams(current.params);
      if (append && current.next) params.set("next", current.next);
      body = await getJSON(`/api/search?${params}`);
    } else if (current.kind === "image") {
      const form = new FormData();
      form.append("image", current.file, current.file.name || "pasted.png");
      form.append("k", "10");
      for (const [key, value] of searchParams()) {
        if (meta.filters.includes(key)) form.append(key, value);
      }
      if (append && current.next) form.append("next", current.next);
      body = await getJSON("/api/search/image", { method: "POST", body: form });
    } else {
      const params = new URLSearchParams({ k: "10" });
      if (append && current.next) params.set("next", current.next);
      body = await getJSON(`/api/items/${current.id}/similar?${params}`);
    }
    show(body, append);
  } catch (err) {
    notice(`error: ${err.message}`);
  }
}

function textSearch(reveal = true) {
  if (!$("q").value.trim()) return;
  $("for-you").hidden = true;
  current = { kind: "text", params: searchParams().toString(), reveal };
  writeURL();
  run();
  showRelated($("q").value.trim());
}

// the collection's own words near the query (its Word2Vec), under the search box
let relatedTicket = 0;  // only the latest request may fill the box (two searches can overlap)
async function showRelated(query) {
  const box = $("related");
  const ticket = ++relatedTicket;
  box.replaceChildren();
  box.hidden = true;
  try {
    const body = await getJSON(`/api/related?${new URLSearchParams({ word: query, k: "8" })}`);
    if (ticket !== relatedTicket || !body.neighbours.length || $("q").value.trim() !== query) return;
    box.replaceChildren(el("span", { text: "related words: " }));
    for (const n of body.neighbours) {
      box.append(el("button", { type: "button", class: "word", text: n.word,
        title: `cosine ${n.score.toFixed(2)}, used ${n.count}×`,
        onclick: () => { $("q").value = n.word; textSearch(); } }), " ");
    }
    box.hidden = false;
  } catch { /* no word vectors, or a word the collection does not use: nothing to show */ }
}

function imageSearch(file) {
  relatedTicket++;  // a word search's related words, still on their way, are not shown
  $("related").hidden = true;
  if (!file || !file.type.startsWith("image/")) { notice("that is not an image"); return; }
  current = { kind: "image", file, reveal: true };
  notice(`searching for pictures like ${file.name || "the pasted image"}…`);
  run();
}

function similar(id, name, reveal = true) {
  current = { kind: "similar", id, reveal };
  $("q").value = "";
  writeURL({ similar: String(id) });
  closeItem();
  notice(`more like ${name || id}…`);
  run();
}

// what the person does with a hit, for the recommendations (POST /api/events): kept in
// this index's catalog, never sent anywhere else; the server may have them turned off
function report(action, id, rank) {
  const query = current && current.kind === "text" ? $("q").value.trim() : null;
  const event = { item: id, action };
  if (query) event.query = query;
  if (rank) event.rank = rank;
  fetch("/api/events", { method: "POST", keepalive: true,
    headers: { "content-type": "application/json" }, body: JSON.stringify(event) })
    .catch(() => { /* a lost event costs a recommendation, never the page */ });
}

async function copyPath(path) {
  try { await navigator.clipboard.writeText(path); notice(`copied ${path}`); }
  catch { notice(path); }
}

async function openFolder(id) {
  try {
    const body = await getJSON(`/api/items/${id}/open-folder`, { method: "POST" });
    notice(`opened ${body.opened}`);
  } catch (err) {
    notice(`error: ${err.message}`);
  }
}

// one item

async function openItem(id) {
  try {
    const item = await getJSON(`/api/items/${id}`);
    $("item-name").textContent = item.name;
    $("item-path").textContent = item.path;
    $("item-copy").onclick = () => { report("copy", item.id); copyPath(item.path); };
    $("item-folder").hidden = !canOpenFolder;
    $("item-folder").onclick = () => { report("folder", item.id); openFolder(item.id); };
    $("item-thumb").hidden = !item.thumb_url;
    if (item.thumb_url) $("item-thumb").src = `${item.thumb_url}?size=512`;
    $("item-preview").textContent = item.preview || "";
    $("item-preview").hidden = !item.preview;
    $("item-open").href = item.file_url;
    $("item-open").onclick = () => report("open", item.id);
    $("item-similar").onclick = () => { report("similar", item.id); similar(item.id, item.name); };
    showOpenedWith(item.id);
    $("item").dataset.id = String(item.id);
    $("item").hidden = false;
  } catch (err) {
    notice(`error: ${err.message}`);
  }
}

function closeItem() { $("item").hidden = true; }

// learned from use: recommendations while the search box is empty, and the items most
// often opened with the one shown

function suggestionNode(s, rank) {
  const node = el("li", { class: "suggestion", "data-id": String(s.id) },
    el("span", { class: "title", text: baseName(s.path), onclick: () => openItem(s.id) }),
    " ",
    el("a", { href: `/api/files/${s.id}`, target: "_blank", rel: "noopener noreferrer",
      text: "open", class: "open", onclick: () => report("open", s.id, rank) }));
  node.title = s.path;
  return node;
}

const SOURCES = { history: "from what you opened", popular: "what people open most" };

async function showRecommendations() {
  const box = $("for-you");
  try {
    const body = await getJSON("/api/recommend?k=10");
    if ($("q").value.trim() || !body.items.length) { box.hidden = true; return; }
    $("for-you-basis").textContent = SOURCES[body.basis] || "";
    $("for-you-list").replaceChildren(...body.items.map((s, i) => suggestionNode(s, i + 1)));
    box.hidden = false;
  } catch { box.hidden = true; }
}

async function showOpenedWith(id) {
  const box = $("item-with");
  box.hidden = true;
  try {
    const body = await getJSON(`/api/items/${id}/opened-with?k=5`);
    if (!body.items.length || $("item").dataset.id !== String(id)) return;
    $("item-with-list").replaceChildren(...body.items.map((s, i) => suggestionNode(s, i + 1)));
    box.hidden = false;
  } catch { /* nothing learned about it: nothing shown */ }
}

// views

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== name;
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  if (name === "map") loadMap();
  if (name === "outliers") loadOutliers();
}

// the map: one point per item, drawn on a canvas

const COLOURS = { text: "#2455c3", image: "#d9572b" };
const PALETTE = ["#2455c3", "#d9572b", "#1f8a4c", "#8e44ad", "#c0392b", "#16a085", "#b7950b",
  "#2c3e50", "#d35400", "#7f8c8d"];
const map = { data: null, lit: new Set(), odd: new Set(), timer: null };

async function loadMap() {
  try {
    map.data = await getJSON("/api/map");
    fitMap();
    const d = map.data;
    $("map-info").textContent = `${d.count} items · ${d.method === "tsne" ? "t-SNE" : "PCA"}` +
      (d.pending ? " (t-SNE on its way…)" : "") +
      ($("map-colour").value === "kind" ? " · blue: documents, orange: images" : "");
    drawMap();
    clearTimeout(map.timer);
    if (d.pending) map.timer = setTimeout(loadMap, 3000);
  } catch (err) {
    $("map-info").textContent = `error: ${err.message}`;
  }
}

function fitMap() {
  // once per layout: the scale that fits every square (100k points: no per-point max)
  const canvas = $("map-canvas");
  const maxX = map.data.x.reduce((a, b) => (b > a ? b : a), 1);
  map.pad = 14;
  map.scale = Math.min((canvas.width - 2 * map.pad) / maxX, canvas.height - 2 * map.pad);
}

function screenPoint(i) {
  const d = map.data;
  return [map.pad + d.x[i] * map.scale, map.pad + (1 - d.y[i]) * map.scale];
}

function drawMap() {
  const canvas = $("map-canvas");
  const ctx = canvas.getContext("2d");
  const d = map.data;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.points = String(d.count);
  const radius = d.count > 20000 ? 1.5 : d.count > 2000 ? 2.5 : 4;
  for (let i = 0; i < d.count; i++) {
    const [x, y] = screenPoint(i);
    ctx.fillStyle = colourOf(i);
    ctx.globalAlpha = map.lit.size && !map.lit.has(d.ids[i]) ? 0.25 : 0.85;
    ctx.fillRect(x - radius, y - radius, radius * 2, radius * 2);
    if (map.lit.has(d.ids[i]) || map.odd.has(d.ids[i])) {
      ctx.globalAlpha = 1;
      ctx.strokeStyle = map.odd.has(d.ids[i]) ? "#c0392b" : "#111";
      ctx.beginPath(); ctx.arc(x, y, radius + 4, 0, 2 * Math.PI); ctx.stroke();
    }
  }
  ctx.globalAlpha = 1;
}

function colourOf(i) {
  if ($("map-colour").value === "kind") return COLOURS[map.data.kinds[i]] || "#666";
  const path = map.data.paths[i];
  const folder = path.slice(0, path.search(/[\\/][^\\/]*$/));
  let hash = 0;
  for (const ch of folder) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

function nearestPoint(event) {
  if (!map.data) return -1;
  const canvas = $("map-canvas");
  const box = canvas.getBoundingClientRect();
  const mx = (event.clientX - box.left) * (canvas.width / box.width);
  const my = (event.clientY - box.top) * (canvas.height / box.height);
  let best = -1, bestDist = 100; // within 10 px
  for (let i = 0; i < map.data.count; i++) {
    const [x, y] = screenPoint(i);
    const dist = (x - mx) ** 2 + (y - my) ** 2;
    if (dist < bestDist) { best = i; bestDist = dist; }
  }
  return best;
}

function lightUp(ids, append) {
  if (!append) map.lit.clear();
  for (const id of ids) map.lit.add(id);
}

// outliers

async function loadOutliers() {
  try {
    const method = $("outlier-method").value;
    const body = await getJSON(`/api/outliers?${new URLSearchParams({ method })}`);
    const measure = method === "autoencoder" ? "error" : "distance";
    const lists = [];
    map.odd.clear();
    for (const [space, items] of Object.entries(body.spaces)) {
      const list = el("ol", { class: "outliers", "data-space": space });
      items.forEach((o, rank) => {
        if (rank < 5) map.odd.add(o.id);
        list.append(el("li", { "data-id": String(o.id), onclick: () => openItem(o.id) },
          el("span", { class: "name", text: baseName(o.path) }),
          el("span", { class: "meta", text: `  ${measure} ${o.score.toFixed(3)} · z ${o.z.toFixed(1)}` })));
      });
      lists.push(el("h3", { text: `Most unusual ${space === "image" ? "images" : "documents"}` }), list);
    }
    if (body.duplicates.length) {
      const dup = el("ul", { class: "duplicates" });
      for (const group of body.duplicates) {
        dup.append(el("li", { text: group.map((m) => baseName(m.path)).join("  ≈  ") }));
      }
      lists.push(el("h3", { text: "Near-duplicates" }), dup);
    }
    if (!lists.length) lists.push(el("p", { text: "too few items to tell" }));
    $("outlier-lists").replaceChildren(...lists);
  } catch (err) {
    notice(`error: ${err.message}`);
  }
}

// wiring

function wire() {
  $("search").addEventListener("submit", (e) => { e.preventDefault(); textSearch(); });
  $("q").addEventListener("input", () => {
    if ($("q").value.trim()) return;
    current = null;  // an emptied box: what was found goes, recommendations come
    $("hits").replaceChildren();
    $("more").hidden = true;
    notice("");
    writeURL();
    showRecommendations();
  });
  $("outlier-method").addEventListener("change", loadOutliers);
  $("more").addEventListener("click", () => run(true));
  $("hits").addEventListener("keydown", gridKeys);
  $("pick").addEventListener("change", (e) => imageSearch(e.target.files[0]));
  $("item-close").addEventListener("click", closeItem);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => { showView(tab.dataset.view); writeURL({ view: tab.dataset.view === "results" ? "" : tab.dataset.view }); });
  }
  let depth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; $("drop").hidden = false; });
  window.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; $("drop").hidden = true; } });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault(); depth = 0; $("drop").hidden = true;
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) imageSearch(file);
  });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData ? e.clipboardData.files : [])].find((f) => f.type.startsWith("image/"));
    if (file) { e.preventDefault(); imageSearch(file); }
  });
  const canvas = $("map-canvas");
  canvas.addEventListener("mousemove", (e) => {
    const i = nearestPoint(e);
    const tip = $("map-tip");
    if (i < 0) { tip.hidden = true; return; }
    const children = [el("span", { text: baseName(map.data.paths[i]) })];
    if (map.data.thumbs[i]) children.unshift(el("img", { src: `/api/thumbs/${map.data.ids[i]}?size=128`, alt: "" }));
    tip.replaceChildren(...children);
    tip.style.left = `${e.offsetX + 14}px`;
    tip.style.top = `${e.offsetY + 40}px`;
    tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => { $("map-tip").hidden = true; });
  $("map-colour").addEventListener("change", () => { if (map.data) loadMap(); });
  canvas.addEventListener("click", (e) => { const i = nearestPoint(e); if (i >= 0) openItem(map.data.ids[i]); });
}

// for tests and the curious: where the map drew each item
window.semsearchMap = {
  count: () => (map.data ? map.data.count : 0),
  ids: () => (map.data ? map.data.ids.slice() : []),
  clientPoint: (i) => {
    const canvas = $("map-canvas");
    const box = canvas.getBoundingClientRect();
    const [x, y] = screenPoint(i);
    return [box.left + x * (box.width / canvas.width), box.top + y * (box.height / canvas.height)];
  },
};

// the index's state under the search box: what it holds, and what a watcher does now
const STATE_POLL_MS = { watching: 1500, idle: 30000 };
let lastChange = null; // the watcher's last change seen: a new one refreshes the results

function megabytes(n) { return `${(n / 1048576).toFixed(n < 10485760 ? 1 : 0)} MB`; }
function clock(seconds) { return new Date(seconds * 1000).toLocaleTimeString(); }

function showState(status) {
  const counts = status.counts || {};
  const models = (status.spaces || []).map((s) => `${s.name}: ${s.model}`).join(", ");
  const vectors = (status.spaces || []).reduce((n, s) => n + (s.vectors || 0), 0);
  const parts = [`${counts.files || 0} files`, `${vectors} vectors`];
  if (models) parts.push(models);
  parts.push(megabytes(status.total_bytes || 0));
  $("state-summary").textContent = parts.join(" · ");
  const watch = status.watch;
  const box = $("state-watch"), bar = $("state-progress");
  box.hidden = !watch;
  bar.hidden = true;
  let skipped = status.skipped || [];
  if (watch) {
    const when = watch.last_change ? ` · last change ${clock(watch.last_change)}` : "";
    let text = `${watch.state} ${watch.folders.join(", ")}${when}`;
    const p = watch.progress;
    if (p && p.phase) {
      text = `indexing: ${p.phase} ${p.done}${p.total ? `/${p.total}` : ""}`;
      bar.hidden = false;
      if (p.total) { bar.max = p.total; bar.value = p.done; } else bar.removeAttribute("value");
    }
    if (watch.pending) text += ` · ${watch.pending} changes settling`;
    if (watch.detail) text += ` · ${watch.detail}`;
    box.textContent = text;
    box.className = watch.state === "retrying" ? "trouble" : p && p.phase ? "busy" : "";
    if (watch.skipped.length) skipped = watch.skipped.slice().reverse();
    if (lastChange !== null && watch.last_change !== lastChange && current
        && current.kind !== "image" && !$("results").hidden) run();
    lastChange = watch.last_change;
  }
  const list = $("state-skipped");
  list.hidden = !skipped.length;
  list.querySelector("summary").textContent = `${skipped.length} skipped`;
  list.querySelector("ul").replaceChildren(
    ...skipped.slice(0, 20).map((s) => el("li", {}, `${baseName(s.path)}: ${s.reason}`)));
}

async function pollState() {
  let watching = false;
  try {
    const status = await getJSON("/api/status");
    canOpenFolder = Boolean(status.can_open_folder);
    showState(status);
    watching = Boolean(status.watch);
  } catch (err) {
    $("state-summary").textContent = `status: ${err.message}`;
  }
  setTimeout(pollState, watching ? STATE_POLL_MS.watching : STATE_POLL_MS.idle);
}

async function boot() {
  wire();
  try { meta = await getJSON("/api/meta"); fillChoices(); }
  catch (err) { notice(`error: ${err.message}`); }
  await pollState();
  const start = readURL();
  const view = start.get("view");
  if (start.get("similar")) similar(Number(start.get("similar")), "", !view);
  else if ($("q").value.trim()) textSearch(!view);
  else showRecommendations();
  if (view) showView(view);
}

boot();
