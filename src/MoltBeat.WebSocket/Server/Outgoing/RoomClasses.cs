using System.Collections.Concurrent;
using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>
/// The <c>room</c> tag of the delivery metrics, of bounded cardinality whatever rooms publishers invent: the
/// configured room an event's room is or lies under (<see cref="WSServerOptions.MetricRooms"/>, longest first), else
/// <c>other</c> when rooms are configured, else the room's first segment (<c>agent:123</c> → <c>agent</c>), at
/// most <see cref="MaxClasses"/> of them, then <c>other</c>.
/// </summary>
internal sealed class RoomClasses(IReadOnlyCollection<string> configured)
{
    /// <summary>Most first-segment classes kept when no rooms are configured.</summary>
    public const int MaxClasses = 64;

    /// <summary>The class of events that fit no other.</summary>
    public const string Other = "other";

    /// <summary>The class of broadcasts to every client.</summary>
    public const string Broadcast = "broadcast";

    private readonly string[] _configured = [.. configured.OrderByDescending(r => r.Length)];
    private readonly ConcurrentDictionary<string, string> _segments = new(StringComparer.Ordinal);

    /// <summary>The class of an event published to <paramref name="room"/> (its first named room); null: a broadcast.</summary>
    public string Of(string? room)
    {
        if (room is null)
            return Broadcast;
        if (_configured.Length > 0)
        {
            foreach (var prefix in _configured)
            {
                if (RoomName.IsWithin(room, prefix))
                    return prefix;
            }
            return Other;
        }
        var cut = room.IndexOf(RoomName.Separator, StringComparison.Ordinal);
        var segment = cut < 0 ? room : room[..cut];
        if (_segments.TryGetValue(segment, out var known))
            return known;
        // Racing adders may pass the bound by a few: it bounds the tags, it need not be exact.
        return _segments.Count >= MaxClasses ? Other : _segments.GetOrAdd(segment, segment);
    }
}
