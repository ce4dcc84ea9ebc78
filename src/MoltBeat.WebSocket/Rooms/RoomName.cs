namespace MoltBeat.WebSocket.Rooms;

/// <summary>Validation and hierarchy of room names (protocol.md, "Rooms").</summary>
public static class RoomName
{
    /// <summary>The longest room name the protocol allows.</summary>
    public const int MaxLength = 128;

    /// <summary>The separator between levels of a hierarchical room name.</summary>
    public const char Separator = ':';

    /// <summary>The rule, in words, for error messages.</summary>
    public const string Rule = "a room name is 1-128 characters of A-Z a-z 0-9 _ - . :";

    /// <summary>Whether <paramref name="room"/> is a valid room name.</summary>
    public static bool IsValid(string? room)
    {
        if (string.IsNullOrEmpty(room) || room.Length > MaxLength)
            return false;
        foreach (var c in room)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ':'))
                return false;
        }
        return true;
    }

    /// <summary>Throws a clear exception when <paramref name="room"/> is not valid.</summary>
    /// <exception cref="ArgumentException">The room name is invalid.</exception>
    public static void EnsureValid(string? room, string paramName = "room")
    {
        if (!IsValid(room))
            throw new ArgumentException($"Invalid room '{room}': {Rule}.", paramName);
    }

    /// <summary>
    /// Whether <paramref name="room"/> is <paramref name="ancestor"/> or lies below it (<c>a:b</c> and <c>a:b:c</c> are
    /// within <c>a:b</c>; <c>a:bc</c> is not): the subtree a subscription to <paramref name="ancestor"/> receives.
    /// </summary>
    public static bool IsWithin(string room, string ancestor) =>
        room.StartsWith(ancestor, StringComparison.Ordinal) && (room.Length == ancestor.Length || room[ancestor.Length] == Separator);

    /// <summary>
    /// How deep a room sits in the hierarchy: <c>all</c> is 0, <c>analytics</c> 1, <c>analytics:agents</c> 2.
    /// Clients resubscribe parents first, so that a parent's replay covers its children's missed events
    /// in publish order and the children's replays then have nothing left to send out of order.
    /// </summary>
    public static int Depth(string room) => room == WSRoom.AllEvents ? 0 : room.Count(c => c == Separator) + 1;

    /// <summary>
    /// The rooms an event published to <paramref name="room"/> is delivered to and recorded in:
    /// the room itself, each parent (<c>a:b:c</c> → <c>a:b</c>, <c>a</c>), and <c>all</c>.
    /// </summary>
    public static IEnumerable<string> WithAncestors(string room)
    {
        yield return room;
        for (var i = room.LastIndexOf(Separator); i > 0; i = room.LastIndexOf(Separator, i - 1))
            yield return room[..i];
        if (room != WSRoom.AllEvents)
            yield return WSRoom.AllEvents;
    }

    /// <summary>
    /// The distinct rooms that a publish to <paramref name="rooms"/> reaches, in a stable order:
    /// each named room, then its ancestors, <c>all</c> last.
    /// </summary>
    public static string[] ExpandForDelivery(IReadOnlyList<string> rooms)
    {
        var seen = new List<string>(rooms.Count * 3);
        foreach (var room in rooms)
        {
            foreach (var r in WithAncestors(room))
            {
                if (r != WSRoom.AllEvents && !seen.Contains(r))
                    seen.Add(r);
            }
        }
        seen.Add(WSRoom.AllEvents);
        return [.. seen];
    }
}
