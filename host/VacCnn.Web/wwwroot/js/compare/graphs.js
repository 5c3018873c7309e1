// VacCnn graph comparison page: two models' distribution graphs side by side (aligned to the same reference) with
// linked hover and selection, and the classes whose neighbourhoods differ most (GET /api/compare/graphs).
// The choice (a, b, perplexity, init, class) lives in the URL so that reload and sharing restore it.
const version = new URL(import.meta.url).search;
const { api, getJson, query } = await import("./api.js" + version);
const charts = await import("./charts.js" + version);
const { $, el } = await import("./dom.js" + version);

const SIDES = ["a", "b"];

// ---------------------------------------------------------------- state (URL)
const q = new URLSearchParams(location.search);
const state = {
    a: q.get("a"), b: q.get("b"), perplexity: q.get("perplexity") || "",
    init: q.get("init") === "random" ? "random" : "reference", // this page's default: comparable class by class
    cls: q.has("class") && /^\d+$/.test(q.get("class")) ? Number(q.get("class")) : null,
};
function writeUrl() {
    const url = new URL(location.href);
    url.search = query({ a: state.a, b: state.b, perplexity: state.perplexity, init: state.init, class: state.cls });
    history.replaceState(null, "", url);
}

let overview = null;
let comparison = null;   // the last ready answer
let drawnKey = null;     // which graphs the charts show (models + perplexity)
const neighbours = { a: new Set(), b: new Set() }; // of the selected class, per model
const chartOf = (side) => Chart.getChart($("graph-" + side));
const other = (side) => (side === "a" ? "b" : "a");

function showError(message) {
    $("graphs-error").textContent = message;
    $("graphs-error").hidden = !message;
}

// ---------------------------------------------------------------- loading (polls while either graph is computing)
let token = 0;
async function refresh() {
    const mine = ++token;
    writeUrl();
    showError("");
    for (let attempt = 0; mine === token; attempt++) {
        let answer;
        try {
            answer = await getJson("/api/compare/graphs" + query({ a: state.a, b: state.b, perplexity: state.perplexity, init: state.init, class: state.cls }));
        } catch (e) { showError(e.message); return; }
        if (mine !== token) return;
        for (const side of SIDES) {
            const g = answer[side];
            $(`graph-${side}-name`).textContent = overview.models.find((m) => m.id === g.model)?.name ?? g.model;
            $(`graph-${side}-status`).textContent = describe(g);
        }
        if (answer.status === "ready") { show(answer); return; }
        if (answer.status === "not-evaluated") { showError("One of the models has not been evaluated yet (Admin page)."); return; }
        $("diff-status").textContent = "waiting for both graphs…";
        await new Promise((r) => setTimeout(r, Math.min(5000, 1000 + attempt * 500)));
    }
}

function describe(g) {
    if (g.status === "ready") {
        return `${g.points.length} classes · KL ${Number(g.kl).toFixed(3)}` +
            (g.recall != null ? ` · ${g.recallK}-NN recall ${Number(g.recall).toFixed(3)}` : "") +
            ` · ${g.method}, perplexity ${g.perplexity}, seed ${g.seed}, ${g.init === "reference" ? "started from the WordNet layout" : "random start"}` +
            (g.aligned ? ", aligned" : ", not aligned");
    }
    if (g.status === "not-evaluated") return "not evaluated";
    const p = g.progress;
    return "computing in the background…" + (p ? ` ${Math.round(100 * p.fraction)} % (${p.stage})` : "");
}

function show(answer) {
    comparison = answer;
    const key = [answer.a.model, answer.a.runId, answer.b.model, answer.b.runId, answer.a.perplexity, answer.a.init].join("|");
    if (key !== drawnKey) { draw(answer); drawnKey = key; }
    table(answer);
    highlight(answer.focus ?? null);
    document.body.dataset.graphsReady = "true";
}

// ---------------------------------------------------------------- the two charts
function draw(answer) {
    const all = [...answer.a.points, ...answer.b.points];
    // One window for both (the layouts are aligned, so the same class sits in roughly the same place in both).
    const x = sharedRange(all.map((p) => p.x)), y = sharedRange(all.map((p) => p.y));
    for (const side of SIDES) {
        charts.classScatter("graph-" + side, answer[side].points, overview.roots, {
            x, y,
            onPick: (i) => select(i),
            onHover: (i) => linkHover(side, i),
            style: (p) => styleOf(side, p.index),
        });
    }
}

function sharedRange(values) {
    const robust = charts.robustRange(values);
    if (robust) return robust;
    const lo = Math.min(...values), hi = Math.max(...values), pad = (hi - lo) * 0.05 || 1;
    return { min: lo - pad, max: hi + pad };
}

function styleOf(side, index) {
    if (state.cls === null) return null;
    if (index === state.cls) return { radius: 8, border: "#D55E00", borderWidth: 3 };
    if (neighbours[side].has(index)) return { radius: 5.5, border: "#000000", borderWidth: 2 };
    return { faded: true };
}

// Where a class is in a chart: its dataset and position there.
function elementOf(chart, index) {
    for (let d = 0; d < chart.data.datasets.length; d++) {
        const i = chart.data.datasets[d].data.findIndex((p) => p.index === index);
        if (i >= 0) return { datasetIndex: d, index: i };
    }
    return null;
}

