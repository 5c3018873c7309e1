using System.Text.Json;
using System.Text.Json.Serialization;

namespace VacCnn.Models.Onnx;

/// <summary>The <c>input</c> section of <c>model.json</c>: how an image becomes the input tensor.</summary>
/// <param name="Name">Graph input name.</param>
/// <param name="Layout">Tensor layout; only "NCHW" is supported.</param>
/// <param name="Size">Crop size (square), pixels.</param>
/// <param name="Resize">Shorter side after resizing, before the centre crop; ≥ <paramref name="Size"/>.</param>
/// <param name="Channels">"RGB" or "BGR".</param>
/// <param name="Mean">Per-channel mean in 0..255 units, in the model's channel order.</param>
/// <param name="Std">Per-channel standard deviation in 0..255 units, non-zero.</param>
public sealed record ManifestInput(
    string? Name, string? Layout, int? Size, int? Resize, string? Channels, double[]? Mean, double[]? Std);

/// <summary>The <c>output</c> section of <c>model.json</c>.</summary>
/// <param name="Name">Graph output name.</param>
/// <param name="Kind">"logits" or "probabilities".</param>
public sealed record ManifestOutput(string? Name, string? Kind);

/// <summary>
/// <c>model.json</c> beside a <c>model.onnx</c> (schema: model.schema.json). Every field is optional; what is
/// missing is inferred from the graph and reported as a warning. Unknown fields are ignored.
/// </summary>
public sealed record ModelManifest(
    string? Id,
    string? Name,
    string? Family,
    string? Onnx,
    ManifestInput? Input,
    ManifestOutput? Output,
    string? Labels,
    string? TargetLayer,
    string? Source,
    string? Licence)
{
    /// <summary>The manifest's file name inside a model folder.</summary>
    public const string FileName = "model.json";

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    /// <summary>Parses and validates manifest text.</summary>
    /// <exception cref="FormatException">Invalid JSON or a value out of range; the message says which.</exception>
    public static ModelManifest Parse(string json)
    {
        ModelManifest? m;
        try { m = JsonSerializer.Deserialize<ModelManifest>(json, Options); }
        catch (JsonException e)
        {
            // JsonException carries the JSON path and line, which is what a user needs to fix the file.
            throw new FormatException($"{FileName} is not valid JSON for a model manifest: {e.Message}", e);
        }
        if (m == null) throw new FormatException($"{FileName} is empty (null)");
        var errors = m.Validate();
        if (errors.Count > 0) throw new FormatException($"{FileName} is invalid: {string.Join("; ", errors)}");
        return m;
    }

    /// <summary>Range checks; returns one message per problem (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Id is { } id && (id.Length == 0 || id.IndexOfAny(['/', '\\']) >= 0))
            errors.Add($"id '{id}' must be non-empty and contain no path separators");
        if (Onnx is { } onnx && (onnx.Length == 0 || onnx != Path.GetFileName(onnx)))
            errors.Add($"onnx '{onnx}' must be a file name inside the model folder");
        if (Input is { } i)
        {
            if (i.Layout is { } layout && !layout.Equals("NCHW", StringComparison.OrdinalIgnoreCase))
                errors.Add($"input.layout '{layout}' is not supported (only NCHW)");
            if (i.Size is { } size && (size < 1 || size > 4096))
                errors.Add($"input.size {size} is out of range 1..4096");
            if (i.Resize is { } resize)
            {
                if (resize < 1 || resize > 8192) errors.Add($"input.resize {resize} is out of range 1..8192");
                else if (i.Size is { } s && resize < s) errors.Add($"input.resize {resize} is smaller than input.size {s}");
            }
            if (i.Channels is { } ch && ParseChannels(ch) == null)
                errors.Add($"input.channels '{ch}' must be RGB or BGR");
            if (i.Mean is { } mean)
            {
                if (mean.Length != 3) errors.Add($"input.mean must have 3 values, has {mean.Length}");
                else if (mean.Any(v => !double.IsFinite(v))) errors.Add("input.mean values must be finite");
            }
            if (i.Std is { } std)
            {
                if (std.Length != 3) errors.Add($"input.std must have 3 values, has {std.Length}");
                else if (std.Any(v => v == 0 || !double.IsFinite(v))) errors.Add($"input.std values must be finite and non-zero, got [{string.Join(", ", std)}]");
            }
        }
        if (Output?.Kind is { } kind && ParseKind(kind) == null)
            errors.Add($"output.kind '{kind}' must be logits or probabilities");
        return errors;
    }

    internal static Contracts.ChannelOrder? ParseChannels(string s) => s.ToUpperInvariant() switch
    {
        "RGB" => Contracts.ChannelOrder.Rgb,
        "BGR" => Contracts.ChannelOrder.Bgr,
        _ => null,
    };

    internal static Contracts.OutputKind? ParseKind(string s) => s.ToLowerInvariant() switch
    {
        "logits" => Contracts.OutputKind.Logits,
        "probabilities" => Contracts.OutputKind.Probabilities,
        _ => null,
    };
}
