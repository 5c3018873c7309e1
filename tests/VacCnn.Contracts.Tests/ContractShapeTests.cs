using System.Reflection;
using System.Runtime.CompilerServices;
using VacCnn.Contracts;

namespace VacCnn.Contracts.Tests;

/// <summary>
/// The rules that keep compiled plugins working when the contracts grow: no positional records (their constructors
/// and Deconstruct change with every new member), properties that are init-only (so new ones can be added with
/// defaults), only interfaces, sealed records and enums, and a version that says which contracts these are.
/// </summary>
public sealed class ContractShapeTests
{
    private static readonly Type[] Types = typeof(IClassifier).Assembly.GetExportedTypes();

    [Fact]
    public void The_contracts_are_interfaces_sealed_records_and_enums_only()
    {
        Assert.True(Types.Length >= 20, $"only {Types.Length} exported types: wrong assembly?");
        foreach (var t in Types)
        {
            bool record = t.GetMethod("<Clone>$") is not null;
            Assert.True(t.IsInterface || t.IsEnum || (t.IsClass && t.IsSealed && (record || t.GetInterfaces().Contains(typeof(IDisposable)))),
                $"{t.Name}: the contracts hold interfaces, sealed records and enums");
        }
    }

    [Fact]
    public void No_record_is_positional_and_every_property_is_init_only()
    {
        foreach (var t in Types.Where(t => t.IsClass))
        {
            Assert.Null(t.GetMethod("Deconstruct"));
            foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is not null))
            {
                var modifiers = p.SetMethod!.ReturnParameter.GetRequiredCustomModifiers();
                Assert.True(modifiers.Contains(typeof(IsExternalInit)), $"{t.Name}.{p.Name} has a setter that is not init-only");
            }
        }
    }

    [Fact]
    public void GradientTarget_describes_a_target_and_leaves_the_math_to_the_host()
    {
        var methods = typeof(GradientTarget).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => !m.IsSpecialName && m.Name is not ("Equals" or "GetHashCode" or "ToString" or "PrintMembers" or "<Clone>$"))
            .Select(m => m.Name);
        Assert.Empty(methods);
        var t = new GradientTarget([3, GradientTarget.Predicted], GradientObjective.Score);
        Assert.Equal(t with { }, t);
        Assert.Equal(GradientObjective.SoftmaxOfScores, (t with { Objective = GradientObjective.SoftmaxOfScores }).Objective);
    }

    [Fact]
    public void The_assembly_version_is_the_contract_version()
    {
        var version = typeof(IClassifier).Assembly.GetName().Version!;
        Assert.Equal(new Version(2, 1, 0, 0), version);
    }
}
