namespace MoltBeat.Server.Webhooks;

/// <summary>Which cluster-wide transition a room went through.</summary>
internal enum RoomOccupancyKind
{
    /// <summary>The room got its first subscriber on any node (<c>"type":"room.occupied"</c>).</summary>
    Occupied,

    /// <summary>The room has had no subscriber on any node for the debounce period (<c>"type":"room.vacated"</c>).</summary>
    Vacated,
}

/// <summary>One occupancy transition to deliver to the webhook.</summary>
/// <param name="Kind">Occupied or vacated.</param>
/// <param name="Room">The room's name.</param>
/// <param name="At">When the transition happened (sent in UTC, to the millisecond).</param>
internal sealed record RoomOccupancyNotice(RoomOccupancyKind Kind, string Room, DateTimeOffset At);
