// VacCnn compare page: coordinates the five views (A overview, B distribution graph, C task sidebar,
// D explanations, E supplemental). The task lives in the URL query string so that reload and sharing restore it.
// The sibling modules are imported with this module's version token (see Pages/ModuleVersion.cs), so every URL is hashed.
const version = new URL(import.meta.url).search;
const { api, getJson, getWhenReady, uploadImage } = await import("./api.js" + version);
const maps = await import("./maps.js" + version);
const charts = await import("./charts.js" + version);
const { $, el } = await import("./dom.js" + version);

const TASKS = ["models-image", "model-classes", "model-class-images"];

// ---------------------------------------------------------------- task state (URL)
const state = readUrl();
function readUrl() {
    const q = new URLSearchParams(location.search);
    const list = (k) => (q.has(k) ? q.get(k).split(",").filter(Boolean) : null);
    const threshold = Number(q.get("threshold"));
    return {
        task: TASKS.includes(q.get("task")) ? q.get("task") : "models-image",
        models: list("models"), // null = all evaluated models (the default)
        classes: (list("classes") || []).map(Number).filter(Number.isInteger),
        image: q.get("image") || null,
        method: q.get("method") || null,
        metric: q.get("metric") || null,
        threshold: isFinite(threshold) && q.has("threshold") ? Math.min(1, Math.max(0, threshold)) : 0.5,
        pin: q.get("pin") || null,
        root: q.get("root") || null,
        complexity: q.get("x") === "gflops" ? "gflops" : "params",
        colormap: q.get("cmap") || "viridis",
        sort: q.get("sort") || "",
        // Explainer settings that differ from their defaults, as "s.<name>=<number>" (e.g. s.samples=8).
        settings: Object.fromEntries([...q.entries()].filter(([k, v]) => k.startsWith("s.") && v !== "" && isFinite(Number(v))).map(([k, v]) => [k.slice(2), Number(v)])),
    };
}
function writeUrl() {
    const q = new URLSearchParams();
    q.set("task", state.task);
    if (state.models) q.set("models", state.models.join(","));
    if (state.classes.length) q.set("classes", state.classes.join(","));
    if (state.image) q.set("image", state.image);
    if (state.method) q.set("method", state.method);
    if (state.metric) q.set("metric", state.metric);
    q.set("threshold", state.threshold.toFixed(2));
    if (state.pin) q.set("pin", state.pin);
    if (state.root) q.set("root", state.root);
    if (state.complexity !== "params") q.set("x", state.complexity);
    if (state.colormap !== "viridis") q.set("cmap", state.colormap);
    if (state.sort) q.set("sort", state.sort);
    for (const [k, v] of Object.entries(state.settings)) q.set("s." + k, String(v));
    history.replaceState(null, "", location.pathname + "?" + q.toString());
}

// ---------------------------------------------------------------- data
const data = { overview: { roots: [], models: [] }, classes: [], classByIndex: new Map(), explainers: [], metrics: [] };
const modelClassCache = new Map(); // model id → Promise<Map<classIndex, row>>
const imageCache = new Map();      // class index → Promise<image[]>
const uploads = new Map();         // upload id → image record of a photo uploaded in this page (its file name; no class)
const evaluated = () => data.overview.models.filter((m) => m.top1 !== null && m.top1 !== undefined);
const modelById = (id) => data.overview.models.find((m) => m.id === id);
const selectedModels = () => (state.models ? state.models.map(modelById).filter(Boolean) : evaluated());

function modelClasses(id) {
    if (!modelClassCache.has(id)) {
        modelClassCache.set(id, api.modelClasses(id)
            .then((r) => new Map(r.classes.map((c) => [c.index, c])))
            .catch(() => new Map()));
    }
    return modelClassCache.get(id);
}
function imagesOf(classIndex) {
    if (!imageCache.has(classIndex)) imageCache.set(classIndex, api.images(classIndex).catch((e) => { showError(e); return []; }));
    return imageCache.get(classIndex);
}

function showError(e) {
    const box = $("compare-error");
    box.hidden = false;
    box.textContent = e instanceof Error ? e.message : String(e);
    console.error(e);
}

// ---------------------------------------------------------------- start
async function start() {
    const [overview, classes, explainers, metrics] = await Promise.allSettled(
        [api.overview(), api.classes(), api.explainers(), api.metrics()]);
    if (overview.status === "fulfilled") data.overview = overview.value;
    else data.overview = await modelsFallback(overview.reason);
    if (classes.status === "fulfilled") data.classes = classes.value; else showError(classes.reason);
    if (explainers.status === "fulfilled") data.explainers = explainers.value; else showError(explainers.reason);
    if (metrics.status === "fulfilled") data.metrics = metrics.value; else showError(metrics.reason);
    data.classByIndex = new Map(data.classes.map((c) => [c.index, c]));

    const ev = evaluated();
    if (!state.pin || !modelById(state.pin)) state.pin = ev.length ? [...ev].sort((a, b) => b.top1 - a.top1)[0].id : data.overview.models[0]?.id ?? null;
    if (!state.root || !data.overview.roots.includes(state.root)) state.root = data.overview.roots[0] ?? null;
    if (!state.method || !data.explainers.some((x) => x.id === state.method)) state.method = data.explainers[0]?.id ?? null;
    if (!state.metric || !data.metrics.some((x) => x.id === state.metric)) state.metric = data.metrics[0]?.id ?? null;

    buildSidebar();
    bindControls();
    writeUrl();
    renderOverview();
    renderGraph();
    renderImages();
    renderTask();
    document.body.dataset.compareReady = "true";
}

