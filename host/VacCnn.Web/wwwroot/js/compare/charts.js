// VacCnn compare page: the Chart.js charts of views A, B and E. Chart, the zoom plugin and the matrix controller are
// UMD globals loaded by the page (they register themselves).

/** Okabe–Ito: eight categorical colours that stay distinct for the common colour-vision deficiencies. */
export const categorical = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
    "#999999", "#882255", "#44AA99", "#117733"];
export const colourAt = (i) => categorical[i % categorical.length];

const percent = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + " %");
export { percent };

Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
Chart.defaults.font.size = 11;
Chart.defaults.animation = false; // hundreds of bars and points: redraw at once
Chart.defaults.maintainAspectRatio = false;

const zoom = (mode) => ({
    zoom: { wheel: { enabled: true }, pinch: { enabled: true }, mode },
    pan: { enabled: true, mode },
    limits: { x: { minRange: 3 } },
});

/** Legend entries cut to a readable length (full names stay in the tooltips). */
function shortLabels(chart) {
    return Chart.defaults.plugins.legend.labels.generateLabels(chart).map((l) => ({ ...l, text: short(l.text, 20) }));
}
const short = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

function make(id, config) {
    const canvas = document.getElementById(id);
    Chart.getChart(canvas)?.destroy();
    return new Chart(canvas, config);
}

/** A1: complexity (parameters in millions or GFLOPs) against top-1; one point per evaluated model. */
export function complexityScatter(models, measure, pinned, onPick) {
    const points = models.map((m) => ({
        x: measure === "gflops" ? m.gflops : m.parameters / 1e6, y: m.top1, id: m.id, name: m.name,
    }));
    return make("chart-a1", {
        type: "scatter",
        data: { datasets: [{
            label: "models", data: points,
            pointRadius: points.map((p) => (p.id === pinned ? 8 : 5)),
            pointBackgroundColor: points.map((p) => (p.id === pinned ? "#D55E00" : "#0072B2")),
            pointBorderColor: "#1f2933",
        }] },
        options: {
            scales: {
                x: { title: { display: true, text: measure === "gflops" ? "GFLOPs" : "parameters (millions)" } },
                y: { title: { display: true, text: "top-1 accuracy" }, ticks: { callback: (v) => Math.round(v * 100) + "%" } },
            },
            plugins: {
                legend: { display: false },
                tooltip: { callbacks: { label: (c) => `${c.raw.name}: ${percent(c.raw.y)}, ${c.raw.x.toFixed(2)} ${measure === "gflops" ? "GFLOPs" : "M params"}` } },
            },
            onClick: (_, elements) => { if (elements.length) onPick(points[elements[0].index].id); },
        },
    });
}

/** A2: accuracy per root class, one dataset per model; the legend toggles models, a click pins model and root. */
export function rootRadar(models, roots, pinned, onPick) {
    return make("chart-a2", {
        type: "radar",
        data: {
            labels: roots,
            datasets: models.map((m, i) => ({
                label: m.name, modelId: m.id,
                data: roots.map((r) => m.perRoot?.[r] ?? null),
                borderColor: colourAt(i), backgroundColor: colourAt(i) + "22",
                borderWidth: m.id === pinned ? 3 : 1.2, pointRadius: m.id === pinned ? 3 : 2,
            })),
        },
        options: {
            scales: { r: { min: 0, max: 1, ticks: { display: false }, pointLabels: { font: { size: 10 } } } },
            plugins: { legend: { position: "right", maxWidth: 150, labels: { boxWidth: 10, font: { size: 10 }, generateLabels: shortLabels } } },
            onClick: (_, elements, chart) => {
                if (!elements.length) return;
                const e = elements[0];
                onPick(chart.data.datasets[e.datasetIndex].modelId, roots[e.index]);
            },
        },
    });
}

