using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

/// <summary>
/// How <see cref="MoltBeatWSClient.SubscribeAsync(string, SubscribeOptions, CancellationToken)"/> starts a subscription
/// (protocol 1.1; docs/recovery.md has the three ways to start and what each guarantees).
/// </summary>
public sealed record SubscribeOptions
{
    /// <summary>Live events only, from now on: what <see cref="MoltBeatWSClient.SubscribeAsync(string, CancellationToken)"/> does.</summary>
    public static SubscribeOptions Live { get; } = new();

    /// <summary>
    /// Every event after this position, then live ones: a position read before loading state (e.g. from
    /// <c>GET /api/rooms/{room}</c> or <c>MoltBeatWSServer.GetRoomAsync</c>), so no event falls between the load and the
    /// subscribe. When the history no longer holds it, the reply says <see cref="MoltBeatSubscription.Recovered"/> false
    /// and <see cref="MoltBeatWSClient.RecoveryFailed"/> is raised: reload the state.
    /// </summary>
    public StreamPosition? Since { get; init; }

    /// <summary>
    /// The room's most recent recorded events to receive first (0 to <see cref="ProtocolLimits.MaxLast"/>; 0: none), e.g.
    /// 1 for a chart that opens on the current value. Ignored by the server when <see cref="Since"/> recovers.
    /// </summary>
    public int Last { get; init; }

    /// <exception cref="ArgumentOutOfRangeException"><see cref="Last"/> is out of range.</exception>
    internal void Validate()
    {
        if (Last is < 0 or > ProtocolLimits.MaxLast)
            throw new ArgumentOutOfRangeException(nameof(Last), Last, $"Last is 0 to {ProtocolLimits.MaxLast} events.");
    }
}
