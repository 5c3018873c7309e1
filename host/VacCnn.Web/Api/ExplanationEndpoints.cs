using System.Globalization;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using VacCnn.Engine;
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
        "contours", "kind", "size", "images", "methods", "target", "randomised", "layers", "format", "wait",
    };

    // Parameters that identify an explanation (kept in mapUrl / pngUrl).
    private static readonly HashSet<string> Identity = new(StringComparer.Ordinal) { "model", "image", "method", "class", "layer", "seed", "randomised" };

    /// <summary>Maps /api/explainers, /api/metrics, /api/images…, /api/explanations…, /api/similarity, /api/histogram,
    /// /api/ranking and /api/randomisation, each with its response types and problems in the OpenAPI document.</summary>
    public static RouteGroupBuilder MapExplanationApi(this RouteGroupBuilder api)
    {
        const int Bad = StatusCodes.Status400BadRequest, NotFound = StatusCodes.Status404NotFound,
            Full = StatusCodes.Status429TooManyRequests, Unreadable = StatusCodes.Status422UnprocessableEntity;
        api.MapGet("/explainers", (ExplanationService s) => TypedResults.Ok(s.Runner.Explainers
                .Select(e => new ExplainerInfo(e.Id, e.DisplayName, e.Description, e.Settings)).ToList()))
            .WithSummary("The explanation methods with their settings").ProducesProblems();
        api.MapGet("/metrics", (ExplanationService s) => TypedResults.Ok(s.Metrics
                .Select(m => new MetricInfo(m.Id, m.DisplayName, m.Description)).ToList()))
            .WithSummary("The similarity metrics").ProducesProblems();
        api.MapGet("/images", ListImages).WithSummary("The images of the image set, optionally of one class (class=)")
            .Produces<List<ImageInfo>>().ProducesProblems(Bad);
        // The form is read by hand (no IFormFile binding, so no antiforgery token): a JSON API for scripts and pages alike.
        api.MapPost("/images", Upload).WithSummary("Upload a photo (multipart field 'file'; JPEG, PNG or WebP)")
            .Accepts<IFormFile>("multipart/form-data")
            .Produces<UploadInfo>(StatusCodes.Status201Created).Produces<UploadInfo>()
            .ProducesProblems(Bad, StatusCodes.Status403Forbidden, NotFound, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType, Unreadable);
        api.MapGet("/images/{id}/file", ImageFile).WithSummary("The image file as stored (its own format)")
            .ProducesFile("image/*").ProducesProblems(NotFound);
        api.MapGet("/images/{id}/thumb", Thumbnail).WithSummary("A JPEG thumbnail (size= 16..512, default 96)")
            .ProducesFile("image/jpeg").ProducesProblems(Bad, NotFound, Unreadable);
        api.MapGet("/explanations", Explanation).WithSummary("One explanation: computed once, then served from the store (wait= up to 10000 ms to hold the request until done)")
            .Produces<ExplanationInfo>().InProgress().ProducesProblems(Bad, NotFound, Full, Unreadable);
        api.MapGet("/explanations/map", RawMap).WithSummary("The map at the image's resolution, 8 bits per pixel")
            .Produces<RawMapInfo>().InProgress().ProducesProblems(Bad, NotFound, Full, Unreadable);
        api.MapGet("/explanations/png", Picture).WithSummary("The map as a PNG: overlay with contours, or the filtered image")
            .ProducesFile("image/png").InProgress().ProducesProblems(Bad, NotFound, Full, Unreadable);
        api.MapGet("/explanations/npy", NpyMap).WithSummary("The map as a NumPy file: float32, shape (height, width), in [0, 1]")
            .ProducesFile("application/octet-stream").InProgress()
            .ProducesProblems(Bad, NotFound, Full, Unreadable);
        api.MapGet("/similarity", Similarity).WithSummary("The similarity matrix of the models' maps (format=json or csv)")
            .Produces<SimilarityInfo>().OrCsv()
            .Produces<SimilarityInfo>(StatusCodes.Status202Accepted).ProducesProblems(Bad, NotFound, Full, Unreadable);
        api.MapGet("/histogram", Histogram).WithSummary("Colour intensities of the salient region (threshold=, bins=)")
            .Produces<HistogramInfo>().InProgress().ProducesProblems(Bad, NotFound, Full, Unreadable);
        api.MapGet("/ranking", Ranking).WithSummary("Methods ranked by deletion/insertion over models × images (format=json or csv)")
            .Produces<RankingInfo>().OrCsv()
            .Produces<RankingInfo>(StatusCodes.Status202Accepted).ProducesProblems(Bad, NotFound);
        api.MapGet("/randomisation", Randomisation).WithSummary("The model-randomisation check of one explanation (layers=)")
            .Produces<RandomisationInfo>().Produces<RandomisationInfo>(StatusCodes.Status202Accepted)
            .ProducesProblems(Bad, NotFound, Full, Unreadable);
        return api;
    }

    // format=csv: the same 200 as text/csv (one response per status in the endpoint metadata, so added to the document).
    private static RouteHandlerBuilder OrCsv(this RouteHandlerBuilder endpoint) =>
        endpoint.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Responses![StatusCodes.Status200OK.ToString(CultureInfo.InvariantCulture)].Content!["text/csv"] =
                new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } };
            return Task.CompletedTask;
        });

    // A 200 whose body is a file: binary content of that media type.
    private static RouteHandlerBuilder ProducesFile(this RouteHandlerBuilder endpoint, string contentType) =>
        endpoint.Produces(StatusCodes.Status200OK).AddOpenApiOperationTransformer((operation, _, _) =>
        {
            var ok = (OpenApiResponse)operation.Responses![StatusCodes.Status200OK.ToString(CultureInfo.InvariantCulture)];
            ok.Content ??= new Dictionary<string, OpenApiMediaType>();
            ok.Content[contentType] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } };
            return Task.CompletedTask;
        });

    // 202 of the single-explanation endpoints.
    private static RouteHandlerBuilder InProgress(this RouteHandlerBuilder endpoint) =>
        endpoint.Produces<WorkInProgress>(StatusCodes.Status202Accepted);

    // Rendering and matrix work moves off the request thread; a rejected request still reaches the API's filter.
    private static Task<IResult> OffRequestThread(Func<IResult> handler) => Task.Run(handler);

    private static IResult ListImages(HttpRequest request, ExplanationService s)
    {
        int? cls = OptionalInt(request, "class");
        if (cls is int c && (c < 0 || c >= s.Classes.Classes.Count))
            throw Bad($"class {c} is out of range 0..{s.Classes.Classes.Count - 1}");
        return TypedResults.Ok(s.Images.List(cls).Select(i => new ImageInfo(i.Id, i.File, i.Wnid, i.ClassIndex, s.ClassName(i.ClassIndex),
            i.Width, i.Height, $"/api/images/{Uri.EscapeDataString(i.Id)}/file", $"/api/images/{Uri.EscapeDataString(i.Id)}/thumb")).ToList());
    }

    /// <summary>Whether uploads are allowed: <see cref="VacCnnOptions.Uploads"/>, or by default only when anyone may browse.</summary>
    internal static bool UploadsAllowed(VacCnnOptions o, SecurityOptions security) => o.Uploads ?? !security.IsPrivate;

    private static async Task<IResult> Upload(HttpRequest request, ExplanationService s, IOptions<VacCnnOptions> options,
        IOptions<SecurityOptions> security)
    {
        if (!UploadsAllowed(options.Value, security.Value))
            return ApiProblems.Of(StatusCodes.Status403Forbidden, "uploads are disabled on this server (VacCnn:Uploads)");
        if (s.Images.Uploads is not { } store) return ApiProblems.Of(StatusCodes.Status404NotFound, "this server keeps no uploads");
        // Room for the multipart framing around the largest accepted file; anything longer is refused unread.
        long limit = store.Limits.MaxFileBytes + (64 << 10);
        var tooLarge = ApiProblems.Of(StatusCodes.Status413PayloadTooLarge, $"the upload is larger than the {store.Limits.MaxFileBytes >> 20} MB allowed");
        if (request.ContentLength > limit) return tooLarge;
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
        if (!request.HasFormContentType || !request.ContentType!.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            throw Bad("send the photo as multipart/form-data in a field named 'file'");
        IFormCollection form;
        try { form = await request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = limit }, request.HttpContext.RequestAborted); }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException)
        {
            return e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }
                   || e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
                ? tooLarge
                : ApiProblems.Of(StatusCodes.Status400BadRequest, $"the multipart form cannot be read: {e.Message}");
        }
        if (form.Files.GetFile("file") is not { } file) throw Bad("missing the multipart field 'file' with the photo");
        await using var stream = file.OpenReadStream();
        var u = await Task.Run(() => store.Add(stream)); // a refused photo is a RequestRejectedException: 413, 415 or 422
        string escaped = Uri.EscapeDataString(u.Id);
        var body = new UploadInfo(u.Id, u.Format, u.Width, u.Height, u.Bytes, u.Existing, $"/api/images/{escaped}/file", $"/api/images/{escaped}/thumb");
        return u.Existing ? TypedResults.Ok(body) : TypedResults.Created($"/api/images/{escaped}/file", body);
    }

    // Route values keep an encoded slash as "%2F" (Kestrel does not decode it); ids are relative paths.
    private static string? ImagePath(ExplanationService s, string id) =>
        s.Images.Resolve(id.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase));

    private static IResult ImageFile(string id, ExplanationService s) =>
        ImagePath(s, id) is { } path
            ? Results.File(path, ContentType(path), enableRangeProcessing: false)
            : throw NoImage(id);

    private static RequestRejectedException NoImage(string id) => new(RequestProblem.NotFound, $"no image '{id}' in the image set");

    private static Task<IResult> Thumbnail(string id, HttpRequest request, HttpResponse response, ExplanationService s) => OffRequestThread(() =>
    {
        int size = OptionalInt(request, "size") ?? 96;
        if (size is < 16 or > 512) throw Bad($"size must be from 16 to 512 pixels, got {size}");
        if (ImagePath(s, id) is not { } path) throw NoImage(id);
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

    /// <summary>Longest <c>wait=</c> (milliseconds) a request may hold its connection for pending work.</summary>
    public const int MaxWaitMs = 10_000;

    private static async Task<IResult> Explanation(HttpRequest request, HttpResponse response, ExplanationService s)
    {
        // wait=ms: long polling, so a cheap map usually comes back in the first answer instead of a 202 to poll.
        int wait = OptionalInt(request, "wait") ?? 0;
        if (wait is < 0 or > MaxWaitMs) throw Bad($"wait must be from 0 to {MaxWaitMs} milliseconds, got {wait}");
        var target = s.Resolve(Query(request));
        var o = wait == 0 ? s.Request(target) : await s.RequestAsync(target, TimeSpan.FromMilliseconds(wait), request.HttpContext.RequestAborted);
        if (o.Kind != OutcomeKind.Done) return NotDone(response, o);
        var r = o.Result!;
        var t = o.Target;
        string identity = IdentityQuery(request);
        // Deletion (lower = more faithful) and insertion (higher = more faithful) AUC; see DeletionInsertion.
        return TypedResults.Ok(new ExplanationInfo("done", r.ModelId, t.ImageId, r.Method,
            r.ClassIndex, s.ClassName(r.ClassIndex), r.Probability,
            r.PredictedIndex, s.ClassName(r.PredictedIndex), r.PredictedProbability,
            t.GroundTruth?.ClassIndex, t.GroundTruth is { } g ? s.ClassName(g.ClassIndex) : null,
            r.Layer, r.ImageWidth, r.ImageHeight, r.Millis, r.Seed, r.Crop,
            r.Quality?.Deletion, r.Quality?.Insertion, r.Quality,
            r.Key, "/api/explanations/map" + identity, "/api/explanations/png" + identity, "/api/explanations/npy" + identity, r.ComputedBy));
    }

    private static IResult NotDone(HttpResponse response, ExplanationOutcome o) => o.Kind switch
    {
        OutcomeKind.Full => Full(response, o.RetryAfterMs, o.Error),
        OutcomeKind.Failed => Failed(o.Error, o.Target),
        _ => TypedResults.Json(new WorkInProgress(o.Kind == OutcomeKind.Running ? "running" : "queued", Math.Round(o.Progress, 4),
            o.RetryAfterMs, o.Target.What.Model.Card.Id, o.Target.ImageId, o.Target.What.Explainer.Id), statusCode: StatusCodes.Status202Accepted),
    };

    // The computation itself failed (an image that cannot be decoded, a plugin that threw): a 500 naming what failed.
    private static IResult Failed(string? error, ExplanationTarget t) => ApiProblems.Of(StatusCodes.Status500InternalServerError,
        error ?? "the explanation failed", new Dictionary<string, object?>
        {
            ["model"] = t.What.Model.Card.Id, ["image"] = t.ImageId, ["method"] = t.What.Explainer.Id,
        });

    // The queue is at capacity: 429 with Retry-After in seconds, and the same delay in milliseconds in the body.
    private static IResult Full(HttpResponse response, int retryAfterMs, string? error)
    {
        response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfterMs / 1000.0)).ToString(CultureInfo.InvariantCulture);
        return ApiProblems.Of(StatusCodes.Status429TooManyRequests, error ?? "the explanation queue is full",
            new Dictionary<string, object?> { ["retryAfterMs"] = retryAfterMs });
    }

    private static IResult RawMap(HttpRequest request, HttpResponse response, ExplanationService s)
    {
        var o = s.Request(Query(request));
        if (o.Kind != OutcomeKind.Done) return NotDone(response, o);
        var map = o.Result!.Map;
        var bytes = MapSerializer.ToCompact(map);
        return TypedResults.Ok(new RawMapInfo(map.Width, map.Height, "u8",
            Convert.ToBase64String(bytes, MapSerializer.CompactHeaderSize, bytes.Length - MapSerializer.CompactHeaderSize),
            map.ClassIndex, map.Probability, map.Layer));
    }

    /// <summary>The map at the original resolution as a NumPy file: float32, shape (height, width), values in [0, 1].</summary>
    private static IResult NpyMap(HttpRequest request, HttpResponse response, ExplanationService s)
    {
        var o = s.Request(Query(request));
        if (o.Kind != OutcomeKind.Done) return NotDone(response, o);
        return Results.File(MapSerializer.ToNpy(o.Result!.Map), "application/octet-stream", DownloadName(o.Target, "npy"));
    }

    /// <summary>"model_method_image.ext" for downloads, with anything but letters, digits, '.', '-' and '_' replaced.</summary>
    private static string DownloadName(ExplanationTarget t, string extension)
    {
        string image = Path.GetFileNameWithoutExtension(t.ImageId);
        return SafeFileName($"{t.What.Model.Card.Id}_{t.What.Explainer.Id}_{image}"
                            + (t.What.RandomisedLayers > 0 ? $"_randomised{t.What.RandomisedLayers}" : "")) + "." + extension;
    }

    private static string SafeFileName(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray());

    /// <summary>Whether the request asks for CSV (format=csv) rather than JSON; anything else is refused.</summary>
    private static bool WantsCsv(HttpRequest request) => (request.Query["format"].FirstOrDefault() ?? "json") switch
    {
        "json" => false,
        "csv" => true,
        var f => throw Bad($"format must be 'json' or 'csv', got '{f}'"),
    };

    private static IResult Csv(string fileName, string csv) =>
        Results.File(System.Text.Encoding.UTF8.GetBytes(csv), "text/csv; charset=utf-8", fileName);

    private static Task<IResult> Picture(HttpRequest request, HttpResponse response, ExplanationService s) => OffRequestThread(() =>
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

    private static Task<IResult> Histogram(HttpRequest request, HttpResponse response, ExplanationService s) => OffRequestThread(() =>
    {
        double threshold = OptionalDouble(request, "threshold") ?? 0.5;
        int bins = OptionalInt(request, "bins") ?? 256;
        ExplanationService.CheckHistogram(threshold, bins); // before anything is queued
        var o = s.Request(Query(request));
        if (o.Kind != OutcomeKind.Done) return NotDone(response, o);
        var h = s.Histogram(o.Target, o.Result!, threshold, bins);
        return TypedResults.Ok(new HistogramInfo(h.Bins, h.Red, h.Green, h.Blue, h.PixelCount, threshold,
            o.Target.What.Model.Card.Id, o.Target.ImageId, o.Target.What.Explainer.Id));
    });

    private static Task<IResult> Similarity(HttpRequest request, HttpResponse response, ExplanationService s) => OffRequestThread(() =>
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
                return ApiProblems.Of(StatusCodes.Status500InternalServerError, o.Error ?? "a map failed",
                    new Dictionary<string, object?> { ["models"] = o.Models });
            case OutcomeKind.Done:
                int n = o.Models.Count;
                var rows = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => o.Matrix![i, j]).ToArray()).ToArray();
                if (csv)
                    return Csv(SafeFileName($"similarity_{request.Query["metric"].FirstOrDefault()}_{q.Method}") + ".csv", CsvText.Matrix(o.Models, o.Matrix!));
                return TypedResults.Ok(new SimilarityInfo("done", o.Models, rows, request.Query["metric"].FirstOrDefault(), q.Method, q.Image));
            default:
                return TypedResults.Json(new SimilarityInfo(o.Kind == OutcomeKind.Running ? "running" : "queued", o.Models, null,
                    Progress: Math.Round(o.Progress, 4), RetryAfterMs: o.RetryAfterMs, Pending: o.Pending), statusCode: StatusCodes.Status202Accepted);
        }
    });

    private static Task<IResult> Ranking(HttpRequest request, ExplanationService s) => OffRequestThread(() =>
    {
        static string[] List(HttpRequest r, string name) =>
            (r.Query[name].FirstOrDefault() ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string target = request.Query["target"].FirstOrDefault() ?? "predicted";
        if (target is not ("predicted" or "label")) throw Bad($"target must be 'predicted' or 'label', got '{target}'");
        bool csv = WantsCsv(request);
        var o = s.Rank(List(request, "models"), List(request, "images"), List(request, "methods"), explainLabel: target == "label");
        if (csv && o.Kind == OutcomeKind.Done)
            return Csv("method_ranking.csv", CsvText.Of(o.Methods.Select((m, i) => new object?[] { i + 1, m.Method, m.DisplayName, m.Deletion, m.Insertion, m.Done, m.Failed, m.Total })
                .Prepend(["rank", "method", "name", "deletion", "insertion", "done", "failed", "total"])));
        return o.Kind == OutcomeKind.Done
            ? TypedResults.Ok(new RankingInfo("done", o.Methods, 1.0))
            : TypedResults.Json(new RankingInfo("running", o.Methods, Math.Round(o.Progress, 4), o.RetryAfterMs), statusCode: StatusCodes.Status202Accepted);
    });

    private static Task<IResult> Randomisation(HttpRequest request, HttpResponse response, ExplanationService s) => OffRequestThread(() =>
    {
        var o = s.CheckRandomisation(Query(request), OptionalInt(request, "layers") ?? RandomisationCheck.DefaultLayers);
        // The maps' own URLs: the trained one, and each step with its 'randomised' depth.
        string identity = IdentityQuery(request);
        string With(int k) => k == 0 ? identity : identity + (identity.Length == 0 ? "?" : "&") + "randomised=" + k.ToString(CultureInfo.InvariantCulture);
        var levels = o.Levels.Select(l => new RandomisationLevelInfo(l.Layers, l.Spearman is { } r ? Math.Round(r, 6) : null, l.Done,
            "/api/explanations/png" + With(l.Layers), "/api/explanations/map" + With(l.Layers))).ToList();
        var t = o.Trained.What;
        var trained = new MapLinks("/api/explanations/png" + identity, "/api/explanations/map" + identity);
        switch (o.Kind)
        {
            case OutcomeKind.Full: return Full(response, o.RetryAfterMs, o.Error);
            case OutcomeKind.Failed: return Failed(o.Error, o.Trained);
            case OutcomeKind.Done:
                int cls = o.ClassIndex!.Value;
                return TypedResults.Ok(new RandomisationInfo("done", t.Model.Card.Id, o.Trained.ImageId, t.Explainer.Id, trained, levels,
                    Seed: t.Request.Seed, ClassIndex: cls, ClassName: s.ClassName(cls), Passed: o.Passed, PassBelow: RandomisationCheck.PassBelow));
            default:
                return TypedResults.Json(new RandomisationInfo(o.Kind == OutcomeKind.Running ? "running" : "queued", t.Model.Card.Id,
                    o.Trained.ImageId, t.Explainer.Id, trained, levels, Progress: Math.Round(o.Progress, 4), RetryAfterMs: o.RetryAfterMs),
                    statusCode: StatusCodes.Status202Accepted);
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

    private static RequestRejectedException Bad(string message) => new(RequestProblem.BadRequest, message);
}
