namespace MoltBeat.WebSocket.Engine;

/// <summary>
/// One published event as the engine recorded it: the <c>event</c> message serialized once, and where
/// it belongs. The same instance (and the same bytes) reaches every recipient and every room history.
/// </summary>
public sealed class PublishedEvent
{
    /// <summary>Creates an event that was recorded in <paramref name="deliveryRooms"/> at <paramref name="offsets"/>.</summary>
    /// <param name="frame">The complete <c>event</c> message, compact UTF-8 JSON.</param>
    /// <param name="deliveryRooms">Every room it reaches (named rooms, their parents, <c>all</c>); null for a broadcast to every client.</param>
    /// <param name="offsets">Its offset in each of <paramref name="deliveryRooms"/>, in the same order; null when not recorded.</param>
    public PublishedEvent(byte[] frame, string[]? deliveryRooms, long[]? offsets)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (deliveryRooms is not null && (offsets is null || offsets.Length != deliveryRooms.Length))
            throw new ArgumentException("Every delivery room needs an offset.", nameof(offsets));
        Frame = frame;
        DeliveryRooms = deliveryRooms;
        Offsets = offsets;
    }

    /// <summary>The complete <c>event</c> message.</summary>
    public byte[] Frame { get; }

    /// <summary>Every room the event reaches; null for a broadcast to every client (not recorded).</summary>
    public string[]? DeliveryRooms { get; }

    /// <summary>The offset in each room of <see cref="DeliveryRooms"/>, same order.</summary>
    public long[]? Offsets { get; }

    /// <summary>The publish span's W3C <c>traceparent</c>, carried from the publishing node (<see cref="PublishRequest.TraceParent"/>); null when not traced.</summary>
    public string? TraceParent { get; init; }

    /// <summary>
    /// True when this answers a publish whose <see cref="PublishRequest.IdempotencyKey"/> was published already within the
    /// idempotency window: nothing was published, delivered or recorded this time, and this is the first publish's event
    /// (its frame and offsets). False for an event that was published now.
    /// </summary>
    public bool Duplicate { get; init; }

    /// <summary>
    /// What conflation compares: room(s), event name and key, read from <see cref="Frame"/> the first time it is asked (only
    /// conflation asks); null for an event without a key.
    /// </summary>
    internal string? ConflationKey
    {
        get
        {
            // Racing readers compute the same value; the flag is written after it.
            if (!Volatile.Read(ref _conflationKeyKnown))
            {
                _conflationKey = Protocol.EventFrame.ConflationIdentity(Frame);
                Volatile.Write(ref _conflationKeyKnown, true);
            }
            return _conflationKey;
        }
    }

    private string? _conflationKey;
    private bool _conflationKeyKnown;

    /// <summary>
    /// <see cref="Frame"/> compressed for permessage-deflate (RFC 7692, no context takeover), made the first time a
    /// compressing recipient asks and then shared by all of them (and by replays from history); null when compressing
    /// does not make it smaller.
    /// </summary>
    /// <remarks>
    /// Made under a lock, once: the fan-out workers hand out the same event at the same moment, and each would
    /// otherwise compress it. The lock object exists only for events that are compressed at all.
    /// </remarks>
    internal byte[]? Deflated
    {
        get
        {
            if (Volatile.Read(ref _deflatedKnown))
                return _deflated;
            var gate = Volatile.Read(ref _deflateGate) ?? Interlocked.CompareExchange(ref _deflateGate, new object(), null) ?? _deflateGate;
            lock (gate)
            {
                if (!_deflatedKnown)
                {
                    _deflated = Compression.MessageDeflater.Compress(Frame);
                    Volatile.Write(ref _deflatedKnown, true);
                }
            }
            return _deflated;
        }
    }

    private byte[]? _deflated;
    private bool _deflatedKnown;
    private object? _deflateGate;

    /// <summary>Whether this is a broadcast to every connected client rather than to rooms.</summary>
    public bool IsBroadcastToAll => DeliveryRooms is null;

    /// <summary>
    /// The event's identity: its offset in <c>all</c>, which records every room event, so two events
    /// of one epoch never share it. 0 for a broadcast to every client.
    /// </summary>
    public long Sequence => DeliveryRooms is null ? 0 : Offsets![^1];

    /// <summary>How many room histories of the in-memory engine hold this event (guarded by the engine's lock).</summary>
    internal int HistoryReferences { get; set; }

    /// <summary>This event as the answer to a repeat of its publish: the same frame and offsets, <see cref="Duplicate"/> set.</summary>
    internal PublishedEvent AsDuplicate() => new(Frame, DeliveryRooms, Offsets) { TraceParent = TraceParent, Duplicate = true };

    /// <summary>The event's offset in <paramref name="room"/>, or 0 when it was not recorded there.</summary>
    public long OffsetIn(string room)
    {
        if (DeliveryRooms is null)
            return 0;
        var i = Array.IndexOf(DeliveryRooms, room);
        return i < 0 ? 0 : Offsets![i];
    }
}
