// VacCnn compare page: saliency maps drawn in the browser, so the threshold slider needs no server round trip.
// Uses the d3 globals (d3-contour, d3-scale-chromatic) loaded by the page from wwwroot/lib.

/** Decodes the raw map JSON ({width, height, data: base64 of bytes 0..255} or {values:[…]}) to bytes 0..255. */
export function decodeMap(json) {
    const width = json.width, height = json.height;
    let q;
    if (typeof json.data === "string") {
        const bin = atob(json.data);
        let bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        // The compact wire format may keep its 8-byte "VSM1" header.
        if (bytes.length === width * height + 8 && bin.startsWith("VSM1")) bytes = bytes.subarray(8);
        q = bytes;
    } else if (Array.isArray(json.values)) {
        const max = json.values.reduce((m, v) => Math.max(m, v), 0);
        const scale = max > 1.0001 ? 1 : 255; // values given as 0..1 floats or as 0..255 already
        q = Uint8Array.from(json.values, (v) => Math.max(0, Math.min(255, Math.round(v * scale))));
    } else {
        throw new Error("map JSON has neither 'data' nor 'values'");
    }
    if (q.length !== width * height) throw new Error(`map holds ${q.length} values, expected ${width}×${height}`);
    return { width, height, q };
}

const lutCache = new Map();
/** 256 RGB entries of a d3 sequential scale (viridis by default: readable with colour-blindness). */
export function colourTable(name = "viridis") {
    if (lutCache.has(name)) return lutCache.get(name);
    const interpolate = { viridis: d3.interpolateViridis, inferno: d3.interpolateInferno, cividis: d3.interpolateCividis }[name]
        || d3.interpolateViridis;
    const lut = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
        const c = d3.rgb(interpolate(i / 255));
        lut[i * 3] = c.r; lut[i * 3 + 1] = c.g; lut[i * 3 + 2] = c.b;
    }
    lutCache.set(name, lut);
    return lut;
}

/** CSS colour of a value 0..1 on the named scale. */
export function colourOf(value, name = "viridis") {
    const lut = colourTable(name), i = Math.max(0, Math.min(255, Math.round(value * 255))) * 3;
    return `rgb(${lut[i]}, ${lut[i + 1]}, ${lut[i + 2]})`;
}

/**
 * Everything that does not depend on the threshold, computed once per explanation: the image's pixels at display
 * size and the map sampled at the same size (nearest map cell of each pixel centre).
 */
export function prepare(image, map, displayWidth, displayHeight) {
    const w = displayWidth, h = displayHeight;
    const scratch = document.createElement("canvas");
    scratch.width = w; scratch.height = h;
    const ctx = scratch.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(image, 0, 0, w, h);
    const pixels = ctx.getImageData(0, 0, w, h).data;
    const sampled = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
        const my = Math.min(map.height - 1, Math.floor((y + 0.5) * map.height / h));
        for (let x = 0; x < w; x++) {
            const mx = Math.min(map.width - 1, Math.floor((x + 0.5) * map.width / w));
            sampled[y * w + x] = map.q[my * map.width + mx];
        }
    }
    return { w, h, pixels, sampled, map };
}

/** Saliency at or above the threshold (0..1) counts as salient; the map holds round(255·value). */
const cut = (threshold) => Math.ceil(threshold * 255 - 1e-9);

/** Heatmap (colour scale blended over the image) with the threshold's contour lines. */
export function drawHeatmap(canvas, prepared, threshold, colormap = "viridis", alpha = 0.5) {
    const { w, h, pixels, sampled, map } = prepared;
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    const out = ctx.createImageData(w, h);
    const lut = colourTable(colormap);
    for (let i = 0; i < w * h; i++) {
        const v = sampled[i] * 3;
        out.data[i * 4] = pixels[i * 4] * (1 - alpha) + lut[v] * alpha;
        out.data[i * 4 + 1] = pixels[i * 4 + 1] * (1 - alpha) + lut[v + 1] * alpha;
        out.data[i * 4 + 2] = pixels[i * 4 + 2] * (1 - alpha) + lut[v + 2] * alpha;
        out.data[i * 4 + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    drawContours(ctx, map, threshold, w, h);
}

/** Marching-squares contours (d3-contour) of the map at the threshold, scaled onto the display. */
function drawContours(ctx, map, threshold, w, h) {
    const level = cut(threshold);
    if (level <= 0 || level > 255) return;
    const polygons = d3.contours().size([map.width, map.height]).thresholds([level])(map.q);
    const sx = w / map.width, sy = h / map.height;
    ctx.save();
    ctx.beginPath();
    for (const polygon of polygons[0].coordinates) {
        for (const ring of polygon) {
            ring.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x * sx, y * sy) : ctx.lineTo(x * sx, y * sy)));
            ctx.closePath();
        }
    }
    ctx.lineJoin = "round";
    ctx.strokeStyle = "rgba(0, 0, 0, 0.75)"; ctx.lineWidth = 3; ctx.stroke();
    ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 1.4; ctx.stroke();
    ctx.restore();
}

