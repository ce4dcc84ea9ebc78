using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Engine;

/// <summary>One room's epoch, last offset and bounded history, for the in-memory engine. Not thread-safe: the engine locks.</summary>
internal sealed class RoomStream(string epoch)
{
    private readonly Queue<(PublishedEvent Event, long Offset, long AtTicks)> _history = new();

    public string Epoch { get; } = epoch;

    public long Offset { get; private set; }

    public int Count => _history.Count;

    public StreamPosition Position => new(Epoch, Offset);

    public long NextOffset() => ++Offset;

    public void Append(PublishedEvent published, long offset, long nowTicks, int maxCount, Action<PublishedEvent> evicted)
    {
        if (maxCount == 0)
            return;
        _history.Enqueue((published, offset, nowTicks));
        while (_history.Count > maxCount)
            evicted(_history.Dequeue().Event);
    }

    public void TrimOlderThan(long cutoffTicks, Action<PublishedEvent> evicted)
    {
        while (_history.TryPeek(out var oldest) && oldest.AtTicks < cutoffTicks)
            evicted(_history.Dequeue().Event);
    }

    /// <summary>The events after <paramref name="since"/>, or null when some of them are no longer kept.</summary>
    public List<PublishedEvent>? EventsAfter(long since)
    {
        if (since > Offset)
            return null; // a position from the future: not this history
        if (since == Offset)
            return [];
        var missing = Offset - since;
        if (missing > _history.Count)
            return null;
        var result = new List<PublishedEvent>((int)missing);
        foreach (var (evt, offset, _) in _history)
        {
            if (offset > since)
                result.Add(evt);
        }
        return result;
    }

    /// <summary>The last <paramref name="count"/> events kept (fewer when fewer are), oldest first.</summary>
    public List<PublishedEvent> LastEvents(int count)
    {
        var skip = Math.Max(0, _history.Count - count);
        var result = new List<PublishedEvent>(_history.Count - skip);
        foreach (var (evt, _, _) in _history)
        {
            if (skip-- <= 0)
                result.Add(evt);
        }
        return result;
    }
}
