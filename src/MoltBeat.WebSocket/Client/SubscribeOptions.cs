using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

/// <summary>
/// How a subscription starts (protocol 1.1, "Subscribe options"): live only (the default), with the room's most
/// recent events (<see cref="Last"/>), or from a known position (<see cref="Since"/>, e.g. one read with
/// <c>GET /api/rooms/{room}</c> before loading the application's state: no event is lost between the two).
/// </summary>
/// <remarks>
/// The options shape the first subscribe only. Once the server confirmed the room, the client's own recovery
/// takes over: after a reconnect it resubscribes with <c>since</c> = the last position it saw and without
/// <c>last</c> (the server ignores <c>last</c> when <c>since</c> recovers, and when it does not the client raises
/// <see cref="MoltBeatWSClient.RecoveryFailed"/> rather than replaying older events after newer ones). A room queued
/// with <see cref="MoltBeatWSClient.Subscribe(string, SubscribeOptions)"/> that was never confirmed keeps its options
/// until it is.
/// </remarks>
public sealed class SubscribeOptions
{
    /// <summary>
    /// Recover from this position: the server sends every event of the room after it, then live ones
    /// (<see cref="MoltBeatSubscription.Recovered"/> true), or answers <c>recovered:false</c> when its history no
    /// longer holds them (then <see cref="MoltBeatWSClient.RecoveryFailed"/> is raised and <see cref="Last"/>, if
    /// given, applies instead).
    /// </summary>
    public StreamPosition? Since { get; init; }

    /// <summary>
    /// Send the room's most recent <c>Last</c> recorded events (oldest first, as ordinary events) after the
    /// confirmation, then live ones: a dashboard opens with current values. 0 to
    /// <see cref="ProtocolLimits.MaxLast"/>; ignored by the server when <see cref="Since"/> recovers.
    /// </summary>
    public int? Last { get; init; }

    /// <summary>Checks the options before anything is sent.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="Last"/> is outside 0..<see cref="ProtocolLimits.MaxLast"/>.</exception>
    /// <exception cref="ArgumentException"><see cref="Since"/> has no epoch, or a negative offset.</exception>
    internal void Validate()
    {
        if (Last is { } last && (last < 0 || last > ProtocolLimits.MaxLast))
            throw new ArgumentOutOfRangeException(nameof(Last), last, $"Last must be between 0 and {ProtocolLimits.MaxLast} (ProtocolLimits.MaxLast).");
        if (Since is { } since && (since.Epoch is null || since.Offset < 0))
            throw new ArgumentException("Since needs an epoch and an offset of 0 or more.", nameof(Since));
    }
}
