using System.ComponentModel.DataAnnotations;
using VacCnn.Contracts;

namespace VacCnn.Engine.Configuration;

/// <summary>
/// All of VacCnn's paths and switches, bound from the <c>VacCnn</c> configuration section
/// (appsettings.json, environment variables such as <c>VacCnn__Models</c>, or <c>--VacCnn:Models=...</c>).
/// The CLI takes the same values as flags.
/// </summary>
public sealed class VacCnnOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "VacCnn";

    /// <summary>Models root: one subfolder per model (model.onnx + model.json).</summary>
    [Required] public string Models { get; set; } = "";

    /// <summary>Image set folder (ImageFolder layout, flat wnid-prefixed files, or a labels.csv).</summary>
    public string Images { get; set; } = "";

    /// <summary>Folder with imagenet_class_index.tsv and wordnet.is_a.txt.</summary>
    [Required] public string ImageNet { get; set; } = "";

    /// <summary>Where results are stored (SQLite database and .npy matrices). Created if missing.</summary>
    [Required] public string Data { get; set; } = "";

    /// <summary>Plugins folder: one subfolder per plugin.</summary>
    public string Plugins { get; set; } = "";

    /// <summary>Where models run: Auto (GPU when usable), Cpu or Cuda.</summary>
    public ExecutionDevice Device { get; set; } = ExecutionDevice.Auto;

    /// <summary>Images per evaluation shard: the unit of work that survives a crash.</summary>
    [Range(1, 100_000)] public int ShardSize { get; set; } = 100;

    /// <summary>Images per inference batch.</summary>
    [Range(1, 1024)] public int BatchSize { get; set; } = 16;

    /// <summary>Explanations that may wait for a worker (per host that takes requests); beyond this, requests are refused
    /// (HTTP 429) instead of queued.</summary>
    [Range(1, 10_000)] public int ExplanationQueueCapacity { get; set; } = 32;

    /// <summary>Expensive explanations (heavy and precompute lanes) computed at once by each process with jobs (each uses
    /// the model's own threads too).</summary>
    [Range(1, 64)] public int ExplanationWorkers { get; set; } = 1;

    /// <summary>Cheap explanations (the interactive lane) computed at once by each process with jobs: these workers take
    /// nothing else, so a Grad-CAM never waits behind a BBMP.</summary>
    [Range(1, 64)] public int InteractiveWorkers { get; set; } = 1;

    /// <summary>Threads each model's inference session may use; 0 = every core. 1 suits a worker per core (several
    /// worker processes on one machine, or <see cref="ExplanationWorkers"/> equal to the cores).</summary>
    [Range(0, 256)] public int InferenceThreads { get; set; }

    /// <summary>Memory for recently used explanation maps, in MB (all finished maps are also kept on disk).</summary>
    [Range(1, 65_536)] public int ExplanationCacheMegabytes { get; set; } = 128;

    /// <summary>Disk for finished explanation maps, in MB; past it the least recently used are deleted.</summary>
    [Range(1, 1_048_576)] public int ExplanationDiskMegabytes { get; set; } = 4096;

    /// <summary>
    /// Steps of the deletion and insertion curves measured with every explanation (2·steps + 1 forward passes each);
    /// 0 = not measured.
    /// </summary>
    [Range(0, 256)] public int QualitySteps { get; set; } = 16;

    /// <summary>
    /// Whether users may upload their own photos (Compare page, <c>POST /api/images</c>). Unset: allowed when anyone may
    /// browse, refused when <c>VacCnn:Security:Browsing</c> is <c>private</c> (the site then needs an account, and
    /// photos would be stored for every account to see); true or false decides outright.
    /// </summary>
    public bool? Uploads { get; set; }

    /// <summary>Largest photo a user may upload, in MB.</summary>
    [Range(1, 256)] public int UploadMegabytes { get; set; } = 20;

    /// <summary>Most pixels of an uploaded photo, in megapixels.</summary>
    [Range(1, 100)] public int UploadMegapixels { get; set; } = 40;

    /// <summary>Uploads kept; past it the oldest are deleted.</summary>
    [Range(1, 1_000_000)] public int MaxUploads { get; set; } = 500;

    /// <summary>Disk for uploads, in MB; past it the oldest are deleted.</summary>
    [Range(1, 1_048_576)] public int UploadDiskMegabytes { get; set; } = 1024;

    /// <summary>Value of <see cref="Storage"/> for one machine: SQLite tables in <see cref="Data"/>, in-memory job queue.</summary>
    public const string EmbeddedStorage = "embedded";

    /// <summary>Value of <see cref="Storage"/> for several workers: tables and job queue in PostgreSQL.</summary>
    public const string PostgresStorage = "postgres";

    /// <summary>
    /// Where the result tables and the job queue live: <c>embedded</c> (default; SQLite in <see cref="Data"/>, Hangfire in
    /// memory, one machine) or <c>postgres</c> (both in the <see cref="PostgreSql"/> database, so several worker
    /// processes on several machines share the precompute; <see cref="Data"/> must then be a folder they all share,
    /// since the matrices stay files).
    /// </summary>
    public string Storage { get; set; } = EmbeddedStorage;

    /// <summary>Npgsql connection string used when <see cref="Storage"/> is <c>postgres</c>.</summary>
    public string PostgreSql { get; set; } = "";

    /// <summary>
    /// Seconds a shard stays with a worker that stopped reporting (killed, hung, disconnected) before another worker
    /// takes it over. Renewed after every batch, so it must exceed the time of one batch on the slowest model.
    /// </summary>
    [Range(2, 86_400)] public int ShardLeaseSeconds { get; set; } = 60;

    /// <summary>True when <see cref="Storage"/> selects PostgreSQL.</summary>
    public bool UsesPostgres => string.Equals(Storage?.Trim(), PostgresStorage, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Checks that the configured folders exist (and the data folder can be created), returning one clear message
    /// per problem; empty when all is well.
    /// </summary>
    public IReadOnlyList<string> Validate(bool needImages = false)
    {
        var problems = new List<string>();
        void Folder(string name, string value, bool required)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                if (required) problems.Add($"VacCnn:{name} is not set (folder expected).");
            }
            else if (!Directory.Exists(value))
                problems.Add($"VacCnn:{name} = '{value}' does not exist or is not a folder.");
        }
        Folder(nameof(Models), Models, true);
        Folder(nameof(ImageNet), ImageNet, true);
        Folder(nameof(Images), Images, needImages);
        Folder(nameof(Plugins), Plugins, false);
        if (string.IsNullOrWhiteSpace(Data))
            problems.Add("VacCnn:Data is not set (folder for results expected).");
        else
        {
            try { Directory.CreateDirectory(Data); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { problems.Add($"VacCnn:Data = '{Data}' cannot be created: {e.Message}"); }
        }
        if (!UsesPostgres && !string.Equals(Storage?.Trim(), EmbeddedStorage, StringComparison.OrdinalIgnoreCase))
            problems.Add($"VacCnn:Storage = '{Storage}' must be '{EmbeddedStorage}' or '{PostgresStorage}'.");
        if (UsesPostgres && string.IsNullOrWhiteSpace(PostgreSql))
            problems.Add("VacCnn:Storage is 'postgres' but VacCnn:PostgreSql (the connection string) is not set.");
        // Numeric bounds live in one place, the [Range] attribute of each setting.
        foreach (var property in typeof(VacCnnOptions).GetProperties())
            if (property.GetCustomAttributes(typeof(RangeAttribute), false) is [RangeAttribute range]
                && property.GetValue(this) is int value && (value < (int)range.Minimum || value > (int)range.Maximum))
                problems.Add($"VacCnn:{property.Name} = {value} must be from {range.Minimum} to {range.Maximum}.");
        return problems;
    }
}
