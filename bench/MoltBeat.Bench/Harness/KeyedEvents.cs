using System.Text;

namespace MoltBeat.Bench.Harness;

/// <summary>One benchmark event as the conflation scenario reads it from a MoltBeat frame.</summary>
/// <param name="Due">When it was scheduled (µs, see <see cref="Peers.BenchPayload"/>).</param>
/// <param name="Key">The number of its key (<c>k12</c> → 12), -1 without one.</param>
/// <param name="Offset">Its offset in the bench room, -1 without one.</param>
/// <param name="Conflated">How many older events of its key it replaced (<c>"conflated"</c>, 0 when absent).</param>
internal readonly record struct KeyedEvent(long Due, int Key, long Offset, int Conflated);

/// <summary>
/// Reads the keyed benchmark events of one MoltBeat frame (a batched frame holds several), in order. An event
/// is <c>{"type":"event",…,"data":{"due":…},"ts":…,"key":"k12","offsets":{"bench:room":N},"conflated":k}</c>:
/// the fields are found by their markers after each <c>"due"</c>, the way <see cref="LoadClients"/> counts
/// events, so reading costs the load generator little more than counting.
/// </summary>
internal static class KeyedEvents
{
    private static readonly byte[] DueMarker = Encoding.ASCII.GetBytes("\"due\":");
    private static readonly byte[] KeyMarker = Encoding.ASCII.GetBytes("\"key\":\"k");
    private static readonly byte[] OffsetMarker = Encoding.ASCII.GetBytes($"\"{Peers.BenchPayload.Room}\":");
    private static readonly byte[] ConflatedMarker = Encoding.ASCII.GetBytes(",\"conflated\":");

    /// <summary>A callback over one event read.</summary>
    public delegate void Action(in KeyedEvent e);

    /// <summary>Passes each event of <paramref name="frame"/> to <paramref name="onEvent"/>; returns how many there were.</summary>
    public static int ForEach(ReadOnlySpan<byte> frame, Action onEvent)
    {
        var count = 0;
        var rest = frame;
        for (var at = rest.IndexOf(DueMarker); at >= 0; at = rest.IndexOf(DueMarker))
        {
            rest = rest[(at + DueMarker.Length)..];
            var due = ParseNumber(ref rest);
            // This event's own fields come before the next event's "due".
            var next = rest.IndexOf(DueMarker);
            var own = next < 0 ? rest : rest[..next];
            var key = -1;
            long offset = -1;
            var conflated = 0;
            if (own.IndexOf(KeyMarker) is var k and >= 0)
            {
                var field = own[(k + KeyMarker.Length)..];
                key = (int)ParseNumber(ref field);
            }
            if (own.IndexOf(OffsetMarker) is var o and >= 0)
            {
                var field = own[(o + OffsetMarker.Length)..];
                offset = ParseNumber(ref field);
            }
            if (own.IndexOf(ConflatedMarker) is var c and >= 0)
            {
                var field = own[(c + ConflatedMarker.Length)..];
                conflated = (int)ParseNumber(ref field);
            }
            onEvent(new KeyedEvent(due, key, offset, conflated));
            count++;
        }
        return count;
    }

    /// <summary>Reads the digits at the start of <paramref name="text"/> and moves past them.</summary>
    public static long ParseNumber(ref ReadOnlySpan<byte> text)
    {
        long value = 0;
        var n = 0;
        while (n < text.Length && text[n] is >= (byte)'0' and <= (byte)'9')
            value = value * 10 + (text[n++] - '0');
        text = text[n..];
        return value;
    }
}