/** Without the analytics endpoints, the models page's JSON still gives the model list and overall accuracy. */
async function modelsFallback(reason) {
    showError(reason);
    try {
        const r = await api.models();
        return { roots: [], models: r.models.map((m) => ({ id: m.id, name: m.name, family: m.family, parameters: (m.parametersMillions ?? 0) * 1e6,
            gflops: m.gigaFlops ?? null, top1: m.top1 ?? null, top5: m.top5 ?? null, perRoot: {} })) };
    } catch { return { roots: [], models: [] }; }
}

// ---------------------------------------------------------------- C: sidebar
function buildSidebar() {
    document.querySelectorAll('input[name="task"]').forEach((r) => { r.checked = r.value === state.task; });
    renderModelList();
    renderClassList();
    renderChips();
    const method = $("method");
    method.replaceChildren(...data.explainers.map((x) => el("option", { value: x.id, textContent: x.displayName, selected: x.id === state.method })));
    $("method-description").textContent = data.explainers.find((x) => x.id === state.method)?.description ?? "";
    renderSettings();
    $("metric").replaceChildren(...data.metrics.map((x) => el("option", { value: x.id, textContent: x.displayName, selected: x.id === state.metric, title: x.description ?? "" })));
    $("threshold").value = String(state.threshold);
    $("threshold-value").textContent = state.threshold.toFixed(2);
    $("colormap").value = state.colormap;
    $("pin-model").replaceChildren(...data.overview.models.map((m) => el("option", { value: m.id, textContent: m.name, selected: m.id === state.pin })));
    $("pin-root").replaceChildren(...data.overview.roots.map((r) => el("option", { value: r, textContent: r, selected: r === state.root })));
    setComplexityButtons();
}

function renderModelList() {
    const chosen = new Set(selectedModels().map((m) => m.id));
    const sorted = [...data.overview.models].sort((a, b) => (b.top1 ?? -1) - (a.top1 ?? -1));
    $("model-list").replaceChildren(...sorted.map((m) => el("li", {},
        el("label", { class: "check" },
            el("input", { type: "checkbox", value: m.id, checked: chosen.has(m.id), dataset: { modelId: m.id } }),
            el("span", { class: "check-name", textContent: m.name, title: m.id }),
            el("span", { class: "check-value", textContent: m.top1 === null || m.top1 === undefined ? "not evaluated" : charts.percent(m.top1) })))));
}

function renderClassList() {
    const term = $("class-search").value.trim().toLowerCase();
    const selected = new Set(state.classes);
    const groups = data.overview.roots.length ? data.overview.roots : [...new Set(data.classes.map((c) => c.root))];
    const match = (c) => !term || c.name.toLowerCase().includes(term) || c.wnid.toLowerCase().includes(term) || String(c.index) === term;
    const blocks = [];
    for (const root of groups) {
        const members = data.classes.filter((c) => c.root === root && match(c));
        if (!members.length) continue;
        const shown = term ? members : members.slice(0, 400);
        blocks.push(el("details", { class: "class-group", open: Boolean(term) || selected.size === 0 && root === groups[0] },
            el("summary", { textContent: `${root} (${members.length})` }),
            el("ul", { class: "plain" }, ...shown.map((c) => el("li", {},
                el("label", { class: "check" },
                    el("input", { type: "checkbox", value: String(c.index), checked: selected.has(c.index), dataset: { classIndex: String(c.index) } }),
                    el("span", { class: "check-name", textContent: c.name }),
                    el("span", { class: "check-value", textContent: c.wnid })))))));
    }
    $("class-list").replaceChildren(...(blocks.length ? blocks : [el("p", { class: "hint", textContent: "No class matches." })]));
}

function renderChips() {
    $("class-chips").replaceChildren(...state.classes.map((i) => el("button", {
        type: "button", class: "chip", dataset: { removeClass: String(i) },
        textContent: `${data.classByIndex.get(i)?.name ?? i} ×`, title: "Remove this class",
    })));
}

async function renderImages() {
    const current = state.classes[state.classes.length - 1];
    const box = $("thumbs");
    $("images-class").textContent = current === undefined ? "(select a class)" : `of ${data.classByIndex.get(current)?.name ?? current}`;
    if (current === undefined) { box.replaceChildren(); return; }
    const images = await imagesOf(current);
    if (state.classes[state.classes.length - 1] !== current) return;
    if (!images.length) { box.replaceChildren(el("p", { class: "hint", textContent: "No image of this class in the image set." })); return; }
    box.replaceChildren(...images.map((im) => el("button", {
        type: "button", class: "thumb" + (im.id === state.image ? " selected" : ""),
        "aria-pressed": String(im.id === state.image), dataset: { imageId: im.id }, title: im.file,
    }, el("img", { src: api.imageThumb(im.id, 96), alt: im.file, width: 64, height: 64 }))));
}

