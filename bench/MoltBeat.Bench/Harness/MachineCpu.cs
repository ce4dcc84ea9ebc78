using System.Globalization;

namespace MoltBeat.Bench.Harness;

/// <summary>The whole machine's CPU counters (/proc/stat), to tell how busy both cores were during a run.</summary>
internal readonly record struct MachineCpu(long Busy, long Total)
{
    public static MachineCpu Read()
    {
        // "cpu user nice system idle iowait irq softirq steal ...": idle and iowait are the idle part.
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var total = fields.Sum();
        return new MachineCpu(total - fields[3] - fields[4], total);
    }

    /// <summary>Percent of the machine's CPU time that was busy since <paramref name="before"/>.</summary>
    public double BusyPercentSince(MachineCpu before) =>
        Total == before.Total ? 0 : 100.0 * (Busy - before.Busy) / (Total - before.Total);
}