/** A3/A4: zoomable bars of leaf-class accuracies (already sorted); a click selects the class. */
export function classBars(id, classes, colour, onPick) {
    return make(id, {
        type: "bar",
        data: {
            labels: classes.map((c) => c.name),
            datasets: [{ label: "top-1", data: classes.map((c) => c.top1), backgroundColor: colour, classIndex: classes.map((c) => c.index) }],
        },
        options: {
            scales: {
                x: { ticks: { display: classes.length <= 40, autoSkip: true, maxRotation: 60, font: { size: 9 } } },
                y: { min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + "%" } },
            },
            plugins: {
                legend: { display: false },
                zoom: zoom("x"),
                tooltip: { callbacks: { label: (c) => `${percent(c.raw)} on ${classes[c.dataIndex].images ?? "?"} image(s)` } },
            },
            onClick: (_, elements) => { if (elements.length) onPick(classes[elements[0].index].index); },
        },
    });
}

/**
 * Initial window of one axis: the 2nd–98th percentile, padded, so that a few far-flung classes (t-SNE leaves some)
 * do not squeeze the rest into a line; the whole range when it is not much wider. Zooming out or panning reaches all.
 */
export function robustRange(values) {
    const v = [...values].sort((a, b) => a - b);
    if (v.length < 10) return null;
    const lo = v[Math.floor(v.length * 0.02)], hi = v[Math.ceil(v.length * 0.98) - 1];
    const pad = (hi - lo) * 0.15 || 1;
    const full = v[v.length - 1] - v[0];
    if (full <= (hi - lo + 2 * pad) * 1.5) return null;
    return { min: lo - pad, max: hi + pad };
}

/** B: the t-SNE distribution graph, one dataset per root class; hover shows the class, click selects it. */
export function distributionGraph(points, roots, onPick) {
    const xr = robustRange(points.map((p) => p.x)), yr = robustRange(points.map((p) => p.y));
    const inside = (p) => (!xr || (p.x >= xr.min && p.x <= xr.max)) && (!yr || (p.y >= yr.min && p.y <= yr.max));
    return [points.filter((p) => !inside(p)).length, classScatter("chart-b", points, roots, { x: xr, y: yr, onPick })];
}

/**
 * A scatter of classes (points {index, name, wnid, root, accuracy, x, y}), one dataset per root class.
 * x, y: initial axis windows ({min, max} or null for Chart.js's own); onPick(classIndex) on click;
 * onHover(classIndex | null) as the pointer moves; style(point) may return {radius, border, borderWidth, faded}
 * to highlight classes (redraw with chart.update("none") after changing what it returns).
 */
export function classScatter(id, points, roots, { x = null, y = null, onPick = null, onHover = null, style = null } = {}) {
    const byRoot = roots.map((r) => points.filter((p) => p.root === r));
    const styled = (ctx, key, fallback) => {
        const s = style && ctx.raw ? style(ctx.raw) : null;
        return s && s[key] !== undefined ? s[key] : fallback;
    };
    return make(id, {
        type: "scatter",
        data: {
            datasets: roots.map((r, i) => ({
                label: r, data: byRoot[i], parsing: false,
                pointRadius: (ctx) => styled(ctx, "radius", 3.5),
                pointHoverRadius: (ctx) => styled(ctx, "radius", 3.5) + 2.5,
                backgroundColor: (ctx) => colourAt(i) + (styled(ctx, "faded", false) ? "40" : ""),
                borderColor: (ctx) => styled(ctx, "border", "rgba(0,0,0,0.35)"),
                borderWidth: (ctx) => styled(ctx, "borderWidth", 0.5),
            })).filter((d) => d.data.length > 0),
        },
        options: {
            scales: { x: { display: false, ...(x ?? {}) }, y: { display: false, ...(y ?? {}) } },
            plugins: {
                legend: { position: "right", labels: { boxWidth: 10 } },
                zoom: { ...zoom("xy"), limits: {} },
                tooltip: { callbacks: { label: (c) => `${c.raw.name} (${c.raw.wnid}): ${percent(c.raw.accuracy)}` } },
            },
            onClick: (_, elements, chart) => {
                if (!elements.length || !onPick) return;
                const e = elements[0];
                onPick(chart.data.datasets[e.datasetIndex].data[e.index].index);
            },
            onHover: (_, elements, chart) => {
                if (!onHover) return;
                const e = elements[0];
                onHover(e ? chart.data.datasets[e.datasetIndex].data[e.index].index : null);
            },
        },
    });
}

