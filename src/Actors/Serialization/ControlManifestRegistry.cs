using System.Collections.Frozen;
using System.Reflection;
using System.Runtime.Serialization;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Serialization;

/// <summary>
/// Table of manifest ⇄ type for every persisted control-plane type: each <see cref="IControlEvent"/>
/// (in SiteRecovery.Contracts) and <see cref="IControlSnapshot"/> (state records in SiteRecovery.Actors)
/// carrying a <see cref="ManifestAttribute"/>. Built once; a missing or duplicate manifest fails fast.
/// </summary>
public static class ControlManifestRegistry
{
    private static readonly FrozenDictionary<string, Type> ByManifest;
    private static readonly FrozenDictionary<Type, string> ByType;

    static ControlManifestRegistry()
    {
        var byManifest = new Dictionary<string, Type>(StringComparer.Ordinal);
        var byType = new Dictionary<Type, string>();
        var assemblies = new[] { typeof(IControlEvent).Assembly, typeof(ControlManifestRegistry).Assembly };
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            if (type.IsAbstract || type.IsInterface) continue;
            var persisted = typeof(IControlEvent).IsAssignableFrom(type) || typeof(IControlSnapshot).IsAssignableFrom(type);
            if (!persisted) continue;
            var manifest = type.GetCustomAttribute<ManifestAttribute>()?.Manifest
                ?? throw new InvalidOperationException($"Persisted type {type.FullName} has no [Manifest] attribute");
            if (!byManifest.TryAdd(manifest, type))
                throw new InvalidOperationException($"Manifest '{manifest}' is used by both {byManifest[manifest].FullName} and {type.FullName}");
            byType[type] = manifest;
        }

        ByManifest = byManifest.ToFrozenDictionary(StringComparer.Ordinal);
        ByType = byType.ToFrozenDictionary();
    }

    public static IReadOnlyCollection<Type> EventTypes =>
        ByType.Keys.Where(t => typeof(IControlEvent).IsAssignableFrom(t)).OrderBy(t => t.Name).ToList();

    public static IReadOnlyCollection<Type> SnapshotTypes =>
        ByType.Keys.Where(t => typeof(IControlSnapshot).IsAssignableFrom(t)).OrderBy(t => t.Name).ToList();

    public static string ManifestFor(Type type) =>
        ByType.TryGetValue(type, out var manifest)
            ? manifest
            : throw new SerializationException($"Type {type.FullName} has no registered control-plane manifest");

    public static Type TypeFor(string manifest) =>
        ByManifest.TryGetValue(manifest, out var type)
            ? type
            : throw new SerializationException($"Unknown control-plane manifest '{manifest}'; known manifests: {string.Join(", ", ByManifest.Keys.Order(StringComparer.Ordinal))}");
}
