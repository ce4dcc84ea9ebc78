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

    /// <summary>
    /// At most this many events of the room per second for this subscription (above 0, at most
    /// <see cref="ProtocolLimits.MaxRate"/>; null: every event as it is published), for a view that cannot use more, such as
    /// a chart redrawn ten times a second. The server then holds the room's events between releases and, of those published
    /// with a key (<see cref="ReceivedEvent.Key"/>), sends only the newest of each event name and key, counting the older
    /// ones it replaced in <see cref="ReceivedEvent.Conflated"/>. Events without a key all arrive. Offsets still only
    /// increase, and the ones skipped are exactly the replaced events, so the client treats them as no loss: no
    /// <see cref="MoltBeatWSClient.RecoveryFailed"/>. Asked again on every resubscription after a reconnect (the missed
    /// events are replayed conflated the same way); a server before revision 1.1 ignores it and sends every event.
    /// </summary>
    public double? MaxRate { get; init; }

    /// <summary>
    /// Whether to be told how many subscribers the room has across all nodes (a dashboard's "87 watching"): the server
    /// sends the count after the subscription starts, then whenever it changes, at most once a second. It is raised as
    /// <see cref="MoltBeatWSClient.Occupancy"/> and kept for <see cref="MoltBeatWSClient.GetOccupancy(string)"/>. Asked again on
    /// every resubscription after a reconnect; a server before revision 1.1 ignores it and sends no count.
    /// </summary>
    public bool Occupancy { get; init; }

    /// <exception cref="ArgumentOutOfRangeException"><see cref="Last"/> or <see cref="MaxRate"/> is out of range (a <see cref="MaxRate"/> of NaN or infinity included).</exception>
    /// <exception cref="ArgumentException"><see cref="Since"/> has no epoch, or a negative offset (a <c>default</c> position, say).</exception>
    internal void Validate()
    {
        if (Last is < 0 or > ProtocolLimits.MaxLast)
            throw new ArgumentOutOfRangeException(nameof(Last), Last, $"Last is 0 to {ProtocolLimits.MaxLast} events.");
        // Written so that NaN fails as well: every comparison with it is false.
        if (MaxRate is { } rate && !(double.IsFinite(rate) && rate > 0 && rate <= ProtocolLimits.MaxRate))
            throw new ArgumentOutOfRangeException(nameof(MaxRate), rate, $"MaxRate is a number of events per second above 0 and at most {ProtocolLimits.MaxRate}.");
        if (Since is { } since && (string.IsNullOrEmpty(since.Epoch) || since.Offset < 0))
            throw new ArgumentException("Since needs an epoch and an offset of 0 or more.", nameof(Since));
    }
}
