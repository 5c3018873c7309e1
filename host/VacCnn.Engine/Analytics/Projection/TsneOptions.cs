using System.Globalization;
using System.Text.Json.Serialization;

namespace VacCnn.Engine.Analytics;

/// <summary>How the t-SNE gradient is computed.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TsneMethod>))]
public enum TsneMethod
{
    /// <summary>
    /// Barnes-Hut (van der Maaten 2014), scikit-learn's default and so the paper's: P only over each point's
    /// 3·perplexity + 1 nearest neighbours, repulsion from a quadtree with opening angle θ. O(n log n) per iteration.
    /// </summary>
    BarnesHut,
    /// <summary>Every pair, O(n²) per iteration and memory: the reference the approximation is checked against.</summary>
    Exact,
}

/// <summary>Where the t-SNE points start.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TsneInit>))]
public enum TsneInit
{
    /// <summary>N(0, 1e-4²) from the seed, as the paper's code (scikit-learn's init="random").</summary>
    Random,
    /// <summary>
    /// A layout the caller gives (the analytics pass the WordNet reference layout), centred and rescaled: every model
    /// starts its classes from the same places, so their graphs end up comparable class by class, not only after a
    /// rotation.
    /// </summary>
    Reference,
}

/// <summary>
/// Settings of <see cref="Tsne"/>. The defaults are those of the VAC-CNN paper's own code: scikit-learn's TSNE with
/// metric="precomputed" (which squares the distances), its default Barnes-Hut method (θ = 0.5), perplexity 5, early
/// exaggeration 25, learning rate 800, random initialisation, and scikit-learn's schedule: 1000 iterations, the first
/// 250 exaggerated with momentum 0.5, then momentum 0.8 with fresh gains.
/// </summary>
public sealed record TsneOptions
{
    /// <summary>Random start (default, as the paper's code) or a given layout.</summary>
    public TsneInit Init { get; init; } = TsneInit.Random;

    /// <summary>Barnes-Hut (default, as the paper's code) or exact.</summary>
    public TsneMethod Method { get; init; } = TsneMethod.BarnesHut;
    /// <summary>Effective number of neighbours each point considers (clamped to (points − 1) / 3 for tiny inputs).</summary>
    public double Perplexity { get; init; } = 5;
    /// <summary>Factor on P during the first <see cref="ExaggerationIterations"/> iterations (forms tight, separated clusters early).</summary>
    public double EarlyExaggeration { get; init; } = 25;
    /// <summary>Gradient-descent step size.</summary>
    public double LearningRate { get; init; } = 800;
    /// <summary>Total iterations.</summary>
    public int Iterations { get; init; } = 1000;
    /// <summary>Iterations with early exaggeration and the initial momentum (all of them when there are fewer iterations).</summary>
    public int ExaggerationIterations { get; init; } = 250;
    /// <summary>Momentum while exaggerating.</summary>
    public double InitialMomentum { get; init; } = 0.5;
    /// <summary>Momentum afterwards.</summary>
    public double FinalMomentum { get; init; } = 0.8;
    /// <summary>Lower bound of the per-coordinate adaptive gains.</summary>
    public double MinGain { get; init; } = 0.01;
    /// <summary>
    /// Longest step a point may take in one iteration (as FIt-SNE's max_step_norm). Not a setting of the paper's code,
    /// which has no limit (∞ reproduces scikit-learn's optimiser exactly): with its aggressive step size the limit
    /// reaches a markedly lower KL and keeps more neighbourhoods (README, "Distribution graph").
    /// </summary>
    public double MaxStepNorm { get; init; } = 1;
    /// <summary>Barnes-Hut opening angle θ: a quadtree cell is summarised when its size ÷ its distance is below it (0 = exact repulsion).</summary>
    public double Angle { get; init; } = 0.5;
    /// <summary>
    /// Square the given distances before the Gaussian kernel, as scikit-learn does for metric="precomputed" (so the
    /// paper's code did). Algorithm 1's distances lie in [0, 1]; squaring sharpens P towards the nearest classes.
    /// </summary>
    public bool SquareDistances { get; init; } = true;
    /// <summary>Seed of the random initialisation (Mersenne Twister, N(0, 1e-4²) per coordinate).</summary>
    public int Seed { get; init; }
    /// <summary>How often (iterations) the KL divergence is recorded in <see cref="TsneResult.KlHistory"/>.</summary>
    public int KlEvery { get; init; } = 50;

