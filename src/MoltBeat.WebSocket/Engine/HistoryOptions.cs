namespace MoltBeat.WebSocket.Engine;

/// <summary>How much history each room keeps for recovery. Both bounds apply; whichever trims first wins.</summary>
public sealed class HistoryOptions
{
    /// <summary>Events kept per room. A client that missed more than this cannot recover. Default 1000; 0 disables history.</summary>
    public int MaxEventsPerRoom { get; set; } = 1000;

    /// <summary>How long an event stays in history. A client away for longer cannot recover. Default 5 minutes.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Throws a clear exception for values that make no sense.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A bound is negative.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxEventsPerRoom);
        if (MaxAge <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(MaxAge), MaxAge, "History age must be positive.");
    }
}