function bindControls() {
    document.querySelectorAll('input[name="task"]').forEach((r) => r.addEventListener("change", () => { state.task = r.value; changed({ task: true }); }));
    $("b-perplexity").addEventListener("change", () => renderGraph());
    $("model-list").addEventListener("change", () => {
        state.models = [...$("model-list").querySelectorAll("input:checked")].map((i) => i.value);
        changed({ task: true, supplemental: true });
    });
    $("models-all").addEventListener("click", () => { state.models = data.overview.models.map((m) => m.id); renderModelList(); changed({ task: true, supplemental: true }); });
    $("models-none").addEventListener("click", () => { state.models = []; renderModelList(); changed({ task: true, supplemental: true }); });
    $("class-search").addEventListener("input", renderClassList);
    $("class-list").addEventListener("change", (e) => {
        const index = Number(e.target.dataset.classIndex);
        if (!Number.isInteger(index)) return;
        if (e.target.checked) selectClass(index, false); else removeClass(index);
    });
    $("class-chips").addEventListener("click", (e) => {
        const index = Number(e.target.dataset?.removeClass);
        if (Number.isInteger(index)) { removeClass(index); renderClassList(); }
    });
    $("upload")?.addEventListener("change", uploadPhoto);
    $("ranking-run").addEventListener("click", rankMethods);
    $("randomisation-run").addEventListener("click", checkRandomisation);
    $("thumbs").addEventListener("click", (e) => {
        const button = e.target.closest("button.thumb");
        if (!button) return;
        state.image = button.dataset.imageId;
        for (const b of $("thumbs").children) { b.classList.toggle("selected", b === button); b.setAttribute("aria-pressed", String(b === button)); }
        changed({ task: true });
    });
    $("method").addEventListener("change", () => {
        state.method = $("method").value;
        $("method-description").textContent = data.explainers.find((x) => x.id === state.method)?.description ?? "";
        state.settings = {};
        renderSettings();
        changed({ task: true });
    });
    $("method-settings").addEventListener("change", (e) => {
        const input = e.target;
        if (!input.dataset.setting) return;
        const value = Number(input.value);
        const min = Number(input.min), max = Number(input.max);
        if (input.value === "" || !isFinite(value) || value < min || value > max || value === Number(input.dataset.default)) {
            delete state.settings[input.dataset.setting];
            if (input.value === "" || !isFinite(value) || value < min || value > max) input.value = input.dataset.default;
        } else state.settings[input.dataset.setting] = value;
        changed({ task: true });
    });
    $("metric").addEventListener("change", () => { state.metric = $("metric").value; changed({ similarity: true }); });
    $("threshold").addEventListener("input", () => {
        state.threshold = Number($("threshold").value);
        $("threshold-value").textContent = state.threshold.toFixed(2);
        writeUrl();
        redrawMaps(); // in the browser only: no request
    });
    $("colormap").addEventListener("change", () => { state.colormap = $("colormap").value; writeUrl(); redrawMaps(); renderSimilarityChart(); });
    $("pin-model").addEventListener("change", () => pin($("pin-model").value, null));
    $("pin-root").addEventListener("change", () => pin(null, $("pin-root").value));
    $("complexity-params").addEventListener("click", () => { state.complexity = "params"; setComplexityButtons(); writeUrl(); renderComplexity(); });
    $("complexity-gflops").addEventListener("click", () => { state.complexity = "gflops"; setComplexityButtons(); writeUrl(); renderComplexity(); });
    document.querySelectorAll("[data-reset-zoom]").forEach((b) => b.addEventListener("click", () => Chart.getChart($(b.dataset.resetZoom))?.resetZoom()));
    document.querySelectorAll("#explain-table button.sort").forEach((b) => b.addEventListener("click", () => sortBy(b.dataset.sort)));
    $("table-search").addEventListener("input", filterRows);
    $("table-csv").addEventListener("click", downloadTable);
    addChartDownloads();
}

/** Number inputs for the chosen method's settings (defaults from /api/explainers). */
function renderSettings() {
    const method = data.explainers.find((x) => x.id === state.method);
    const known = new Set((method?.settings ?? []).map((x) => x.name));
    for (const k of Object.keys(state.settings)) if (!known.has(k)) delete state.settings[k];
    $("method-settings").replaceChildren(...(method?.settings ?? []).map((x) => el("label", { class: "setting", title: x.description ?? "" },
        x.name,
        el("input", { type: "number", min: String(x.min), max: String(x.max), step: "any", value: String(state.settings[x.name] ?? x.default),
            dataset: { setting: x.name, default: String(x.default) }, "aria-label": `${x.name}: ${x.description ?? ""}` }))));
}

function setComplexityButtons() {
    $("complexity-params").setAttribute("aria-pressed", String(state.complexity === "params"));
    $("complexity-gflops").setAttribute("aria-pressed", String(state.complexity === "gflops"));
}

/** Adds a class to the task (from the list, the bars or the graph) and makes it the class whose images are shown. */
function selectClass(index, refreshList = true) {
    state.classes = [...state.classes.filter((i) => i !== index), index];
    state.image = null;
    renderChips();
    if (refreshList) renderClassList();
    renderImages();
    changed({ task: true, supplemental: true });
}
function removeClass(index) {
    state.classes = state.classes.filter((i) => i !== index);
    renderChips();
    renderImages();
    changed({ task: true, supplemental: true });
}

function pin(modelId, root) {
    if (modelId) state.pin = modelId;
    if (root) state.root = root;
    $("pin-model").value = state.pin ?? "";
    $("pin-root").value = state.root ?? "";
    writeUrl();
    renderOverview();
    if (modelId) renderGraph();
}

function changed({ task = false, supplemental = false, similarity = false } = {}) {
    writeUrl();
    if (task) renderTask();
    else if (supplemental) renderSupplemental();
    else if (similarity) renderSimilarity();
}

