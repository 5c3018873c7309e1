using Onnx;
using VacCnn.Contracts;
using static VacCnn.Models.Onnx.Backward.OnnxBuild;

namespace VacCnn.Models.Onnx.Backward;

public sealed partial class BackwardGraphBuilder
{
    /// <summary>Name of the int64 [N] class input of a targeted graph (−1 = the image's top-1).</summary>
    public const string TargetName = "target_class";

    /// <summary>Name of the int64 [N] output of a targeted graph: the classes differentiated.</summary>
    public const string ClassesName = "target_chosen";

    /// <summary>
    /// The same backward graph with its seed computed inside it from the scores of the same run, so that explaining
    /// the predicted class, or differentiating a probability, takes one run instead of a forward pass and then the
    /// backward graph. Per image: c = target < 0 ? ArgMax(scores) : target (ArgMax keeps the first maximum);
    /// seed = onehot_c for <see cref="GradientObjective.Score"/>, p_c·(onehot_c − p) with p = Softmax(scores) for
    /// <see cref="GradientObjective.SoftmaxOfScores"/>. The seed nodes are not differentiated: they only feed the
    /// backward sweep, exactly as the seed input did.
    /// </summary>
    public static BackwardGraph Targeted(BackwardGraph graph, GradientObjective objective)
    {
        var model = graph.Model.Clone();
        var g = model.Graph;
        var seedInput = g.Input.Single(i => i.Name == graph.SeedName);
        int elemType = seedInput.Type.TensorType.ElemType;
        g.Input.Remove(seedInput);
        g.Input.Add(new ValueInfoProto { Name = TargetName, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = OnnxTensors.Int64 } } });

        var nodes = new List<NodeProto>();
        int counter = 0;
        string Const(TensorProto t)
        {
            t.Name = $"vacseed/const_{counter++}";
            g.Initializer.Add(t);
            return t.Name;
        }
        string Op(string op, string[] inputs, params AttributeProto[] attributes)
        {
            var n = new NodeProto { OpType = op, Name = $"vacseed/n_{op}_{counter++}" };
            n.Input.AddRange(inputs);
            string output = $"vacseed/{op}_{counter++}";
            n.Output.Add(output);
            n.Attribute.AddRange(attributes);
            nodes.Add(n);
            return output;
        }

        // Scores as [N, classes] whatever the output's own shape (the backward sweep reshapes the seed back to it).
        string scores = Op("Flatten", [graph.OutputName], Int("axis", 1));
        string top1 = Op("ArgMax", [scores], Int("axis", 1), Int("keepdims", 0));
        string chosen = Op("Where", [Op("Less", [TargetName, Const(Int64s("", [], [0]))]), top1, TargetName]);
        var pick = new NodeProto { OpType = "Identity", Name = "vacseed/n_chosen" };
        pick.Input.Add(chosen);
        pick.Output.Add(ClassesName);
        nodes.Add(pick);
        string depth = Op("Gather", [Op("Shape", [scores]), Const(Int64s("", [], [1]))]);
        string oneHot = Op("OneHot", [ClassesName, depth, Const(OnnxBuild.Real("", elemType, [2], [0, 1]))], Int("axis", -1));
        string seed = oneHot;
        if (objective == GradientObjective.SoftmaxOfScores)
        {
            string p = Op("Softmax", [scores], Int("axis", 1));
            string pc = Op("ReduceSum", [Op("Mul", [p, oneHot]), Const(Int64s("", [1], [1]))], Int("keepdims", 1));
            seed = Op("Mul", [pc, Op("Sub", [oneHot, p])]);
        }
        var named = new NodeProto { OpType = "Identity", Name = "vacseed/n_seed" };
        named.Input.Add(seed);
        named.Output.Add(graph.SeedName);
        nodes.Add(named);

        // Before the first reader of the seed, so the node list stays topologically sorted.
        int first = Enumerable.Range(0, g.Node.Count).First(i => g.Node[i].Input.Contains(graph.SeedName));
        for (int i = nodes.Count - 1; i >= 0; i--) g.Node.Insert(first, nodes[i]);
        g.Output.Add(new ValueInfoProto { Name = ClassesName });
        return graph with { Model = model, TargetName = TargetName, ClassesName = ClassesName };
    }
}
