using System.Globalization;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Explanations;
using VacCnn.Engine.Store;
using VacCnn.Web.Security;

namespace VacCnn.Web.Api;

/// <summary>
/// JSON and picture endpoints of the explanation service (camelCase). Requests are validated and answered from the
/// cache or queued by <see cref="ExplanationService"/>; nothing heavy runs on a request thread except rendering a
/// finished map (moved off it with Task.Run).
/// </summary>
public static class ExplanationEndpoints
{
    // Query parameters that are not explainer settings; any other name is taken as a setting of the method
    // (names starting with '_' are ignored, e.g. cache busters).
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        "model", "models", "image", "method", "metric", "class", "layer", "seed", "threshold", "bins", "colormap", "alpha",
        "contours", "kind", "size", "images", "methods", "target", "randomised", "layers", "format",
    };

    // Parameters that identify an explanation (kept in mapUrl / pngUrl).
    private static readonly HashSet<string> Identity = new(StringComparer.Ordinal) { "model", "image", "method", "class", "layer", "seed", "randomised" };

    /// <summary>Maps /api/explainers, /api/metrics, /api/images…, /api/explanations…, /api/similarity, /api/histogram.</summary>
    public static IEndpointRouteBuilder MapVacCnnExplanationApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/explainers", (ExplanationService s) => Results.Ok(s.Runner.Explainers.Select(e => new
        {
            id = e.Id,
            displayName = e.DisplayName,
            description = e.Description,
            settings = e.Settings.Select(x => new { name = x.Name, description = x.Description, @default = x.Default, min = x.Min, max = x.Max }),
        })));
        api.MapGet("/metrics", (ExplanationService s) =>
            Results.Ok(s.Metrics.Select(m => new { id = m.Id, displayName = m.DisplayName, description = m.Description })));
        api.MapGet("/images", ListImages);
        // The form is read by hand (no IFormFile binding, so no antiforgery token): a JSON API for scripts and pages alike.
        api.MapPost("/images", Upload);
        api.MapGet("/images/{id}/file", ImageFile);
        api.MapGet("/images/{id}/thumb", Thumbnail);
        api.MapGet("/explanations", Explanation);
        api.MapGet("/explanations/map", RawMap);
        api.MapGet("/explanations/png", Picture);
        api.MapGet("/explanations/npy", NpyMap);
        api.MapGet("/similarity", Similarity);
        api.MapGet("/histogram", Histogram);
        api.MapGet("/ranking", Ranking);
        api.MapGet("/randomisation", Randomisation);
        return app;
    }

    private static IResult Guarded(Func<IResult> handler)
    {
        try { return handler(); }
        catch (ExplanationRequestException e) when (e.Problem == RequestProblem.NotFound) { return Results.NotFound(new { error = e.Message }); }
        catch (ExplanationRequestException e) { return Results.BadRequest(new { error = e.Message }); }
        catch (InvalidDataException e) { return Results.UnprocessableEntity(new { error = e.Message }); } // an unreadable image file
        catch (FileNotFoundException e) { return Results.NotFound(new { error = e.Message }); } // deleted while being served
    }

    private static async Task<IResult> GuardedAsync(Func<IResult> handler) => await Task.Run(() => Guarded(handler));

    private static IResult ListImages(HttpRequest request, ExplanationService s) => Guarded(() =>
    {
        int? cls = OptionalInt(request, "class");
        if (cls is int c && (c < 0 || c >= s.Classes.Classes.Count))
            throw Bad($"class {c} is out of range 0..{s.Classes.Classes.Count - 1}");
        return Results.Ok(s.Images.List(cls).Select(i => new
        {
            id = i.Id,
            file = i.File,
            wnid = i.Wnid,
            classIndex = i.ClassIndex,
            className = s.ClassName(i.ClassIndex),
            width = i.Width,
            height = i.Height,
            url = $"/api/images/{Uri.EscapeDataString(i.Id)}/file",
            thumbUrl = $"/api/images/{Uri.EscapeDataString(i.Id)}/thumb",
        }));
    });

    /// <summary>Whether uploads are allowed: <see cref="VacCnnOptions.Uploads"/>, or by default only when anyone may browse.</summary>
    internal static bool UploadsAllowed(VacCnnOptions o, SecurityOptions security) => o.Uploads ?? !security.IsPrivate;

    private static async Task<IResult> Upload(HttpRequest request, ExplanationService s, IOptions<VacCnnOptions> options,
        IOptions<SecurityOptions> security)
    {
        if (!UploadsAllowed(options.Value, security.Value))
            return Results.Json(new { error = "uploads are disabled on this server (VacCnn:Uploads)" }, statusCode: StatusCodes.Status403Forbidden);
        if (s.Images.Uploads is not { } store) return Results.NotFound(new { error = "this server keeps no uploads" });
        // Room for the multipart framing around the largest accepted file; anything longer is refused unread.
        long limit = store.Limits.MaxFileBytes + (64 << 10);
        if (request.ContentLength > limit)
            return Results.Json(new { error = $"the upload is larger than the {store.Limits.MaxFileBytes >> 20} MB allowed" },
                statusCode: StatusCodes.Status413PayloadTooLarge);
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
        if (!request.HasFormContentType || !request.ContentType!.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            return Results.BadRequest(new { error = "send the photo as multipart/form-data in a field named 'file'" });
        IFormCollection form;
        try { form = await request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = limit }, request.HttpContext.RequestAborted); }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException)
        {
            return e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }
                   || e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
                ? Results.Json(new { error = $"the upload is larger than the {store.Limits.MaxFileBytes >> 20} MB allowed" }, statusCode: StatusCodes.Status413PayloadTooLarge)
                : Results.BadRequest(new { error = $"the multipart form cannot be read: {e.Message}" });
        }
        if (form.Files.GetFile("file") is not { } file)
            return Results.BadRequest(new { error = "missing the multipart field 'file' with the photo" });
        try
        {
            await using var stream = file.OpenReadStream();
            var u = await Task.Run(() => store.Add(stream));
            string escaped = Uri.EscapeDataString(u.Id);
            return Results.Json(new
            {
                id = u.Id, format = u.Format, width = u.Width, height = u.Height, bytes = u.Bytes, existing = u.Existing,
                url = $"/api/images/{escaped}/file", thumbUrl = $"/api/images/{escaped}/thumb",
            }, statusCode: u.Existing ? StatusCodes.Status200OK : StatusCodes.Status201Created);
        }
        catch (UploadRejectedException e)
        {
            int status = e.Problem switch
            {
                UploadProblem.TooLarge => StatusCodes.Status413PayloadTooLarge,
                UploadProblem.UnsupportedType => StatusCodes.Status415UnsupportedMediaType,
                _ => StatusCodes.Status422UnprocessableEntity,
            };
            return Results.Json(new { error = e.Message }, statusCode: status);
        }
    }

    // Route values keep an encoded slash as "%2F" (Kestrel does not decode it); ids are relative paths.
    private static string? ImagePath(ExplanationService s, string id) =>
        s.Images.Resolve(id.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase));

    private static IResult ImageFile(string id, ExplanationService s) => Guarded(() =>
        ImagePath(s, id) is { } path
            ? Results.File(path, ContentType(path), enableRangeProcessing: false)
            : Results.NotFound(new { error = $"no image '{id}' in the image set" }));

    private static Task<IResult> Thumbnail(string id, HttpRequest request, HttpResponse response, ExplanationService s) => GuardedAsync(() =>
    {
        int size = OptionalInt(request, "size") ?? 96;
        if (size is < 16 or > 512) throw Bad($"size must be from 16 to 512 pixels, got {size}");
        if (ImagePath(s, id) is not { } path) return Results.NotFound(new { error = $"no image '{id}' in the image set" });
        response.Headers.CacheControl = "public, max-age=86400";
        return Results.File(s.Images.Thumbnail(path, size), "image/jpeg");
    });

    private static string ContentType(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".jpg" or ".jpeg" => "image/jpeg",
        ".png" => "image/png",
        ".bmp" => "image/bmp",
        ".gif" => "image/gif",
        ".webp" => "image/webp",
        ".tif" or ".tiff" => "image/tiff",
        _ => "application/octet-stream",
    };

    private static IResult Explanation(HttpRequest request, HttpResponse response, ExplanationService s) => Guarded(() =>
    {
        var outcome = s.Request(Query(request));
        return outcome.Kind == OutcomeKind.Done ? Results.Ok(DoneBody(request, s, outcome)) : NotDone(response, outcome);
    });

    private static object DoneBody(HttpRequest request, ExplanationService s, ExplanationOutcome o)
    {
        var r = o.Result!;
        var t = o.Target;
        string identity = IdentityQuery(request);
        return new
        {
            status = "done",
            model = r.ModelId,
            image = t.ImageId,
            method = r.Method,
            classIndex = r.ClassIndex,
            className = s.ClassName(r.ClassIndex),
            probability = r.Probability,
            predictedIndex = r.PredictedIndex,
            predictedName = s.ClassName(r.PredictedIndex),
            predictedProbability = r.PredictedProbability,
            groundTruthIndex = t.GroundTruth?.ClassIndex,
            groundTruthName = t.GroundTruth is { } g ? s.ClassName(g.ClassIndex) : null,
            layer = r.Layer,
            width = r.ImageWidth,
            height = r.ImageHeight,
            millis = r.Millis,
            seed = r.Seed,
            crop = new { x = r.Crop.X, y = r.Crop.Y, width = r.Crop.Width, height = r.Crop.Height },
            // Deletion (lower = more faithful) and insertion (higher = more faithful) AUC; see DeletionInsertion.
            deletion = r.Quality?.Deletion,
            insertion = r.Quality?.Insertion,
            quality = r.Quality, // both areas, both curves, steps, millis
            key = r.Key,
            mapUrl = "/api/explanations/map" + identity,
            pngUrl = "/api/explanations/png" + identity,
            npyUrl = "/api/explanations/npy" + identity,
        };
    }

    private static IResult NotDone(HttpResponse response, ExplanationOutcome o) => o.Kind switch
    {
        OutcomeKind.Full => Full(response, o.RetryAfterMs, o.Error),
        OutcomeKind.Failed => Results.Json(new
        {
            status = "failed", error = o.Error, model = o.Target.What.Model.Card.Id, image = o.Target.ImageId, method = o.Target.What.Explainer.Id,
        }, statusCode: StatusCodes.Status500InternalServerError),
        _ => Results.Json(new
        {
            status = o.Kind == OutcomeKind.Running ? "running" : "queued",
            progress = Math.Round(o.Progress, 4),
            retryAfterMs = o.RetryAfterMs,
            model = o.Target.What.Model.Card.Id,
            image = o.Target.ImageId,
            method = o.Target.What.Explainer.Id,
        }, statusCode: StatusCodes.Status202Accepted),
    };

    private static IResult Full(HttpResponse response, int retryAfterMs, string? error)
    {
        response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfterMs / 1000.0)).ToString(CultureInfo.InvariantCulture);
        return Results.Json(new { status = "full", error, retryAfterMs }, statusCode: StatusCodes.Status429TooManyRequests);
    }

    private static IResult RawMap(HttpRequest request, HttpResponse response, ExplanationService s) => Guarded(() =>
    {
        var o = s.Request(Query(request));
        if (o.Kind != OutcomeKind.Done) return NotDone(response, o);
        var map = o.Result!.Map;
        var bytes = MapSerializer.ToCompact(map);
        return Results.Ok(new
        {
            width = map.Width,
            height = map.Height,
            encoding = "u8", // value = byte / 255, row-major, top row first
            data = Convert.ToBase64String(bytes, MapSerializer.CompactHeaderSize, bytes.Length - MapSerializer.CompactHeaderSize),
            classIndex = map.ClassIndex,
            probability = map.Probability,
            layer = map.Layer,
        });
    });

    /// <summary>The map at the original resolution as a NumPy file: float32, shape (height, width), values in [0, 1].</summary>
    private static IResult NpyMap(HttpRequest request, HttpResponse response, ExplanationService s) => Guarded(() =>
    {
        var o = s.Request(Query(request));
        if (o.Kind != OutcomeKind.Done) return NotDone(response, o);
        return Results.File(MapSerializer.ToNpy(o.Result!.Map), "application/octet-stream", DownloadName(o.Target, "npy"));
    });

    /// <summary>"model_method_image.ext" for downloads, with anything but letters, digits, '.', '-' and '_' replaced.</summary>
    private static string DownloadName(ExplanationTarget t, string extension)
    {
        string image = Path.GetFileNameWithoutExtension(t.ImageId);
        string name = $"{t.What.Model.Card.Id}_{t.What.Explainer.Id}_{image}" + (t.What.RandomisedLayers > 0 ? $"_randomised{t.What.RandomisedLayers}" : "");
        return new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray()) + "." + extension;
    }

    /// <summary>Whether the request asks for CSV (format=csv) rather than JSON; anything else is refused.</summary>
    private static bool WantsCsv(HttpRequest request) => (request.Query["format"].FirstOrDefault() ?? "json") switch
    {
        "json" => false,
        "csv" => true,
        var f => throw Bad($"format must be 'json' or 'csv', got '{f}'"),
    };

    private static IResult Csv(string fileName, IEnumerable<IEnumerable<object?>> rows) =>
        Results.File(System.Text.Encoding.UTF8.GetBytes(CsvText.Of(rows)), "text/csv; charset=utf-8", fileName);

    private static Task<IResult> Picture(HttpRequest request, HttpResponse response, ExplanationService s) => GuardedAsync(() =>
    {
        var query = Query(request);
        var options = new HeatmapOptions(
            Threshold: OptionalDouble(request, "threshold") ?? 0.5,
            Colormap: request.Query["colormap"].FirstOrDefault() ?? "viridis",
            Alpha: OptionalDouble(request, "alpha") ?? 0.5,
            ContourLevels: OptionalInt(request, "contours") ?? 4);
        string kind = request.Query["kind"].FirstOrDefault() ?? "overlay";
        if (kind is not ("overlay" or "filtered")) throw Bad($"kind must be 'overlay' or 'filtered', got '{kind}'");
        ExplanationService.CheckPicture(options); // before anything is queued
        var o = s.Request(query);
        if (o.Kind != OutcomeKind.Done) return NotDone(response, o);
        response.Headers.CacheControl = "private, max-age=3600";
        return Results.File(s.Picture(o.Target, o.Result!, options, filtered: kind == "filtered"), "image/png");
    });

    private static Task<IResult> Histogram(HttpRequest request, HttpResponse response, ExplanationService s) => GuardedAsync(() =>
    {
        double threshold = OptionalDouble(request, "threshold") ?? 0.5;
        int bins = OptionalInt(request, "bins") ?? 256;
        ExplanationService.CheckHistogram(threshold, bins); // before anything is queued
        var o = s.Request(Query(request));
        if (o.Kind != OutcomeKind.Done) return NotDone(response, o);
        var h = s.Histogram(o.Target, o.Result!, threshold, bins);
        return Results.Ok(new
        {
            bins = h.Bins, r = h.Red, g = h.Green, b = h.Blue, pixels = h.PixelCount, threshold,
            model = o.Target.What.Model.Card.Id, image = o.Target.ImageId, method = o.Target.What.Explainer.Id,
        });
    });

    private static Task<IResult> Similarity(HttpRequest request, HttpResponse response, ExplanationService s) => GuardedAsync(() =>
    {
        var models = (request.Query["models"].FirstOrDefault() ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var q = Query(request);
        bool csv = WantsCsv(request);
        var o = s.Similarity(models, q.Image, q.Method, request.Query["metric"].FirstOrDefault(), q.ClassIndex, q.Seed, q.Settings);
        switch (o.Kind)
        {
            case OutcomeKind.Full: return Full(response, o.RetryAfterMs, o.Error);
            case OutcomeKind.Failed:
                return Results.Json(new { status = "failed", error = o.Error, models = o.Models, matrix = (double[][]?)null },
                    statusCode: StatusCodes.Status500InternalServerError);
            case OutcomeKind.Done:
                int n = o.Models.Count;
                var rows = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => o.Matrix![i, j]).ToArray()).ToArray();
                // CSV: a header of model ids, then one row per model, its id first (pandas: read_csv(..., index_col=0)).
                if (csv)
                    return Csv($"similarity_{request.Query["metric"].FirstOrDefault()}_{q.Method}.csv",
                        o.Models.Select((m, i) => rows[i].Cast<object?>().Prepend(m)).Prepend(o.Models.Cast<object?>().Prepend("model")));
                return Results.Ok(new { status = "done", models = o.Models, matrix = rows, metric = request.Query["metric"].FirstOrDefault(), method = q.Method, image = q.Image });
            default:
                return Results.Json(new
                {
                    status = o.Kind == OutcomeKind.Running ? "running" : "queued",
                    models = o.Models, matrix = (double[][]?)null, progress = Math.Round(o.Progress, 4), retryAfterMs = o.RetryAfterMs, pending = o.Pending,
                }, statusCode: StatusCodes.Status202Accepted);
        }
    });

    private static Task<IResult> Ranking(HttpRequest request, ExplanationService s) => GuardedAsync(() =>
    {
        static string[] List(HttpRequest r, string name) =>
            (r.Query[name].FirstOrDefault() ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string target = request.Query["target"].FirstOrDefault() ?? "predicted";
        if (target is not ("predicted" or "label")) throw Bad($"target must be 'predicted' or 'label', got '{target}'");
        bool csv = WantsCsv(request);
        var o = s.Rank(List(request, "models"), List(request, "images"), List(request, "methods"), explainLabel: target == "label");
        if (csv && o.Kind == OutcomeKind.Done)
            return Csv("method_ranking.csv", o.Methods.Select((m, i) => new object?[] { i + 1, m.Method, m.DisplayName, m.Deletion, m.Insertion, m.Done, m.Failed, m.Total })
                .Prepend(["rank", "method", "name", "deletion", "insertion", "done", "failed", "total"]));
        var methods = o.Methods.Select(m => new
        {
            method = m.Method, displayName = m.DisplayName, deletion = m.Deletion, insertion = m.Insertion,
            done = m.Done, failed = m.Failed, total = m.Total,
        });
        return o.Kind == OutcomeKind.Done
            ? Results.Ok(new { status = "done", methods, progress = 1.0 })
            : Results.Json(new { status = "running", methods, progress = Math.Round(o.Progress, 4), retryAfterMs = o.RetryAfterMs },
                statusCode: StatusCodes.Status202Accepted);
    });

    private static Task<IResult> Randomisation(HttpRequest request, HttpResponse response, ExplanationService s) => GuardedAsync(() =>
    {
        var o = s.CheckRandomisation(Query(request), OptionalInt(request, "layers") ?? RandomisationCheck.DefaultLayers);
        // The maps' own URLs: the trained one, and each step with its 'randomised' depth.
        string identity = IdentityQuery(request);
        string With(int k) => k == 0 ? identity : identity + (identity.Length == 0 ? "?" : "&") + "randomised=" + k.ToString(CultureInfo.InvariantCulture);
        var levels = o.Levels.Select(l => new
        {
            layers = l.Layers,
            spearman = l.Spearman is { } r ? Math.Round(r, 6) : (double?)null,
            done = l.Done,
            pngUrl = "/api/explanations/png" + With(l.Layers),
            mapUrl = "/api/explanations/map" + With(l.Layers),
        });
        var t = o.Trained.What;
        var trained = new { pngUrl = "/api/explanations/png" + identity, mapUrl = "/api/explanations/map" + identity };
        switch (o.Kind)
        {
            case OutcomeKind.Full: return Full(response, o.RetryAfterMs, o.Error);
            case OutcomeKind.Failed:
                return Results.Json(new { status = "failed", error = o.Error, model = t.Model.Card.Id, image = o.Trained.ImageId, method = t.Explainer.Id },
                    statusCode: StatusCodes.Status500InternalServerError);
            case OutcomeKind.Done:
                int cls = o.ClassIndex!.Value;
                return Results.Ok(new
                {
                    status = "done", model = t.Model.Card.Id, image = o.Trained.ImageId, method = t.Explainer.Id, seed = t.Request.Seed,
                    classIndex = cls, className = s.ClassName(cls), passed = o.Passed, passBelow = RandomisationCheck.PassBelow,
                    trained, levels,
                });
            default:
                return Results.Json(new
                {
                    status = o.Kind == OutcomeKind.Running ? "running" : "queued", model = t.Model.Card.Id, image = o.Trained.ImageId,
                    method = t.Explainer.Id, progress = Math.Round(o.Progress, 4), retryAfterMs = o.RetryAfterMs, trained, levels,
                }, statusCode: StatusCodes.Status202Accepted);
        }
    });

    /// <summary>The explanation query from the URL; every parameter that is not reserved is an explainer setting.</summary>
    private static ExplanationQuery Query(HttpRequest request)
    {
        var settings = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, values) in request.Query)
        {
            if (Reserved.Contains(name) || name.StartsWith('_')) continue;
            string text = values.FirstOrDefault() ?? "";
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                throw Bad($"setting '{name}' must be a number, got '{text}'");
            settings[name] = v;
        }
        string? layer = request.Query["layer"].FirstOrDefault();
        return new ExplanationQuery(request.Query["model"].FirstOrDefault(), request.Query["image"].FirstOrDefault(),
            request.Query["method"].FirstOrDefault(), OptionalInt(request, "class"), string.IsNullOrEmpty(layer) ? null : layer,
            OptionalInt(request, "seed") ?? 0, settings, OptionalInt(request, "randomised") ?? 0);
    }

    /// <summary>"?model=…&amp;image=…" with only what identifies the explanation (and the settings), for mapUrl/pngUrl.</summary>
    private static string IdentityQuery(HttpRequest request)
    {
        var q = new QueryBuilder();
        foreach (var (name, values) in request.Query)
            if (Identity.Contains(name) || (!Reserved.Contains(name) && !name.StartsWith('_')))
                q.Add(name, values.FirstOrDefault() ?? "");
        return q.ToQueryString().Value ?? "";
    }

    private static int? OptionalInt(HttpRequest request, string name)
    {
        string? text = request.Query[name].FirstOrDefault();
        if (string.IsNullOrEmpty(text)) return null;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw Bad($"{name} must be a whole number, got '{text}'");
    }

    private static double? OptionalDouble(HttpRequest request, string name)
    {
        string? text = request.Query[name].FirstOrDefault();
        if (string.IsNullOrEmpty(text)) return null;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : throw Bad($"{name} must be a number, got '{text}'");
    }

    private static ExplanationRequestException Bad(string message) => new(RequestProblem.BadRequest, message);
}
