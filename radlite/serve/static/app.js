// radlite search page: plain JavaScript, no files from the internet.
"use strict";
const $ = (id) => document.getElementById(id);
const SIGNALS = ["bm25", "biencoder", "colbert", "crossencoder"];
const LABELS = {bm25: "BM25", biencoder: "bi-encoder", colbert: "ColBERT", crossencoder: "cross-encoder",
                prf: "like #1"};
let info = null;
let lastQuery = "";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(path, body) {
  const resp = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const data = await resp.json().catch(() => ({detail: resp.statusText}));
  if (!resp.ok) throw new Error(data.detail || resp.statusText);
  return data;
}

async function loadInfo() {
  info = await api("/info");
  const active = info.signals.concat("crossencoder" in info.models ? ["crossencoder"] : []);
  for (const s of active) {
    const w = info.fusion.weights[s] ?? 0;
    const input = el("input", {type: "range", min: "0", max: "1", step: "0.05", value: String(w), id: "w-" + s, "data-signal": s});
    const out = el("span", {text: w.toFixed(2)});
    input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(2); });
    input.addEventListener("change", () => { if (lastQuery) search(); });
    $("weights").append(el("label", {}, LABELS[s] || s, input, out));
  }
  if (info.categories.length) {
    for (const c of info.categories) $("category").append(el("option", {value: c, text: c}));
    $("category-label").hidden = false;
  }
  $("method").value = info.fusion.method;
  $("info").textContent = `${info.documents} documents, ${info.passages} passages; signals ${active.join(", ")}; ` +
    Object.entries(info.models).map(([k, m]) => `${k}: ${m.name}`).join("; ") + "; fusion " + fusionText(info);
}

function fusionText(info) {
  const f = info.fusion_fitted;
  if (!f) {
    const m = info.fusion_measured;
    const scores = m ? "; nDCG@10 " + Object.entries(m["ndcg@10"]).map(([k, v]) => `${k} ${v}`).join(", ") +
      ` with ${m.models}` : "";
    return `${info.fusion.method} (${info.fusion.normalization}), radlite's default${scores}`;
  }
  return `${info.fusion.method} (${info.fusion.normalization}) fitted by ${f.by} on ${f.dataset} (${f.queries} queries, ` +
    `nDCG@10 ${f["ndcg@10_before"]} before, ${f["ndcg@10_after"]} after)`;
}

function weights() {
  const out = {};
  for (const input of document.querySelectorAll("#weights input")) out[input.dataset.signal] = Number(input.value);
  return out;
}

function contributions(result, fusion) {
  // each signal's share of the fused score, as fusion computed it
  const out = {};
  for (const [s, w] of Object.entries(fusion.weights)) {
    const sig = result.signals[s];
    if (!sig || !w) { out[s] = 0; continue; }
    if (fusion.method === "rrf") out[s] = sig.rank ? w / (fusion.rrf_k + sig.rank) : 0;
    else out[s] = w * ((s === "crossencoder" ? sig.calibrated : sig.normalized) ?? 0);
  }
  if (result.prf) out.prf = result.prf;  // pseudo-relevance feedback: how like the first result this one is
  return out;
}

function renderBars(result, fusion, scale) {
  const parts = contributions(result, fusion);
  const box = el("div", {class: "bars"});
  for (const s of [...SIGNALS, "prf"]) {
    if (!(s in parts)) continue;
    const sig = result.signals[s] || {};
    const raw = sig.raw == null ? "-" : Number(sig.raw).toFixed(3);
    const width = scale > 0 ? Math.max(0, 100 * parts[s] / scale) : 0;
    box.append(el("span", {text: LABELS[s]}),
               el("div", {}, el("div", {class: "bar bar-" + s, style: `width:${width}%`,
                                        title: `${LABELS[s]}: contribution ${parts[s].toFixed(3)}, raw ${raw}, rank ${sig.rank ?? "-"}`})),
               el("span", {text: parts[s].toFixed(3), class: "contribution", "data-signal": s}));
  }
  return box;
}