// ---------------------------------------------------------------- A: overview
function renderOverview() {
    renderComplexity();
    charts.rootRadar(evaluated(), data.overview.roots, state.pin, (id, root) => pin(id, root));
    renderLeafBars();
}
function renderComplexity() {
    charts.complexityScatter(evaluated(), state.complexity, state.pin, (id) => pin(id, null));
}
async function renderLeafBars() {
    const model = modelById(state.pin);
    $("a3-model").textContent = model?.name ?? "—";
    $("a4-root").textContent = state.root ?? "—";
    if (!model) return;
    const table = [...(await modelClasses(model.id)).values()].sort((a, b) => b.top1 - a.top1);
    if (model.id !== state.pin) return;
    charts.classBars("chart-a3", table, "#0072B2", (i) => selectClass(i));
    const rootIndex = Math.max(0, data.overview.roots.indexOf(state.root));
    charts.classBars("chart-a4", table.filter((c) => c.root === state.root), charts.colourAt(rootIndex), (i) => selectClass(i));
}

// ---------------------------------------------------------------- B: distribution graph
let graphToken = 0;
async function renderGraph() {
    const token = ++graphToken;
    const model = modelById(state.pin);
    $("b-model").textContent = model?.name ?? "—";
    if (!model) return;
    $("b-compare-link").href = "/Graphs?a=" + encodeURIComponent(model.id);
    for (let attempt = 0; token === graphToken; attempt++) {
        let graph;
        const perplexity = $("b-perplexity")?.value || undefined;
        try { graph = await api.graph(model.id, perplexity); } catch (e) { $("b-status").textContent = e.message; return; }
        if (token !== graphToken) return;
        if (graph.status === "ready") {
            const [outside] = charts.distributionGraph(graph.points, data.overview.roots, (i) => selectClass(i));
            $("b-status").textContent = `${graph.points.length} classes · ${graph.method} t-SNE · KL ${Number(graph.kl).toFixed(3)}` +
                (graph.recall != null ? ` · ${graph.recallK}-NN recall ${Number(graph.recall).toFixed(3)}` : "") +
                ` · perplexity ${graph.perplexity}, exaggeration ${graph.earlyExaggeration}, learning rate ${graph.learningRate}, ${graph.iterations} iterations, seed ${graph.seed}` +
                (graph.aligned ? " · aligned to the WordNet reference" : "") +
                (graph.missing?.length ? ` · ${graph.missing.length} classes without images left out` : "") +
                (outside ? ` · ${outside} outlying classes beyond the view (zoom out to see them)` : "");
            return;
        }
        if (graph.status === "not-evaluated") { $("b-status").textContent = "This model has not been evaluated yet (Admin page)."; Chart.getChart($("chart-b"))?.destroy(); return; }
        const p = graph.progress;
        $("b-status").textContent = "computing the graph in the background…" + (p ? ` ${Math.round(100 * p.fraction)} % (${p.stage})` : "");
        await new Promise((r) => setTimeout(r, Math.min(5000, 1000 + attempt * 500)));
    }
}

// ---------------------------------------------------------------- D: explanation table
let taskAbort = null;
let rows = [];        // {tr, values:{label, confidence, classAccuracy, overallAccuracy, deletion, insertion}, prepared, canvases}
let examples = [];    // prepared example maps (redrawn by the threshold slider too)

function describeTask() {
    const models = selectedModels();
    const current = state.classes[state.classes.length - 1];
    switch (state.task) {
        case "models-image":
            if (!models.length) return { hint: "Select one or more models." };
            if (!state.image) return { hint: "Select a class, then pick one of its images." };
            return { kind: state.task, models, single: models.length === 1 };
        case "model-classes":
            if (models.length !== 1) return { hint: "Select exactly one model for this task." };
            if (!state.classes.length) return { hint: "Select one or more classes." };
            return { kind: state.task, models, single: true };
        default:
            if (models.length !== 1) return { hint: "Select exactly one model for this task." };
            if (current === undefined) return { hint: "Select a class." };
            return { kind: state.task, models, single: true, classIndex: current };
    }
}

async function renderTask() {
    taskAbort?.abort();
    taskAbort = new AbortController();
    const signal = taskAbort.signal;
    const task = describeTask();
    renderSupplemental();
    const tbody = $("explain-table").querySelector("tbody");
    rows = [];
    tbody.replaceChildren();
    resetRanking(); // a ranking belongs to the task it was asked for
    if (task.hint) {
        $("d-status").textContent = task.hint;
        $("explain-wrap").hidden = true;
        $("examples").hidden = false;
        renderExamples();
        return;
    }
    $("examples").hidden = true;
    $("explain-wrap").hidden = false;
    $("explain-table").classList.toggle("no-histogram", !task.single);

    // One row per model (one image) or per image (one model).
    let specs;
    if (task.kind === "models-image") {
        const image = await findImage(state.image);
        specs = task.models.map((m) => ({ model: m, image, label: m.name }));
    } else if (task.kind === "model-classes") {
        const firsts = await Promise.all(state.classes.map(async (c) => (await imagesOf(c))[0]));
        specs = firsts.filter(Boolean).map((im) => ({ model: task.models[0], image: im, label: im.file }));
    } else {
        specs = (await imagesOf(task.classIndex)).map((im) => ({ model: task.models[0], image: im, label: im.file }));
    }
    if (signal.aborted) return;
    $("d-status").textContent = specs.length ? `${specs.length} row(s)` : "No image for this task.";
    for (const spec of specs) {
        const row = await makeRow(spec);
        if (signal.aborted) return;
        rows.push(row);
        tbody.append(row.tr);
    }
    applySort();
    filterRows();
    await Promise.all(rows.map((row) => explainRow(row, signal)));
    if (!signal.aborted) { $("d-status").textContent = `${rows.length} row(s) · done`; $("ranking-run").disabled = false; resetRandomisation(); }
}

