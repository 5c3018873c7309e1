using VacCnn.Contracts;
using VacCnn.Engine.Data;

namespace VacCnn.Engine.Evaluation;

/// <summary>
/// The tensors for a batch of image files: <see cref="Tensor"/> holds only the images that decoded
/// ([Decoded.Count, 3, H, W]); <see cref="Decoded"/> gives, for each of its rows, the position of the file in the
/// request; files that could not be used are in <see cref="Skipped"/> with a reason.
/// </summary>
public sealed record PreprocessedBatch(FloatTensor Tensor, IReadOnlyList<int> Decoded, IReadOnlyList<(int Position, string Reason)> Skipped);
