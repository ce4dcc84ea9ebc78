namespace MoltBeat.Bench.Harness;

/// <summary>
/// Latencies counted in 0.1 ms buckets up to 30 s (longer ones in the last), safe to record from many reader
/// threads at once: for scenarios whose events are too many to keep each one's latency.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int BucketMicros = 100;
    private readonly long[] _buckets = new long[300_001];
    private long _maxMicros;

    public long Count => _buckets.Sum();

    public void Record(long micros)
    {
        var bucket = (int)Math.Clamp(micros / BucketMicros, 0, _buckets.Length - 1);
        Interlocked.Increment(ref _buckets[bucket]);
        for (var max = Interlocked.Read(ref _maxMicros); micros > max; max = Interlocked.Read(ref _maxMicros))
            Interlocked.CompareExchange(ref _maxMicros, micros, max);
    }

    /// <summary>The latency (ms) that a fraction <paramref name="p"/> of the recorded ones did not exceed (a bucket's upper edge).</summary>
    public double Percentile(double p)
    {
        var total = Count;
        if (total == 0)
            return 0;
        var rank = (long)Math.Ceiling(p * total);
        long seen = 0;
        for (var i = 0; i < _buckets.Length; i++)
        {
            seen += _buckets[i];
            if (seen >= rank)
                return (i + 1) * BucketMicros / 1000.0;
        }
        return MaxMs;
    }

    public double MaxMs => Interlocked.Read(ref _maxMicros) / 1000.0;

    /// <summary>The fraction of recorded latencies at or below <paramref name="ms"/>.</summary>
    public double FractionWithin(double ms)
    {
        var total = Count;
        if (total == 0)
            return 1;
        var last = (int)Math.Min(_buckets.Length - 1, ms * 1000 / BucketMicros);
        return _buckets.Take(last).Sum() / (double)total;
    }

    public void Reset()
    {
        Array.Clear(_buckets);
        Interlocked.Exchange(ref _maxMicros, 0);
    }
}
