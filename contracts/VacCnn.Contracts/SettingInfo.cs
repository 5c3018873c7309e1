namespace VacCnn.Contracts;

/// <summary>A numeric setting of an explainer or metric, documented for novices.</summary>
public sealed record SettingInfo
{
    /// <summary>A setting with its default and bounds.</summary>
    /// <param name="name">Key used in requests.</param>
    /// <param name="description">One sentence on what it changes.</param>
    /// <param name="default">Default value.</param>
    /// <param name="min">Smallest allowed value.</param>
    /// <param name="max">Largest allowed value.</param>
    public SettingInfo(string name, string description, double @default, double min, double max)
    {
        Name = name;
        Description = description;
        Default = @default;
        Min = min;
        Max = max;
    }

    /// <summary>Key used in requests.</summary>
    public string Name { get; init; }

    /// <summary>One sentence on what it changes.</summary>
    public string Description { get; init; }

    /// <summary>Default value.</summary>
    public double Default { get; init; }

    /// <summary>Smallest allowed value.</summary>
    public double Min { get; init; }

    /// <summary>Largest allowed value.</summary>
    public double Max { get; init; }
}
