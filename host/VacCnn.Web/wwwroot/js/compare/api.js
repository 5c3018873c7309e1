// VacCnn compare page: the JSON API (see README "HTTP API"). No DOM here.

/** Error with the server's own message ({error}) when there is one. */
export class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function errorOf(response) {
    let text = "";
    try {
        const body = await response.json();
        text = body && (body.error || body.title || body.detail) || "";
    } catch { /* not JSON */ }
    return new ApiError(response.status, `${response.status} ${response.statusText}${text ? ": " + text : ""} (${response.url})`);
}

/** GET a JSON document; throws ApiError on anything but 200. */
export async function getJson(url, signal) {
    const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
    if (!response.ok) throw await errorOf(response);
    return response.json();
}

/** POST a photo as multipart field "file"; resolves to {id, width, height, …}, throws ApiError with the server's reason. */
export async function uploadImage(file, signal) {
    const form = new FormData();
    form.append("file", file);
    const response = await fetch("/api/images", { method: "POST", body: form, signal, headers: { Accept: "application/json" } });
    if (!response.ok) throw await errorOf(response);
    return response.json();
}

/**
 * GET a resource that may still be computing: 202 {status, progress, retryAfterMs} and 429 (+ Retry-After) are
 * retried after the delay the server asks for; onProgress(fraction|null, state, body) is told each time.
 */
export async function getWhenReady(url, { signal, onProgress } = {}) {
    for (;;) {
        const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
        if (response.status === 200) return response.json();
        if (response.status === 202) {
            const body = await response.json().catch(() => ({}));
            onProgress?.(typeof body.progress === "number" ? body.progress : null, body.status || "queued", body);
            await sleep(clampDelay(body.retryAfterMs));
            continue;
        }
        if (response.status === 429) {
            const seconds = Number(response.headers.get("Retry-After"));
            onProgress?.(null, "busy");
            await sleep(clampDelay(isFinite(seconds) ? seconds * 1000 : 1000));
            continue;
        }
        throw await errorOf(response);
    }
}

function clampDelay(ms) {
    const n = Number(ms);
    return Math.min(5000, Math.max(250, isFinite(n) && n > 0 ? n : 1000));
}

/** Query string from an object; arrays become comma lists, null/undefined/"" are left out. */
export function query(params) {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
        if (value === null || value === undefined || value === "") continue;
        q.set(key, Array.isArray(value) ? value.join(",") : String(value));
    }
    const s = q.toString();
    return s ? "?" + s : "";
}

export const api = {
    overview: () => getJson("/api/overview"),
    classes: () => getJson("/api/classes"),
    modelClasses: (id) => getJson(`/api/models/${encodeURIComponent(id)}/classes`),
    graph: (id, perplexity) => getJson(`/api/models/${encodeURIComponent(id)}/graph` + query({ perplexity })),
    range: (models) => getJson("/api/compare/range" + query({ models })),
    average: (models) => getJson("/api/compare/average" + query({ models })),
    explainers: () => getJson("/api/explainers"),
    metrics: () => getJson("/api/metrics"),
    images: (classIndex) => getJson("/api/images" + query({ class: classIndex })),
    imageFile: (id) => `/api/images/${encodeURIComponent(id)}/file`,
    imageThumb: (id, size = 96) => `/api/images/${encodeURIComponent(id)}/thumb?size=${size}`,
    models: () => getJson("/api/models"),
    // Explainer settings (e.g. samples) travel as extra query parameters, as the API takes them.
    explanationUrl: (p) => "/api/explanations" + query({ model: p.model, image: p.image, method: p.method, class: p.classIndex, ...p.settings }),
    randomisationUrl: (p) => "/api/randomisation" + query({ model: p.model, image: p.image, method: p.method, class: p.classIndex, layers: p.layers, ...p.settings }),
    rankingUrl: (p) => "/api/ranking" + query({ models: p.models, images: p.images, target: p.target, format: p.format }),
    similarityUrl: (p) => "/api/similarity" + query({ models: p.models, image: p.image, method: p.method, metric: p.metric, format: p.format, ...p.settings }),
};