    /// <summary>The paper's settings.</summary>
    public static TsneOptions Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        static void Check(bool ok, string what) { if (!ok) throw new ArgumentException(what); }
        Check(Enum.IsDefined(Method), $"unknown t-SNE method {Method}");
        Check(Enum.IsDefined(Init), $"unknown t-SNE initialisation {Init}");
        Check(double.IsFinite(Perplexity) && Perplexity is >= 1 and <= 1000, $"perplexity must be 1..1000, got {Perplexity}");
        Check(double.IsFinite(EarlyExaggeration) && EarlyExaggeration is >= 1 and <= 1000, $"early exaggeration must be 1..1000, got {EarlyExaggeration}");
        Check(double.IsFinite(LearningRate) && LearningRate is > 0 and <= 1e6, $"learning rate must be in (0, 1e6], got {LearningRate}");
        Check(Iterations is >= 1 and <= 100_000, $"iterations must be 1..100000, got {Iterations}");
        Check(ExaggerationIterations >= 0, $"exaggeration iterations must not be negative, got {ExaggerationIterations}");
        Check(InitialMomentum is >= 0 and < 1 && FinalMomentum is >= 0 and < 1, "momentum must be in [0, 1)");
        Check(MinGain > 0, "minimum gain must be positive");
        Check(MaxStepNorm > 0, $"maximum step must be positive, got {MaxStepNorm}");
        Check(double.IsFinite(Angle) && Angle is >= 0 and <= 1, $"Barnes-Hut angle must be 0..1, got {Angle}");
        Check(KlEvery >= 1, "KL interval must be at least 1");
    }

    /// <summary>Nearest neighbours that carry P in the Barnes-Hut method: 3·perplexity + 1, as scikit-learn (at most n − 1).</summary>
    public static int NeighboursFor(double perplexity, int n) => Math.Min(n - 1, (int)(3 * perplexity + 1));

    /// <summary>A short word for the method (JSON, cache keys, tables).</summary>
    [JsonIgnore]
    public string MethodName => Method == TsneMethod.Exact ? "exact" : "barnes-hut";

    /// <summary>A short word for the initialisation (JSON, cache keys); <see cref="ParseInit"/> reads it back.</summary>
    [JsonIgnore]
    public string InitName => Init == TsneInit.Reference ? "reference" : "random";

    /// <summary>
    /// The initialisation named by <paramref name="text"/> ("random" or "reference", any case), or an
    /// <see cref="ArgumentException"/> that names the setting as the caller spells it (<paramref name="setting"/>).
    /// </summary>
    public static TsneInit ParseInit(string text, string setting) => text.Trim().ToLowerInvariant() switch
    {
        "random" => TsneInit.Random,
        "reference" => TsneInit.Reference,
        _ => throw new ArgumentException($"{setting} must be random or reference, got '{text}'"),
    };

    /// <summary>A canonical text of every setting that changes the result (part of cache keys; a random start adds nothing, so older keys stay valid).</summary>
    public string CacheText() => (Init == TsneInit.Random ? "" : $"init={InitName}|") + string.Create(CultureInfo.InvariantCulture,
        $"tsne-v2|{MethodName}|theta={(Method == TsneMethod.Exact ? 0 : Angle):R}|sq={(SquareDistances ? 1 : 0)}|step={MaxStepNorm:R}|perp={Perplexity:R}|ee={EarlyExaggeration:R}|lr={LearningRate:R}|it={Iterations}|eit={ExaggerationIterations}|m0={InitialMomentum:R}|m1={FinalMomentum:R}|g={MinGain:R}|seed={Seed}");
}