/** The method ranking over the task's models and images (asked for explicitly: it computes every method's maps). */
let rankingAbort = null;
function resetRanking() {
    rankingAbort?.abort();
    $("ranking-table").hidden = true;
    $("ranking-csv").hidden = true;
    $("ranking-status").textContent = "";
    $("ranking-run").disabled = rows.length === 0;
    resetRandomisation();
}
async function rankMethods() {
    rankingAbort?.abort();
    rankingAbort = new AbortController();
    const signal = rankingAbort.signal;
    const models = [...new Set(rows.map((r) => r.spec.model.id))], images = [...new Set(rows.map((r) => r.spec.image.id))];
    if (!models.length) return;
    const url = api.rankingUrl({ models, images, target: state.task === "models-image" ? "predicted" : "label" });
    $("ranking-run").disabled = true;
    $("ranking-status").textContent = "computing…";
    try {
        const result = await getWhenReady(url, {
            signal,
            onProgress: (p, s, body) => {
                $("ranking-status").textContent = s === "busy" ? "queue full, waiting…" : `${Math.round((p ?? 0) * 100)} % of the maps`;
                if (body?.methods) drawRanking(body.methods);
            },
        });
        if (signal.aborted) return;
        drawRanking(result.methods);
        $("ranking-csv").href = api.rankingUrl({ models, images, target: state.task === "models-image" ? "predicted" : "label", format: "csv" });
        $("ranking-csv").hidden = false;
        $("ranking-status").textContent = `${models.length} model(s) × ${images.length} image(s)`;
        $("ranking-table").dataset.status = "done";
    } catch (e) {
        if (signal.aborted) return;
        $("ranking-status").textContent = e.message;
    } finally {
        if (!signal.aborted) $("ranking-run").disabled = false;
    }
}
function drawRanking(methods) {
    const table = $("ranking-table");
    table.hidden = false;
    table.dataset.status = "running";
    const auc = (v) => (v === null || v === undefined ? "…" : v.toFixed(3));
    table.querySelector("tbody").replaceChildren(...methods.map((m, i) => el("tr", { dataset: { method: m.method } },
        el("td", { textContent: m.deletion === null ? "" : String(i + 1) }),
        el("td", { textContent: m.displayName }),
        el("td", { class: "num deletion", textContent: auc(m.deletion) }),
        el("td", { class: "num insertion", textContent: auc(m.insertion) }),
        el("td", { class: "num", textContent: `${m.done}/${m.total}` + (m.failed ? ` (${m.failed} failed)` : "") }))));
}

/** Saves a Blob under a file name (an anchor with the download attribute; nothing leaves the browser). */
function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** RFC 4180 CSV (CRLF rows; quoted when needed); null and undefined as empty fields. */
function csvText(rows) {
    const field = (v) => {
        const s = v === null || v === undefined ? "" : String(v);
        return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    };
    return rows.map((r) => r.map(field).join(",")).join("\r\n") + "\r\n";
}

/** The explanation table as CSV: every row (filtered or not), in the shown order, with the numbers unrounded. */
function downloadTable() {
    const header = ["model", "image", "label", "ground_truth", "prediction", "confidence", "class_accuracy", "overall_accuracy", "deletion", "insertion", "method"];
    const lines = [...$("explain-table").querySelectorAll("tbody tr")].map((tr) => rows.find((r) => r.tr === tr)).filter(Boolean).map((r) => [
        r.spec.model.id, r.spec.image.id, r.values.label, r.tr.querySelector("td.gt").textContent.trim(), r.tr.querySelector("td.pred").textContent.trim(),
        r.values.confidence, r.values.classAccuracy, r.values.overallAccuracy, r.values.deletion, r.values.insertion, state.method]);
    saveBlob(new Blob([csvText([header, ...lines])], { type: "text/csv" }), `explanations_${state.method}.csv`);
}

/** A "PNG" button under every chart: the canvas as drawn, on white (Chart.js canvases are transparent). */
function addChartDownloads() {
    for (const canvas of document.querySelectorAll(".chart-box canvas")) {
        const button = el("button", { type: "button", class: "link chart-png", textContent: "PNG", title: "Download this chart as a PNG", dataset: { chart: canvas.id } });
        button.addEventListener("click", () => {
            const copy = el("canvas", { width: canvas.width, height: canvas.height });
            const ctx = copy.getContext("2d");
            ctx.fillStyle = "#fff";
            ctx.fillRect(0, 0, copy.width, copy.height);
            ctx.drawImage(canvas, 0, 0);
            copy.toBlob((blob) => saveBlob(blob, `${canvas.id}.png`), "image/png");
        });
        canvas.closest(".chart-box").after(button);
    }
}

/** The class a row explains: each model's own prediction on one image, else the image's label. */
function rowClass(row) {
    return state.task === "models-image" ? undefined : row.spec.image.classIndex ?? undefined;
}