// Hover in one chart shows the same class (highlighted, with its tooltip) in the other.
function linkHover(side, index) {
    const target = chartOf(other(side));
    if (!target) return;
    const e = index === null ? null : elementOf(target, index);
    const active = e ? [e] : [];
    target.setActiveElements(active);
    const point = e ? target.getDatasetMeta(e.datasetIndex).data[e.index] : null;
    target.tooltip.setActiveElements(active, point ? { x: point.x, y: point.y } : { x: 0, y: 0 });
    target.update("none");
    $("graphs").dataset.linkedHover = e ? String(index) : "";
}

// ---------------------------------------------------------------- selection
function select(index) {
    state.cls = index;
    writeUrl();
    if (index === null) { highlight(null); return; }
    refresh(); // the answer carries the class's own row (focus) wherever it ranks
}

function highlight(focus) {
    neighbours.a = new Set(focus ? [...focus.shared, ...focus.onlyA].map((c) => c.index) : []);
    neighbours.b = new Set(focus ? [...focus.shared, ...focus.onlyB].map((c) => c.index) : []);
    for (const side of SIDES) chartOf(side)?.update("none");
    for (const tr of $("graphs-diff").tBodies[0].rows) tr.classList.toggle("selected", Number(tr.dataset.classIndex) === state.cls);
    const line = $("graphs-selection");
    if (state.cls === null) { line.replaceChildren(); return; }
    const cls = focus ?? comparison?.classes.find((c) => c.index === state.cls);
    if (!cls) { line.textContent = `Class ${state.cls} is not in both graphs.`; return; }
    const names = (list) => list.map((c) => c.name).join(", ") || "—";
    line.replaceChildren(
        el("b", { textContent: cls.name }), ` (${cls.wnid}, ${cls.root}) · Jaccard ${cls.jaccard.toFixed(2)} · moved ${cls.moved.toFixed(2)} · `,
        el("span", { class: "only-a", textContent: "only A: " + names(cls.onlyA) }), " · ",
        el("span", { textContent: "both: " + names(cls.shared) }), " · ",
        el("span", { class: "only-b", textContent: "only B: " + names(cls.onlyB) }));
    line.dataset.classIndex = String(cls.index);
}

// ---------------------------------------------------------------- the table of most different classes
function table(answer) {
    $("diff-rule").textContent = answer.rule.replace("k nearest", `${answer.k} nearest`);
    $("diff-status").textContent = `${answer.compared} classes compared · mean Jaccard ${answer.meanJaccard == null ? "—" : answer.meanJaccard.toFixed(3)} · ` +
        `the ${answer.classes.length} most different below (click a row to highlight it)`;
    const names = (list) => list.map((c) => c.name).join(", ") || "—";
    $("graphs-diff").tBodies[0].replaceChildren(...answer.classes.map((c) => {
        const tr = el("tr", { dataset: { classIndex: String(c.index) }, tabIndex: 0, title: "Highlight this class in both graphs" },
            el("td", { textContent: `${c.name} (${c.wnid})` }),
            el("td", { textContent: c.root }),
            el("td", { class: "num jaccard", textContent: c.jaccard.toFixed(2) }),
            el("td", { class: "num moved", textContent: c.moved.toFixed(2) }),
            el("td", { class: "only-a", textContent: names(c.onlyA) }),
            el("td", { textContent: names(c.shared) }),
            el("td", { class: "only-b", textContent: names(c.onlyB) }));
        tr.addEventListener("click", () => select(c.index));
        tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(c.index); } });
        return tr;
    }));
}

// ---------------------------------------------------------------- start (last: every binding above exists)
try {
    overview = await api.overview();
    const evaluated = overview.models.filter((m) => m.top1 !== null && m.top1 !== undefined).sort((x, y) => y.top1 - x.top1);
    if (evaluated.length < 2) throw new Error("Two evaluated models are needed to compare their graphs (Admin page: evaluate).");
    const known = (id) => evaluated.some((m) => m.id === id);
    if (!known(state.a)) state.a = evaluated.find((m) => m.id !== state.b)?.id ?? evaluated[0].id;
    if (!known(state.b) || state.b === state.a) state.b = evaluated.find((m) => m.id !== state.a).id;
    for (const side of SIDES) {
        $("graphs-" + side).replaceChildren(...evaluated.map((m) => el("option", {
            value: m.id, textContent: `${m.name} (${charts.percent(m.top1)})`, selected: m.id === state[side] })));
        $("graphs-" + side).addEventListener("change", (e) => {
            state[side] = e.target.value;
            if (state[side] === state[other(side)]) { // keep two different models: the other one takes the old place
                state[other(side)] = evaluated.find((m) => m.id !== state[side]).id;
                $("graphs-" + other(side)).value = state[other(side)];
            }
            refresh();
        });
    }
    $("graphs-perplexity").value = state.perplexity;
    $("graphs-perplexity").addEventListener("change", (e) => { state.perplexity = e.target.value; refresh(); });
    $("graphs-init").value = state.init;
    $("graphs-init").addEventListener("change", (e) => { state.init = e.target.value; refresh(); });
    $("graphs-swap").addEventListener("click", () => {
        [state.a, state.b] = [state.b, state.a];
        $("graphs-a").value = state.a; $("graphs-b").value = state.b;
        refresh();
    });
    $("graphs-clear").addEventListener("click", () => select(null));
    refresh();
} catch (e) {
    showError(e.message);
}
