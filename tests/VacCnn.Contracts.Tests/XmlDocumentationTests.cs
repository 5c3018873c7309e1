using System.Reflection;
using System.Text;
using System.Xml.Linq;
using VacCnn.Contracts;

namespace VacCnn.Contracts.Tests;

/// <summary>
/// The contracts' XML documentation ships beside the assembly (plugin authors' IntelliSense) and documents every public
/// type and member with a summary: each documentation id is built here from reflection, independently of the compiler.
/// </summary>
public sealed class XmlDocumentationTests
{
    private static readonly Assembly Contracts = typeof(IClassifier).Assembly;

    [Fact]
    public void Every_public_type_and_member_has_a_summary_in_the_shipped_xml()
    {
        string xml = Path.ChangeExtension(Contracts.Location, ".xml");
        Assert.True(File.Exists(xml), $"no documentation file beside {Contracts.Location}");
        var summaries = XDocument.Load(xml).Descendants("member")
            .ToDictionary(m => (string)m.Attribute("name")!, m => ((string?)m.Element("summary") ?? "").Trim());
        var ids = new List<string>();
        const BindingFlags declared = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var t in Contracts.GetExportedTypes())
        {
            ids.Add("T:" + TypeId(t));
            if (t.IsEnum) { ids.AddRange(t.GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => $"F:{TypeId(t)}.{f.Name}")); continue; }
            bool record = t.GetMethod("<Clone>$") is not null;
            foreach (var p in t.GetProperties(declared).Where(p => !(record && p.Name == "EqualityContract")))
                ids.Add($"P:{TypeId(t)}.{p.Name}");
            foreach (var f in t.GetFields(declared)) ids.Add($"F:{TypeId(t)}.{f.Name}");
            foreach (var c in t.GetConstructors(BindingFlags.Public | BindingFlags.Instance))
                if (!(record && IsCopyConstructor(c, t))) ids.Add($"M:{TypeId(t)}.#ctor{Parameters(c)}");
            foreach (var m in t.GetMethods(declared).Where(m => !m.IsSpecialName && !(record && Generated(m))))
                ids.Add($"M:{TypeId(t)}.{m.Name}{Parameters(m)}");
        }
        Assert.True(ids.Count > 100, $"only {ids.Count} members found");
        var undocumented = ids.Where(id => !summaries.TryGetValue(id, out var s) || s.Length == 0).ToList();
        Assert.True(undocumented.Count == 0, "without a summary: " + string.Join(", ", undocumented));
    }

    // Members the compiler writes for every record (equality, printing, cloning).
    private static bool Generated(MethodInfo m) =>
        m.Name is "Equals" or "GetHashCode" or "ToString" or "PrintMembers" or "<Clone>$" or "op_Equality" or "op_Inequality";

    private static bool IsCopyConstructor(ConstructorInfo c, Type t) => c.GetParameters() is [{ } p] && p.ParameterType == t;

    private static string Parameters(MethodBase m)
    {
        var ps = m.GetParameters();
        return ps.Length == 0 ? "" : "(" + string.Join(",", ps.Select(p => TypeRef(p.ParameterType))) + ")";
    }

    private static string TypeId(Type t) => (t.IsNested ? TypeId(t.DeclaringType!) + "." + t.Name : t.Namespace + "." + t.Name);

    // The ECMA-334 documentation-id form of a parameter type: generic arguments in braces, arrays "[]", by-ref "@".
    private static string TypeRef(Type t)
    {
        if (t.IsByRef) return TypeRef(t.GetElementType()!) + "@";
        if (t.IsArray) return TypeRef(t.GetElementType()!) + "[]";
        if (t.IsGenericParameter) return (t.DeclaringMethod is null ? "`" : "``") + t.GenericParameterPosition;
        if (!t.IsGenericType) return t.IsNested ? TypeRef(t.DeclaringType!) + "." + t.Name : t.Namespace + "." + t.Name;
        var name = new StringBuilder(t.Namespace).Append('.').Append(t.Name[..t.Name.IndexOf('`')]);
        return name.Append('{').Append(string.Join(",", t.GetGenericArguments().Select(TypeRef))).Append('}').ToString();
    }
}
