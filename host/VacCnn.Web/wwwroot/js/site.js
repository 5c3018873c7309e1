// VacCnn: live progress on the admin page (evaluation runs and precompute batches). No inline scripts (CSP
// script-src 'self'); DOM updates use textContent.
(function () {
    "use strict";
    var table = document.querySelector("table[data-poll]");
    var batches = document.querySelector("table[data-poll-batches]");
    var notice = document.getElementById("runs-new");

    function percent(f) { return (f * 100).toFixed(1) + " %"; }
    function pad(n) { return n < 10 ? "0" + n : String(n); }
    // Same wording as the server's Format.Duration.
    function duration(s) {
        if (s === null || s === undefined || !isFinite(s)) return "—";
        s = Math.max(0, Math.round(s));
        var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
        if (h >= 1) return h + " h " + pad(m) + " min";
        if (m >= 1) return m + " min " + pad(sec) + " s";
        return sec + " s";
    }
    // Same wording as the server's Format.Workers.
    function workers(list) {
        if (!list || list.length === 0) return "—";
        return list.map(function (w) {
            return w.worker + ": " + (w.shards.length === 1 ? "shard " : "shards ") + w.shards.join(", ");
        }).join("; ");
    }
    function set(row, field, text) {
        var el = row.querySelector('[data-field="' + field + '"]');
        if (el && el.textContent !== text) el.textContent = text;
        return el;
    }

    function updateBatches(list) {
        list.forEach(function (b) {
            var row = batches.querySelector('tr[data-batch="' + b.id + '"]');
            if (!row) return; // a batch started elsewhere shows on the next reload
            var state = set(row, "state", b.state);
            if (state) state.className = "state state-" + b.state;
            set(row, "failed", b.failed > 0 ? b.failed + " failed" : "");
            var bar = row.querySelector('[data-field="fraction"]');
            if (bar) bar.value = b.fraction;
            set(row, "percent", percent(b.fraction));
            set(row, "done", b.done + " / " + b.total);
            set(row, "rate", b.perSecond ? b.perSecond.toFixed(2) : "—");
            set(row, "eta", b.state === "running" ? duration(b.etaSeconds) : "—");
        });
    }

    function update(runs) {
        var unknown = false;
        runs.forEach(function (r) {
            var row = table.querySelector('tr[data-run-id="' + r.runId + '"]');
            if (!row) { unknown = true; return; }
            var state = set(row, "state", r.state);
            if (state) state.className = "state state-" + r.state;
            var bar = row.querySelector('[data-field="fraction"]');
            if (bar) bar.value = r.fraction;
            set(row, "percent", percent(r.fraction));
            set(row, "shards", r.shardsDone + " / " + r.shardCount);
            set(row, "workers", workers(r.workers));
            set(row, "images", r.imagesDone + " / " + r.totalImages);
            set(row, "rate", r.imagesPerSecond > 0 ? r.imagesPerSecond.toFixed(1) : "—");
            set(row, "eta", r.state === "done" ? "—" : duration(r.etaSeconds));
            set(row, "skipped", String(r.skipped));
            set(row, "error", r.error || "");
        });
        if (unknown && notice) notice.hidden = false;
    }

    function poll(url, apply) {
        function tick() {
            if (document.hidden) { setTimeout(tick, 2000); return; }
            fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store" })
                .then(function (res) { return res.ok ? res.json() : Promise.reject(res.status); })
                .then(apply)
                .catch(function () { /* transient: try again on the next tick */ })
                .then(function () { setTimeout(tick, 2000); });
        }
        setTimeout(tick, 2000);
    }
    if (table) poll(table.getAttribute("data-poll"), update);
    if (batches) poll(batches.getAttribute("data-poll-batches"), updateBatches);
})();
