using System.Reflection;
using MoltBeat.WebSocket.Redis;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Tests.Architecture;

/// <summary>
/// The walls of the layout (README, "Layout"): each folder of the library is a namespace, and none uses a
/// folder it must not, checked on the compiled assemblies (signatures and method bodies alike).
/// </summary>
public sealed class LayerTests
{
    /// <summary>What each layer must never use. Protocol is the bottom; Hosting (DI, handshake, transport) the top.</summary>
    private static readonly Dictionary<string, string[]> Forbidden = new()
    {
        ["Protocol"] = ["Rooms", "Auth", "Engine", "Server", "Hosting", "Client", "Analytics", "Redis"],
        ["Rooms"] = ["Auth", "Engine", "Server", "Hosting", "Client", "Analytics", "Redis"],
        ["Auth"] = ["Engine", "Server", "Hosting", "Client", "Analytics", "Redis"],
        ["Engine"] = ["Auth", "Server", "Hosting", "Client", "Analytics", "Redis"],
        // The vocabulary publishes through a delegate: it knows nothing of the server.
        ["Analytics"] = ["Auth", "Engine", "Server", "Hosting", "Client", "Redis"],
        // The .NET client shares the protocol with the server, nothing of the server itself.
        ["Client"] = ["Auth", "Engine", "Server", "Hosting", "Analytics", "Redis"],
        ["Server"] = ["Client", "Analytics", "Redis"],
        ["Hosting"] = ["Client", "Analytics", "Redis"],
        // An engine package depends on the engine seam and the hosting surface only.
        ["Redis"] = ["Auth", "Server", "Client", "Analytics"],
    };

    private static readonly Assembly Library = typeof(MoltBeatWSServer).Assembly;
    private static readonly Assembly RedisPackage = typeof(RedisEngine).Assembly;

    public static TheoryData<string> Layers() => [.. Forbidden.Keys];

    [Theory]
    [MemberData(nameof(Layers))]
    public void A_layer_uses_no_layer_the_layout_forbids(string layer)
    {
        var types = new[] { Library, RedisPackage }.SelectMany(a => a.GetTypes()).Where(t => LayerOf(t) == layer).ToList();
        Assert.NotEmpty(types);

        var violations = types
            .SelectMany(t => TypeReferences.Of(t).Where(used => LayerOf(used) is { } l && Forbidden[layer].Contains(l)).Select(used => $"{t.FullName} uses {used.FullName} ({LayerOf(used)})"))
            .Distinct()
            .ToList();

        Assert.True(violations.Count == 0, $"{layer} must not use {string.Join(", ", Forbidden[layer])}:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void The_layer_check_sees_a_use_inside_a_method_body()
    {
        // The check itself: a use that appears only in IL (a lambda's body, compiled into a nested type) is found.
        var uses = typeof(Sample).GetNestedTypes(BindingFlags.NonPublic).Append(typeof(Sample)).SelectMany(TypeReferences.Of).ToHashSet();

        Assert.Contains(typeof(MoltBeatWSServer), uses);
    }

    private static class Sample
    {
        public static Func<object, bool> Probe => o => o is MoltBeatWSServer;
    }

    /// <summary>The layer of one of our types (its folder), or null for a type of another assembly.</summary>
    private static string? LayerOf(Type type)
    {
        if (type.Assembly == RedisPackage)
            return "Redis";
        if (type.Assembly != Library)
            return null;
        var ns = TypeReferences.NamespaceOf(type);
        const string root = "MoltBeat.WebSocket.";
        // The DI and Kestrel extensions live in the framework's namespaces, by convention, and in Hosting/.
        return ns.StartsWith(root, StringComparison.Ordinal) ? ns[root.Length..].Split('.')[0] : ns.Length == 0 ? null : "Hosting";
    }
}