async function search() {
  const query = $("query").value.trim();
  if (!query) return;
  lastQuery = query;
  $("status").textContent = "searching...";
  $("status").className = "";
  const body = {query, top_k: Number($("top-k").value) || 10, weights: weights(), method: $("method").value};
  if ($("category").value) body.category = $("category").value;
  if (!$("expand").checked) body.expand = false;
  try {
    const data = await api("/search", body);
    render(data);
  } catch (e) {
    $("status").textContent = "error: " + e.message;
    $("status").className = "error";
  }
}

function render(data) {
  const list = $("results");
  list.replaceChildren();
  list.dataset.query = data.query;  // which query these results answer
  const totals = data.results.map((r) => Object.values(contributions(r, data.fusion)).reduce((a, b) => a + b, 0));
  const scale = Math.max(...totals, 1e-9);
  data.results.forEach((r) => {
    const why = el("button", {class: "secondary why", type: "button", text: "Why this result"});
    const explanation = el("div", {class: "explanation", hidden: ""});
    why.addEventListener("click", () => explain(r, explanation, why));
    const relevance = r.relevance === null || r.relevance === undefined ? "" : ` · relevance ${r.relevance.toFixed(2)}`;
    const meta = el("div", {class: "meta"}, `#${r.rank} · id ${r.id} · fused score ${r.score.toFixed(4)}${relevance}`);
    if (r.category) meta.append(el("span", {class: "badge", text: r.category}));
    for (const x of r.expansions || []) meta.append(el("span", {class: "badge expansion", text: "matched " + x.replace(" -> ", " → ")}));
    const actions = el("div", {class: "actions"}, why);
    if (info && info.feedback) actions.append(...feedbackButtons(r, data.query));
    list.append(el("li", {class: "result", "data-id": r.id},
      el("h2", {text: r.title || r.id}), meta, el("p", {class: "passage", text: r.passage}),
      renderBars(r, data.fusion, scale), actions, explanation));
  });
  renderReadAs(data.read_as);
  // the fused score is relative to this query; the server says whether the best result is a confident match
  const notice = $("no-match");
  notice.hidden = data.confident !== false;
  if (data.confident === false && data.results.length) {
    notice.textContent = `No confident match: the best result's estimated relevance is ` +
      `${data.results[0].relevance.toFixed(2)}; nothing here may answer the question.`;
  }
  const t = data.timings;
  $("status").textContent = `${data.results.length} results in ${data.took_ms.toFixed(0)} ms (` +
    Object.entries(t).filter(([k]) => k !== "total").map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ") + ")";
}

function renderReadAs(readAs) {
  // how the server read the query: expansions with their weights, negated and uncertain findings
  const box = $("read-as");
  box.replaceChildren();
  box.hidden = !readAs;
  if (!readAs) return;
  box.append("Read as: ");
  const parts = [];
  for (const a of readAs.abbreviations) {
    const alts = a.expansions.map((x) => a.expansions.length > 1 ? `${x.text} (${Math.round(100 * x.weight)}%)` : x.text);
    parts.push(el("span", {class: "term" + (a.negated ? " negated" : ""), text: `${a.text} = ${alts.join(" / ")}`}));
  }
  for (const p of readAs.phrases) parts.push(el("span", {class: "term" + (p.negated ? " negated" : ""), text: `${p.text} = ${p.terms.join(" / ")}`}));
  for (const n of readAs.negated) parts.push(el("span", {class: "term negated", title: `negated by "${n.cue}"`, text: `not ${n.text}`}));
  for (const u of readAs.uncertain) parts.push(el("span", {class: "term uncertain", title: `uncertain: "${u.cue}"`, text: `? ${u.text}`}));
  parts.forEach((p, i) => { if (i) box.append("; "); box.append(p); });
}

