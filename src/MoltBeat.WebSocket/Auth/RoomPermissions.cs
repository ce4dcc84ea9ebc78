using System.Text.Json;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Auth;

/// <summary>
/// The rooms a token allows (its <c>rooms</c> claim, protocol revision 1.1): a pattern <c>P</c> allows room
/// <c>R</c> when <c>R</c> is <c>P</c> or starts with <c>P:</c> (a room's subtree, which a subscription to it
/// receives anyway); <c>*</c> allows every room, <c>all</c> included. A room above an allowed one
/// (<c>analytics</c> when only <c>analytics:agents</c> is allowed) is not allowed: it carries its other
/// children's events.
/// </summary>
/// <example>
/// <c>["tenant:42"]</c>: <c>tenant:42</c>, <c>tenant:42:agents</c>, not <c>tenant:4</c>, <c>tenant:420</c> nor <c>tenant</c>.
/// <c>["analytics"]</c>: a dashboard that sees analytics only. <c>["*"]</c>: an admin.
/// </example>
public sealed class RoomPermissions
{
    /// <summary>The pattern that allows every room.</summary>
    public const string Everything = "*";

    private readonly string[] _patterns;

    private RoomPermissions(string[] patterns) => _patterns = patterns;

    /// <summary>The patterns, as given.</summary>
    public IReadOnlyList<string> Patterns => _patterns;

    /// <summary>Whether <paramref name="room"/> is allowed.</summary>
    public bool Allows(string room)
    {
        ArgumentNullException.ThrowIfNull(room);
        foreach (var pattern in _patterns)
        {
            if (pattern == Everything || RoomName.IsWithin(room, pattern))
                return true;
        }
        return false;
    }

    /// <summary>Permissions from patterns, each <c>*</c> or a valid room name.</summary>
    /// <exception cref="ArgumentException">A pattern is neither.</exception>
    public static RoomPermissions From(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var list = patterns.ToArray();
        foreach (var pattern in list)
        {
            if (!IsPattern(pattern))
                throw new ArgumentException($"Invalid room pattern '{pattern}': '*' or a room name ({RoomName.Rule}).", nameof(patterns));
        }
        return new RoomPermissions(list);
    }

    /// <summary>
    /// Reads a <c>rooms</c> claim: an array of strings, each <c>*</c> or a valid room name (an empty array allows
    /// nothing). False with <paramref name="error"/> saying what is wrong otherwise.
    /// </summary>
    public static bool TryParse(JsonElement claim, out RoomPermissions? permissions, out string? error)
    {
        permissions = null;
        if (claim.ValueKind != JsonValueKind.Array)
        {
            error = $"the rooms claim must be an array of strings, not {claim.ValueKind}";
            return false;
        }
        var patterns = new List<string>();
        foreach (var item in claim.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                error = $"the rooms claim must be an array of strings; it holds a {item.ValueKind}";
                return false;
            }
            var pattern = item.GetString()!;
            if (!IsPattern(pattern))
            {
                error = $"the rooms claim holds an invalid pattern (not '*' nor a room name: {RoomName.Rule})";
                return false;
            }
            patterns.Add(pattern);
        }
        error = null;
        permissions = new RoomPermissions([.. patterns]);
        return true;
    }

    private static bool IsPattern(string pattern) => pattern == Everything || RoomName.IsValid(pattern);

    /// <inheritdoc />
    public override string ToString() => "[" + string.Join(", ", _patterns) + "]";
}