/** Adebayo et al.'s randomisation check of one row (asked for explicitly: it computes three more maps). */
let randomisationAbort = null;
function resetRandomisation() {
    randomisationAbort?.abort();
    const select = $("randomisation-row");
    select.replaceChildren(...rows.map((r, i) => el("option", { value: String(i), textContent: r.spec.label })));
    $("randomisation-run").disabled = rows.length === 0;
    $("randomisation-strip").hidden = true;
    $("randomisation-status").textContent = "";
}
async function checkRandomisation() {
    const row = rows[Number($("randomisation-row").value)];
    if (!row) return;
    randomisationAbort?.abort();
    randomisationAbort = new AbortController();
    const signal = randomisationAbort.signal;
    const url = api.randomisationUrl({ model: row.spec.model.id, image: row.spec.image.id, method: state.method, classIndex: rowClass(row), layers: 3, settings: state.settings });
    $("randomisation-run").disabled = true;
    $("randomisation-status").textContent = "computing…";
    try {
        const result = await getWhenReady(url, {
            signal,
            onProgress: (p, s, body) => {
                $("randomisation-status").textContent = s === "busy" ? "queue full, waiting…" : `${Math.round((p ?? 0) * 100)} % of the maps`;
                if (body?.levels) drawRandomisation(body, false);
            },
        });
        if (signal.aborted) return;
        drawRandomisation(result, true);
        $("randomisation-status").textContent = result.passed
            ? `passes: ρ ${result.levels.at(-1).spearman?.toFixed(2) ?? "—"} < ${result.passBelow} once 3 layers are shuffled`
            : `fails: the map survives shuffling (ρ ${result.levels.at(-1).spearman?.toFixed(2)} ≥ ${result.passBelow})`;
    } catch (e) {
        if (signal.aborted) return;
        $("randomisation-status").textContent = e.message;
    } finally {
        if (!signal.aborted) $("randomisation-run").disabled = false;
    }
}
function drawRandomisation(body, done) {
    const strip = $("randomisation-strip");
    strip.hidden = false;
    strip.dataset.status = done ? "done" : "running";
    const picture = (src, caption, level) => el("figure", { class: "randomised", dataset: level === undefined ? {} : { layers: String(level.layers) } },
        done || level?.done ? el("img", { src, alt: caption, width: 96 }) : el("div", { class: "placeholder", textContent: "…" }),
        el("figcaption", { textContent: caption }));
    strip.replaceChildren(
        picture(body.trained.pngUrl, "trained", undefined),
        ...body.levels.map((l) => picture(l.pngUrl,
            `top ${l.layers} shuffled · ρ ${l.spearman === null || l.spearman === undefined ? (l.done ? "— (constant)" : "…") : l.spearman.toFixed(2)}`, l)));
}

/** Uploads the chosen photo and makes it the task's image (several models on one image). */
async function uploadPhoto() {
    const input = $("upload"), file = input.files?.[0];
    if (!file) return;
    $("upload-status").textContent = `uploading ${file.name}…`;
    $("upload-status").classList.remove("error-text");
    try {
        const result = await uploadImage(file);
        uploads.set(result.id, { id: result.id, file: file.name, classIndex: null, width: result.width, height: result.height });
        $("upload-status").textContent = `${file.name}: ${result.width}×${result.height}`;
        state.image = result.id;
        if (state.task !== "models-image") {
            state.task = "models-image";
            document.querySelectorAll('input[name="task"]').forEach((r) => { r.checked = r.value === state.task; });
        }
        for (const b of $("thumbs").children) { b.classList.remove("selected"); b.setAttribute("aria-pressed", "false"); }
        changed({ task: true });
    } catch (e) {
        $("upload-status").textContent = e.message;
        $("upload-status").classList.add("error-text");
    } finally {
        input.value = "";
    }
}

/** The image record of an id (from a loaded class, else via its class in the id's file name). */
async function findImage(id) {
    if (uploads.has(id)) return uploads.get(id);
    for (const list of imageCache.values()) { const hit = (await list).find((im) => im.id === id); if (hit) return hit; }
    for (const c of state.classes) { const hit = (await imagesOf(c)).find((im) => im.id === id); if (hit) return hit; }
    return { id, file: id, classIndex: null };
}

async function makeRow(spec) {
    const { model, image } = spec;
    const table = await modelClasses(model.id);
    const gt = image.classIndex ?? null;
    const values = {
        label: spec.label,
        confidence: null,
        classAccuracy: gt !== null ? table.get(gt)?.top1 ?? null : null,
        overallAccuracy: model.top1 ?? null,
        deletion: null,
        insertion: null,
    };
    const cell = (cls, ...content) => el("td", { class: cls }, ...content);
    const heat = el("canvas", { class: "map", width: 150, height: 150, "aria-label": "heatmap with contours" });
    const filtered = el("canvas", { class: "map", width: 150, height: 150, "aria-label": "salient region" });
    const hist = el("canvas", { class: "hist", width: 108, height: 64, "aria-label": "colour histogram of the salient region" });
    const progress = el("progress", { max: 1 });
    const status = el("span", { class: "hint", textContent: "queued" });
    const tr = el("tr", { dataset: { model: model.id, image: image.id, status: "pending" } },
        cell("", el("div", { class: "model-name", textContent: spec.label }), el("div", { class: "model-id", textContent: spec.label === model.name ? image.file : model.name })),
        cell("gt", data.classByIndex.get(gt)?.name ?? "—"),
        cell("pred", "…"),
        cell("num confidence", "…"),
        cell("num class-accuracy", charts.percent(values.classAccuracy)),
        cell("num overall-accuracy", charts.percent(values.overallAccuracy)),
        cell("num quality deletion", "…"),
        cell("num quality insertion", "…"),
        cell("map-cell", el("div", { class: "placeholder" }, progress, status), heat),
        cell("map-cell", filtered),
        cell("col-histogram", hist));
    heat.hidden = filtered.hidden = hist.hidden = true;
    return { tr, spec, values, heat, filtered, hist, progress, status, prepared: null };
}