function feedbackButtons(result, query) {
  // a relevance mark, stored beside the index; `radlite tune INDEX --feedback` learns the fusion from them
  const yes = el("button", {class: "secondary mark", type: "button", "data-relevant": "true", "aria-pressed": "false", text: "Relevant"});
  const no = el("button", {class: "secondary mark", type: "button", "data-relevant": "false", "aria-pressed": "false", text: "Not relevant"});
  const note = el("span", {class: "mark-status", role: "status"});
  for (const button of [yes, no]) {
    button.addEventListener("click", async () => {
      const relevant = button === yes;
      yes.disabled = no.disabled = true;
      try {
        await api("/feedback", {query, id: result.id, relevant});
        yes.setAttribute("aria-pressed", String(relevant));
        no.setAttribute("aria-pressed", String(!relevant));
        note.textContent = "saved";
        note.className = "mark-status";
      } catch (e) {
        note.textContent = "not saved: " + e.message;
        note.className = "mark-status error";
      } finally {
        yes.disabled = no.disabled = false;
      }
    });
  }
  return [yes, no, note];
}

async function explain(result, box, button) {
  if (!box.hidden) { box.hidden = true; return; }
  button.disabled = true;
  try {
    const body = {query: lastQuery, id: result.id, passage_index: result.passage_index};
    if (!$("expand").checked) body.expand = false;  // explain the query as the search read it
    const ex = await api("/explain", body);
    box.replaceChildren(...renderExplanation(ex));
    box.hidden = false;
  } catch (e) {
    box.replaceChildren(el("span", {class: "error", text: "error: " + e.message}));
    box.hidden = false;
  } finally {
    button.disabled = false;
  }
}

function renderExplanation(ex) {
  // per character: which query tokens matched it (ColBERT MaxSim) and whether a BM25 term covers it.
  // The server's offsets count code points (Python); Array.from splits the text the same way.
  const chars = Array.from(ex.text);
  const n = chars.length;
  const colbert = Array.from({length: n}, () => []);
  const bm25 = new Array(n).fill(null);
  for (const m of (ex.colbert ? ex.colbert.matches : [])) {
    if (m.start == null) continue;
    for (let i = m.start; i < m.end; i++) colbert[i].push(`${m.query_token} (${m.similarity.toFixed(2)})`);
  }
  for (const s of (ex.bm25 ? ex.bm25.spans : [])) for (let i = s.start; i < s.end; i++) bm25[i] = s.terms.join(", ");
  const out = el("p", {class: "explained"});
  let i = 0;
  while (i < n) {
    const key = colbert[i].join("|") + "#" + bm25[i];
    let j = i + 1;
    while (j < n && colbert[j].join("|") + "#" + bm25[j] === key) j++;
    const text = chars.slice(i, j).join("");
    if (!colbert[i].length && bm25[i] === null) out.append(text);
    else {
      const classes = (colbert[i].length ? "hl-colbert " : "") + (bm25[i] !== null ? "hl-bm25" : "");
      const title = (colbert[i].length ? "ColBERT: matched by query token " + colbert[i].join(", ") : "") +
                    (bm25[i] !== null ? (colbert[i].length ? "\n" : "") + "BM25 term: " + bm25[i] : "");
      out.append(el("span", {class: classes.trim(), title, "data-query-tokens": colbert[i].join(", ")}, text));
    }
    i = j;
  }
  const parts = [el("div", {class: "legend"}, el("span", {class: "hl-colbert", text: "ColBERT match"}), " ",
                    el("span", {class: "hl-bm25", text: "BM25 term"}), " — hover a highlight to see the query token")];
  parts.push(out);
  if (ex.colbert) {
    const table = el("table", {class: "alignments"});
    for (const m of ex.colbert.matches) {
      const where = m.start == null ? m.doc_token : `"${chars.slice(m.start, m.end).join("")}"`;
      table.append(el("tr", {}, el("td", {text: m.query_token}), el("td", {text: "→ " + where}),
                      el("td", {text: m.similarity.toFixed(3)})));
    }
    parts.push(el("details", {}, el("summary", {text: `MaxSim alignment (ColBERT score ${ex.colbert.score.toFixed(3)})`}), table));
  }
  if (ex.bm25) parts.push(el("div", {class: "legend", text: "BM25 terms matched: " + (ex.bm25.matched_terms.join(", ") || "none")}));
  return parts;
}

$("search-form").addEventListener("submit", (e) => { e.preventDefault(); search(); });
loadInfo().catch((e) => { $("status").textContent = "error: " + e.message; $("status").className = "error"; });
