using System.Diagnostics;
using System.Globalization;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Soak;

/// <summary>One reading of the process's resources.</summary>
internal sealed record Sample(TimeSpan At, long RssBytes, long HeapBytes, int Gen0, int Gen1, int Gen2, int Threads, int Handles, int Clients, long Delivered, long Churned)
{
    private static int s_forced;

    public const string Header = "  time      RSS MB   heap MB   gen0   gen1   gen2  threads  handles  clients   delivered    churned";

    public static Sample Take(TimeSpan at, MoltBeatWSServer server, Load load)
    {
        // GC counts as the load left them, then the live managed heap after a full collection (what is really held,
        // not garbage yet to be collected); the sampler's own forced collections are not counted.
        var (gen0, gen1, gen2) = (GC.CollectionCount(0) - s_forced, GC.CollectionCount(1) - s_forced, GC.CollectionCount(2) - s_forced);
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        s_forced++;
        return new Sample(at, ReadRss(), heap, gen0, gen1, gen2,
            ReadThreads(), Directory.GetFiles("/proc/self/fd").Length, server.GetStats().TotalClients, load.Delivered, load.Churned);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{At:mm\\:ss}   {RssBytes / 1048576.0,8:F1}  {HeapBytes / 1048576.0,8:F1}  {Gen0,5}  {Gen1,5}  {Gen2,5}  {Threads,7}  {Handles,7}  {Clients,7}  {Delivered,10:N0}  {Churned,9:N0}");

    private static long ReadRss() => ReadStatus("VmRSS:") * 1024;

    private static int ReadThreads() => (int)ReadStatus("Threads:");

    private static long ReadStatus(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        return Process.GetCurrentProcess().WorkingSet64;
    }
}

/// <summary>Whether RSS, live heap, threads and handles stayed flat after warm-up.</summary>
internal sealed record Verdict(bool Flat, List<string> Lines)
{
    public static Verdict Judge(List<Sample> samples, TimeSpan warmUp)
    {
        var steady = samples.Where(s => s.At >= warmUp).ToList();
        if (steady.Count < 3)
            return new Verdict(false, [$"only {steady.Count} samples after the {warmUp.TotalSeconds:N0} s warm-up: run longer"]);
        // Compare the first steady sample with the mean of the last half: growth within a tolerance is flat.
        var lines = new List<string>();
        var flat = true;
        Check("RSS", s => s.RssBytes / 1048576.0, relative: 0.15, absolute: 24, "MB");
        Check("managed heap", s => s.HeapBytes / 1048576.0, relative: 0.15, absolute: 8, "MB");
        Check("threads", s => s.Threads, relative: 0.25, absolute: 8, "");
        Check("handles", s => s.Handles, relative: 0.10, absolute: 64, "");
        return new Verdict(flat, lines);

        void Check(string name, Func<Sample, double> value, double relative, double absolute, string unit)
        {
            var first = value(steady[0]);
            var tail = steady.Skip(steady.Count / 2).Select(value).ToList();
            var last = tail.Average();
            var slope = Slope(steady.Select(s => s.At.TotalMinutes).ToList(), steady.Select(value).ToList());
            var ok = last <= first * (1 + relative) + absolute;
            flat &= ok;
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{name,-13} first steady {first,9:F1}{unit}  last-half mean {last,9:F1}{unit}  trend {slope,8:F2}{unit}/min  {(ok ? "flat" : "GROWING")}"));
        }
    }

    private static double Slope(List<double> x, List<double> y)
    {
        var mx = x.Average();
        var my = y.Average();
        var den = x.Sum(v => (v - mx) * (v - mx));
        return den == 0 ? 0 : x.Zip(y).Sum(p => (p.First - mx) * (p.Second - my)) / den;
    }
}