async function explainRow(row, signal) {
    const { model, image } = row.spec;
    const classIndex = rowClass(row);
    try {
        const result = await getWhenReady(api.explanationUrl({ model: model.id, image: image.id, method: state.method, classIndex, settings: state.settings }), {
            signal,
            onProgress: (p, s) => {
                row.status.textContent = s === "busy" ? "queue full, waiting…" : `${s}${p !== null ? " " + Math.round(p * 100) + " %" : ""}`;
                if (p !== null) row.progress.value = p; else row.progress.removeAttribute("value");
                row.tr.dataset.status = s;
            },
        });
        const [mapJson, img] = await Promise.all([getJson(result.mapUrl, signal), maps.loadImage(api.imageFile(image.id))]);
        if (signal.aborted) return;
        const map = maps.decodeMap(mapJson);
        const [w, h] = maps.fitSize(img.naturalWidth, img.naturalHeight, 108);
        row.prepared = maps.prepare(img, map, w, h);
        row.values.confidence = result.predictedProbability ?? result.probability ?? null;
        const cells = row.tr.children;
        cells[1].textContent = result.groundTruthName ?? cells[1].textContent;
        cells[2].textContent = result.predictedName ?? "—";
        cells[2].classList.toggle("wrong", result.groundTruthIndex != null && result.predictedIndex !== result.groundTruthIndex); // uploads have no ground truth
        cells[3].textContent = charts.percent(row.values.confidence);
        row.values.deletion = result.deletion ?? null;
        row.values.insertion = result.insertion ?? null;
        qualityCell(cells[6], result.deletion, result.quality?.deletionCurve, "#D55E00", "deletion");
        qualityCell(cells[7], result.insertion, result.quality?.insertionCurve, "#009E73", "insertion");
        row.tr.querySelector(".placeholder").remove();
        // The raw map for NumPy users: float32 (height, width) at the image's resolution.
        cells[8].append(el("a", { class: "npy hint", href: result.npyUrl, download: "", textContent: "map .npy", title: "numpy.load() gives the map, float32, height × width" }));
        row.heat.hidden = row.filtered.hidden = false;
        row.hist.hidden = false;
        drawRow(row);
        row.tr.dataset.status = "done";
    } catch (e) {
        if (signal.aborted) return;
        row.status.textContent = e.message;
        row.status.classList.add("error-text");
        row.progress.remove();
        row.tr.dataset.status = "failed";
    }
}

/** An AUC with its curve drawn under it (or "—" when the server measures no quality). */
function qualityCell(td, auc, curve, colour, what) {
    if (auc === null || auc === undefined) { td.textContent = "—"; return; }
    const canvas = el("canvas", { class: "curve", "aria-label": `${what} curve: class probability against the fraction of pixels ${what === "deletion" ? "removed" : "inserted"}` });
    maps.drawCurve(canvas, curve, colour);
    td.replaceChildren(el("div", { class: "auc", textContent: auc.toFixed(3) }), canvas);
}

function drawRow(row) {
    if (!row.prepared) return;
    maps.drawHeatmap(row.heat, row.prepared, state.threshold, state.colormap);
    maps.drawFiltered(row.filtered, row.prepared, state.threshold);
    const hist = maps.histogram(row.prepared, state.threshold);
    row.tr.dataset.salientFraction = (hist.pixels / (row.prepared.w * row.prepared.h)).toFixed(4);
    if (!$("explain-table").classList.contains("no-histogram")) maps.drawHistogram(row.hist, hist, 108, 64);
}

function redrawMaps() {
    rows.forEach(drawRow);
    for (const ex of examples) if (ex.prepared) maps.drawHeatmap(ex.canvas, ex.prepared, state.threshold, state.colormap);
}

function sortBy(key) {
    const [current, dir] = state.sort.split(":");
    state.sort = `${key}:${current === key && dir === "desc" ? "asc" : "desc"}`;
    writeUrl();
    applySort();
}
function applySort() {
    const [key, dir] = state.sort.split(":");
    document.querySelectorAll("#explain-table button.sort").forEach((b) => {
        b.closest("th").setAttribute("aria-sort", b.dataset.sort === key ? (dir === "asc" ? "ascending" : "descending") : "none");
    });
    if (!key) return;
    const sign = dir === "asc" ? 1 : -1;
    const value = (r) => r.values[key];
    rows.sort((a, b) => {
        const x = value(a), y = value(b);
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (typeof x === "string" ? x.localeCompare(y) : x - y) * sign;
    });
    const tbody = $("explain-table").querySelector("tbody");
    rows.forEach((r) => tbody.append(r.tr));
}
function filterRows() {
    const term = $("table-search").value.trim().toLowerCase();
    rows.forEach((r) => { r.tr.hidden = Boolean(term) && !r.tr.textContent.toLowerCase().includes(term); });
}

/**
 * Before a task: one example per explanation method (the cheapest evaluated model on one of its best-recognised
 * images), with its one-line description. Computed one at a time and only while no task is shown, so the examples
 * never crowd the user's own explanations out of the server's queue.
 */
