using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using VacCnn.Contracts;

namespace VacCnn.Engine.Plugins;

/// <summary>
/// Decides, from a plugin assembly's metadata and before any of its code runs, whether this host's contracts can
/// serve it. A plugin must be built against the host's major contract version and at most its minor one (members are
/// only ever added within a major version), and every contract type and member it uses must exist here: so a plugin
/// built against other contracts is listed with the reason, instead of failing later with a MissingMethodException.
/// </summary>
public static class PluginCompatibility
{
    private const string ContractsName = "VacCnn.Contracts";

    /// <summary>The contract version of this host (the contracts assembly's version).</summary>
    public static Version HostVersion { get; } = typeof(IClassifier).Assembly.GetName().Version!;

    /// <summary>Null when the assembly can be loaded against this host's contracts, else why not (one sentence or two).</summary>
    public static string? Check(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata) return $"{Path.GetFileName(assemblyPath)} is not a .NET assembly";
        var md = pe.GetMetadataReader();
        var reference = md.AssemblyReferences.Select(h => (Handle: h, Ref: md.GetAssemblyReference(h)))
            .FirstOrDefault(r => md.StringComparer.Equals(r.Ref.Name, ContractsName));
        if (reference.Handle.IsNil) return null; // not built against the contracts: the catalog says it exports nothing
        var built = reference.Ref.Version;
        var missing = MissingMembers(md, reference.Handle);
        string uses = missing.Count == 0 ? "" : $" It uses {Listed(missing)}, which this host's contracts do not have.";
        if (built.Major != HostVersion.Major)
            return $"built against {ContractsName} {built.Major}.{built.Minor}, but this host provides {HostVersion.Major}.{HostVersion.Minor}: " +
                   $"plugins must be built against {HostVersion.Major}.x (rebuild it against the current contracts).{uses}";
        if (built.Minor > HostVersion.Minor)
            return $"built against {ContractsName} {built.Major}.{built.Minor}, newer than this host's {HostVersion.Major}.{HostVersion.Minor}: " +
                   $"update the host.{uses}";
        return missing.Count == 0 ? null
            : $"built against {ContractsName} {built.Major}.{built.Minor}, but it uses {Listed(missing)}, which this host's contracts do not have.";
    }

    private static string Listed(IReadOnlyList<string> members) =>
        members.Count <= 3 ? string.Join(", ", members) : string.Join(", ", members.Take(3)) + $" and {members.Count - 3} more";

    /// <summary>Contract types and members the assembly refers to that this host's contracts assembly lacks, by C#-like name.</summary>
    internal static IReadOnlyList<string> MissingMembers(MetadataReader md, AssemblyReferenceHandle contracts)
    {
        var host = typeof(IClassifier).Assembly;
        var names = new SignatureNames(md);
        var missing = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var handle in md.TypeReferences)
            if (InContracts(md, handle, contracts) && host.GetType(names.Reflection(handle)) is null)
                missing.Add(names.Display(handle));
        foreach (var handle in md.MemberReferences)
        {
            var member = md.GetMemberReference(handle);
            if (member.Parent.Kind != HandleKind.TypeReference) continue; // generic instantiations are never contract types
            var parent = (TypeReferenceHandle)member.Parent;
            if (!InContracts(md, parent, contracts) || host.GetType(names.Reflection(parent)) is not { } type) continue;
            string name = md.GetString(member.Name);
            if (member.GetKind() == MemberReferenceKind.Field)
            {
                if (type.GetField(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static) is null)
                    missing.Add($"{names.Display(parent)}.{name}");
                continue;
            }
            var signature = member.DecodeMethodSignature(names, null);
            if (!HasMethod(type, name, signature))
                missing.Add($"{names.Display(parent)}.{(name == ".ctor" ? "ctor" : name)}({string.Join(", ", signature.ParameterTypes.Select(SignatureNames.Short))})");
        }
        return missing.ToList();
    }

    private static bool HasMethod(Type type, string name, MethodSignature<string> signature)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
        IEnumerable<MethodBase> candidates = name == ".ctor"
            ? type.GetConstructors(all)
            : type.GetMethods(all).Where(m => m.Name == name)
                .Concat(type.IsInterface ? type.GetInterfaces().SelectMany(i => i.GetMethods(all)).Where(m => m.Name == name) : []);
        return candidates.Any(m =>
        {
            var parameters = m.GetParameters();
            string returns = m is MethodInfo info ? SignatureNames.Of(info.ReturnType) : "System.Void";
            return parameters.Length == signature.ParameterTypes.Length && returns == signature.ReturnType
                   && parameters.Select(p => SignatureNames.Of(p.ParameterType)).SequenceEqual(signature.ParameterTypes)
                   && (m.IsGenericMethodDefinition ? m.GetGenericArguments().Length : 0) == signature.GenericParameterCount;
        });
    }

    private static bool InContracts(MetadataReader md, TypeReferenceHandle handle, AssemblyReferenceHandle contracts)
    {
        var scope = md.GetTypeReference(handle).ResolutionScope;
        while (scope.Kind == HandleKind.TypeReference) scope = md.GetTypeReference((TypeReferenceHandle)scope).ResolutionScope;
        return scope.Kind == HandleKind.AssemblyReference && (AssemblyReferenceHandle)scope == contracts;
    }

    /// <summary>
    /// Type names from signatures, written the way <see cref="Of(Type)"/> writes reflection types, so that the two
    /// compare as strings: "Namespace.Outer+Inner", "T[]", "T&amp;", "Generic`1&lt;Arg&gt;", "!0" / "!!0" for generic parameters.
    /// </summary>
    private sealed class SignatureNames(MetadataReader md) : ISignatureTypeProvider<string, object?>
    {
        public string Reflection(TypeReferenceHandle handle)
        {
            var t = md.GetTypeReference(handle);
            string name = md.GetString(t.Name);
            return t.ResolutionScope.Kind == HandleKind.TypeReference
                ? Reflection((TypeReferenceHandle)t.ResolutionScope) + "+" + name
                : (t.Namespace.IsNil ? "" : md.GetString(t.Namespace) + ".") + name;
        }

        public string Display(TypeReferenceHandle handle) => Short(Reflection(handle));

        /// <summary>"VacCnn.Contracts.SaliencyMap" → "SaliencyMap", "System.Int32[]" → "Int32[]".</summary>
        public static string Short(string name)
        {
            int generic = name.IndexOf('<', StringComparison.Ordinal);
            string head = generic < 0 ? name : name[..generic];
            int dot = head.LastIndexOf('.');
            return (dot < 0 ? head : head[(dot + 1)..]).Replace('+', '.') + (generic < 0 ? "" : name[generic..]);
        }

        public static string Of(Type t)
        {
            if (t.IsByRef) return Of(t.GetElementType()!) + "&";
            if (t.IsPointer) return Of(t.GetElementType()!) + "*";
            if (t.IsSZArray) return Of(t.GetElementType()!) + "[]";
            if (t.IsArray) return Of(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
            if (t.IsGenericParameter) return (t.DeclaringMethod is null ? "!" : "!!") + t.GenericParameterPosition;
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
                return Of(t.GetGenericTypeDefinition()) + "<" + string.Join(",", t.GetGenericArguments().Select(Of)) + ">";
            return t.IsNested ? Of(t.DeclaringType!) + "+" + t.Name : (t.Namespace is null ? "" : t.Namespace + ".") + t.Name;
        }

        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => "System." + typeCode;
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => Reflection(handle);

        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            var t = reader.GetTypeDefinition(handle);
            string name = reader.GetString(t.Name);
            var declaring = t.GetDeclaringType();
            return !declaring.IsNil ? GetTypeFromDefinition(reader, declaring, rawTypeKind) + "+" + name
                : (t.Namespace.IsNil ? "" : reader.GetString(t.Namespace) + ".") + name;
        }

        public string GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

        public string GetSZArrayType(string elementType) => elementType + "[]";
        public string GetArrayType(string elementType, ArrayShape shape) => elementType + "[" + new string(',', shape.Rank - 1) + "]";
        public string GetByReferenceType(string elementType) => elementType + "&";
        public string GetPointerType(string elementType) => elementType + "*";
        public string GetPinnedType(string elementType) => elementType;
        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;
        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments) => genericType + "<" + string.Join(",", typeArguments) + ">";
        public string GetGenericTypeParameter(object? genericContext, int index) => "!" + index;
        public string GetGenericMethodParameter(object? genericContext, int index) => "!!" + index;
        public string GetFunctionPointerType(MethodSignature<string> signature) => "method*";
    }
}