/** E: the similarity matrix of the selected models' maps (one row and one column per model). */
export function similarityMatrix(names, matrix, colourOf) {
    const labels = names.map((_, i) => String(i + 1)); // numbers, listed with the full names under the chart
    const values = matrix.flat().filter((v) => typeof v === "number" && isFinite(v));
    const lo = Math.min(...values), hi = Math.max(...values);
    const norm = (v) => (hi > lo ? (v - lo) / (hi - lo) : 1);
    const data = [];
    matrix.forEach((row, i) => row.forEach((v, j) => data.push({ x: labels[j], y: labels[i], v })));
    return make("chart-similarity", {
        type: "matrix",
        data: { datasets: [{
            label: "similarity", data,
            backgroundColor: (c) => (c.raw && typeof c.raw.v === "number" ? colourOf(norm(c.raw.v)) : "#ddd"),
            borderColor: "#fff", borderWidth: 1,
            width: ({ chart }) => (chart.chartArea || {}).width / labels.length - 1,
            height: ({ chart }) => (chart.chartArea || {}).height / labels.length - 1,
        }] },
        options: {
            scales: {
                x: { type: "category", labels, offset: true, grid: { display: false } },
                y: { type: "category", labels, offset: true, reverse: true, grid: { display: false } }, // row 1 at the top, like a table
            },
            plugins: {
                legend: { display: false },
                tooltip: { callbacks: { title: () => "", label: (c) => `${names[labels.indexOf(c.raw.y)]} vs ${names[labels.indexOf(c.raw.x)]}: ${Number(c.raw.v).toFixed(3)}` } },
            },
        },
    });
}

/** E: each selected model's accuracy on each selected class (x: class, y: accuracy, a point per model). */
export function classAccuracyScatter(classes, models, accuracyOf) {
    return make("chart-class-scatter", {
        type: "scatter",
        data: { datasets: models.map((m, i) => ({
            label: m.name, backgroundColor: colourAt(i), pointRadius: 4,
            data: classes.map((c, k) => ({ x: k, y: accuracyOf(m.id, c.index), name: c.name })).filter((p) => p.y !== null && p.y !== undefined),
        })) },
        options: {
            scales: {
                x: { min: -0.5, max: Math.max(0.5, classes.length - 0.5), ticks: { stepSize: 1, callback: (v) => classes[v]?.name ?? "" } },
                y: { min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + "%" } },
            },
            plugins: {
                legend: { display: models.length <= 6, labels: { boxWidth: 8, font: { size: 9 } } },
                tooltip: { callbacks: { label: (c) => `${c.dataset.label} on ${c.raw.name}: ${percent(c.raw.y)}` } },
            },
        },
    });
}

/** E: "Range" / "Average of class accuracy" bars: six classes, a bar per model. */
export function compareBars(id, classes, models) {
    return make(id, {
        type: "bar",
        data: {
            labels: classes.map((c) => c.name + (c.kind ? ` (${c.kind})` : "")),
            datasets: models.map((m, i) => ({ label: m.name, backgroundColor: colourAt(i), data: classes.map((c) => c.accuracies?.[m.id] ?? null) })),
        },
        options: {
            scales: { x: { ticks: { font: { size: 9 }, maxRotation: 60 } }, y: { min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + "%" } } },
            plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${percent(c.raw)}` } } },
        },
    });
}