let examplesBuilt = false, examplesRunning = false, exampleSubject = null;
async function renderExamples() {
    if (!examplesBuilt) {
        examplesBuilt = true;
        const model = [...evaluated()].sort((a, b) => (a.gflops ?? 0) - (b.gflops ?? 0))[0] ?? null;
        const box = $("examples");
        box.replaceChildren(el("p", { class: "hint", textContent: "How each method explains a prediction (an example; choose a task in the sidebar to explain your own):" }));
        let image = null;
        if (model) {
            const table = [...(await modelClasses(model.id)).values()].sort((a, b) => b.top1 - a.top1 || a.index - b.index);
            for (const c of table.slice(0, 5)) { image = (await imagesOf(c.index))[0]; if (image) break; }
        }
        const img = image ? await maps.loadImage(api.imageFile(image.id)).catch(() => null) : null;
        exampleSubject = model && img ? { model, image, img } : null;
        examples = data.explainers.map((x) => {
            const canvas = el("canvas", { class: "map", width: 120, height: 120, hidden: true });
            const status = el("span", { class: "hint", textContent: exampleSubject ? "waiting…" : "" });
            box.append(el("figure", { class: "example", dataset: { method: x.id } }, canvas, status,
                el("figcaption", {}, el("strong", { textContent: x.displayName }), " — ", x.description ?? "")));
            return { method: x, canvas, status, prepared: null };
        });
    }
    if (examplesRunning || !exampleSubject) return;
    examplesRunning = true;
    try {
        const { model, image, img } = exampleSubject;
        for (const ex of examples) {
            if ($("examples").hidden) break;
            if (ex.prepared) continue;
            try {
                const result = await getWhenReady(api.explanationUrl({ model: model.id, image: image.id, method: ex.method.id }),
                    { onProgress: (p, s) => { ex.status.textContent = `${s}${p !== null ? " " + Math.round(p * 100) + " %" : ""}`; } });
                const map = maps.decodeMap(await getJson(result.mapUrl));
                const [w, h] = maps.fitSize(img.naturalWidth, img.naturalHeight, 120);
                ex.prepared = maps.prepare(img, map, w, h);
                ex.canvas.hidden = false;
                ex.status.textContent = `${model.name} on “${result.className ?? image.file}”`;
                maps.drawHeatmap(ex.canvas, ex.prepared, state.threshold, state.colormap);
            } catch (e) { ex.status.textContent = e.message; ex.prepared = false; }
        }
    } finally { examplesRunning = false; }
}

// ---------------------------------------------------------------- E: supplemental
function renderSupplemental() {
    renderOriginal();
    renderSimilarity();
    renderClassScatter();
    renderCompareBars();
}

async function renderOriginal() {
    const box = $("original");
    let id = state.image;
    // Single-model tasks explain several images: show the first one of the current class.
    if (!id && state.task !== "models-image" && state.classes.length) id = (await imagesOf(state.classes[state.classes.length - 1]))[0]?.id ?? null;
    if (!id) { box.replaceChildren(el("span", { class: "hint", textContent: "Pick an image in the sidebar." })); return; }
    const image = await findImage(id);
    box.replaceChildren(el("img", { src: api.imageFile(id), alt: image.file }),
        el("div", { class: "hint", textContent: [image.file, data.classByIndex.get(image.classIndex)?.name].filter(Boolean).join(" · ") }));
}

let similarityToken = 0;
let similarityData = null;
async function renderSimilarity() {
    const token = ++similarityToken;
    const models = selectedModels();
    similarityData = null;
    Chart.getChart($("chart-similarity"))?.destroy();
    $("similarity-legend").replaceChildren();
    $("similarity-csv").hidden = true;
    if (state.task !== "models-image" || models.length < 2 || !state.image) {
        $("similarity-status").textContent = "(several models on one image)";
        return;
    }
    $("similarity-status").textContent = "computing…";
    try {
        const result = await getWhenReady(api.similarityUrl({ models: models.map((m) => m.id), image: state.image, method: state.method, metric: state.metric, settings: state.settings }),
            { onProgress: (p) => { if (token === similarityToken) $("similarity-status").textContent = `computing${p !== null ? " " + Math.round(p * 100) + " %" : "…"}`; } });
        if (token !== similarityToken) return;
        similarityData = result;
        const csv = $("similarity-csv");
        csv.href = api.similarityUrl({ models: models.map((m) => m.id), image: state.image, method: state.method, metric: state.metric, format: "csv", settings: state.settings });
        csv.hidden = false;
        $("similarity-status").textContent = data.metrics.find((m) => m.id === state.metric)?.displayName ?? "";
        renderSimilarityChart();
    } catch (e) { if (token === similarityToken) $("similarity-status").textContent = e.message; }
}
function renderSimilarityChart() {
    if (!similarityData) return;
    const names = similarityData.models.map((id) => modelById(id)?.name ?? id);
    charts.similarityMatrix(names, similarityData.matrix, (v) => maps.colourOf(v, state.colormap));
    $("similarity-legend").replaceChildren(...names.map((n) => el("li", { textContent: n })));
}

async function renderClassScatter() {
    const models = selectedModels();
    const classes = state.classes.map((i) => data.classByIndex.get(i)).filter(Boolean);
    const tables = new Map(await Promise.all(models.map(async (m) => [m.id, await modelClasses(m.id)])));
    charts.classAccuracyScatter(classes, models, (id, c) => tables.get(id)?.get(c)?.top1 ?? null);
}

let barsToken = 0;
async function renderCompareBars() {
    const token = ++barsToken;
    const models = selectedModels().filter((m) => m.top1 !== null && m.top1 !== undefined);
    const ids = models.map((m) => m.id);
    if (ids.length < 2) {
        for (const id of ["chart-range", "chart-average"]) Chart.getChart($(id))?.destroy();
        $("range-status").textContent = $("average-status").textContent = "(two or more evaluated models)";
        $("range-rule").textContent = $("average-rule").textContent = "";
        return;
    }
    const [range, average] = await Promise.allSettled([api.range(ids), api.average(ids)]);
    if (token !== barsToken) return;
    for (const [name, answer] of [["range", range], ["average", average]]) {
        if (answer.status === "fulfilled") {
            charts.compareBars(`chart-${name}`, answer.value.classes, models);
            $(`${name}-status`).textContent = "";
            $(`${name}-rule`).textContent = answer.value.rule ?? "";
        } else {
            Chart.getChart($(`chart-${name}`))?.destroy();
            $(`${name}-status`).textContent = answer.reason.message;
        }
    }
}

start().catch(showError);
