namespace VacCnn.Models.Onnx; internal static class Placeholder { }