/** The image with only its salient region (map ≥ threshold); the rest is darkened grey. */
export function drawFiltered(canvas, prepared, threshold) {
    const { w, h, pixels, sampled } = prepared;
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    const out = ctx.createImageData(w, h);
    const level = cut(threshold);
    for (let i = 0; i < w * h; i++) {
        const o = i * 4;
        if (sampled[i] >= level) {
            out.data[o] = pixels[o]; out.data[o + 1] = pixels[o + 1]; out.data[o + 2] = pixels[o + 2];
        } else {
            const grey = 0.12 * (0.299 * pixels[o] + 0.587 * pixels[o + 1] + 0.114 * pixels[o + 2]) + 20;
            out.data[o] = out.data[o + 1] = out.data[o + 2] = grey;
        }
        out.data[o + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
}

/** Red, green and blue histograms of the salient pixels (value v falls in bin floor(v·bins/256)). */
export function histogram(prepared, threshold, bins = 32) {
    const { w, h, pixels, sampled } = prepared;
    const r = new Array(bins).fill(0), g = new Array(bins).fill(0), b = new Array(bins).fill(0);
    const level = cut(threshold);
    let count = 0;
    for (let i = 0; i < w * h; i++) {
        if (sampled[i] < level) continue;
        const o = i * 4;
        r[(pixels[o] * bins) >> 8]++; g[(pixels[o + 1] * bins) >> 8]++; b[(pixels[o + 2] * bins) >> 8]++;
        count++;
    }
    return { bins, r, g, b, pixels: count };
}

/** The three channel histograms as overlaid translucent areas. */
export function drawHistogram(canvas, hist, width = 150, height = 80) {
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fbfbfc"; ctx.fillRect(0, 0, width, height);
    const max = Math.max(1, ...hist.r, ...hist.g, ...hist.b);
    const step = width / hist.bins;
    const channels = [[hist.r, "rgba(213, 94, 0, 0.55)"], [hist.g, "rgba(0, 158, 115, 0.55)"], [hist.b, "rgba(0, 114, 178, 0.55)"]];
    for (const [counts, colour] of channels) {
        ctx.beginPath();
        ctx.moveTo(0, height);
        counts.forEach((c, i) => { const y = height - (c / max) * (height - 4); ctx.lineTo(i * step, y); ctx.lineTo((i + 1) * step, y); });
        ctx.lineTo(width, height);
        ctx.closePath();
        ctx.fillStyle = colour; ctx.fill();
    }
    ctx.fillStyle = "#4a5663"; ctx.font = "10px system-ui, sans-serif";
    ctx.fillText(`${hist.pixels} px`, 4, 11);
}

/**
 * A deletion or insertion curve (class probability against the fraction of pixels removed or inserted, 0..1 on both
 * axes) as a small filled area: its area is the AUC written beside it.
 */
export function drawCurve(canvas, curve, colour, width = 72, height = 36) {
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fbfbfc"; ctx.fillRect(0, 0, width, height);
    if (!curve || curve.length < 2) return;
    const x = (i) => (i / (curve.length - 1)) * width, y = (p) => height - Math.max(0, Math.min(1, p)) * (height - 2);
    ctx.beginPath();
    ctx.moveTo(0, height);
    curve.forEach((p, i) => ctx.lineTo(x(i), y(p)));
    ctx.lineTo(width, height);
    ctx.closePath();
    ctx.fillStyle = colour + "55"; ctx.fill();
    ctx.beginPath();
    curve.forEach((p, i) => (i ? ctx.lineTo(x(i), y(p)) : ctx.moveTo(0, y(p))));
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.stroke();
}

/** Display size of an image that fits a box, keeping its aspect ratio. */
export function fitSize(naturalWidth, naturalHeight, box) {
    const s = box / Math.max(naturalWidth, naturalHeight);
    return [Math.max(1, Math.round(naturalWidth * s)), Math.max(1, Math.round(naturalHeight * s))];
}

/** Loads an image (same origin, so its pixels can be read back). */
export function loadImage(url) {
    return new Promise((resolve, reject) => {
        const img = new Image();
        img.onload = () => resolve(img);
        img.onerror = () => reject(new Error(`image ${url} could not be loaded`));
        img.src = url;
    });
}
