using Microsoft.ML.OnnxRuntime;

namespace VacCnn.Models.Onnx;

/// <summary>The one place where ONNX Runtime session options are chosen, for model and derived (gradient) graphs.</summary>
internal static class SessionSettings
{
    /// <summary>CPU options: all cores (or <paramref name="threads"/> when positive), full graph optimisation, and no
    /// spin-waiting between runs.</summary>
    /// <remarks>Each session has its own intra-op thread pool, and by default its threads spin for a while after a
    /// run. VacCnn alternates sessions (a forward pass, then the backward graph; several models in one host): the
    /// spinning pool of one session then competed with the next for the two cores — Grad-CAM of the predicted class
    /// took 4.8 forward passes instead of about 2.</remarks>
    public static SessionOptions Create(int threads)
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return options;
    }
}
