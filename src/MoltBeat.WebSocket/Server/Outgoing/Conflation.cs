using MoltBeat.WebSocket.Engine;

namespace MoltBeat.WebSocket.Server.Outgoing;

/// <summary>Conflation of a list of events, as a subscription with <c>maxRate</c> receives its replay.</summary>
internal static class Conflation
{
    /// <summary>
    /// The newest event of each conflation key, each in its own place, with how many older ones of its key it replaced;
    /// events without a key all stay. Order (and so increasing offsets) is kept.
    /// </summary>
    public static List<(PublishedEvent Event, int Replaced)> NewestOfEachKey(IReadOnlyList<PublishedEvent> events)
    {
        var replaced = new Dictionary<string, int>(StringComparer.Ordinal);
        var kept = new List<(PublishedEvent, int)>(events.Count);
        for (var i = events.Count - 1; i >= 0; i--)
        {
            var published = events[i];
            if (published.ConflationKey is not { } key)
            {
                kept.Add((published, 0));
            }
            else if (replaced.TryGetValue(key, out var count))
            {
                replaced[key] = count + 1;
            }
            else
            {
                replaced[key] = 0;
                kept.Add((published, -1)); // its count is known once every older one was seen
            }
        }
        kept.Reverse();
        for (var i = 0; i < kept.Count; i++)
        {
            if (kept[i].Item2 < 0)
                kept[i] = (kept[i].Item1, replaced[kept[i].Item1.ConflationKey!]);
        }
        return kept;
    }
}
