namespace MoltBeat.Bench.Harness;

/// <summary>Percentiles over sorted samples.</summary>
internal static class Percentile
{
    /// <summary>The sample at quantile <paramref name="q"/> (0..1, 1 = the largest) of <paramref name="sorted"/>; NaN when there is none.</summary>
    public static double Of(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
}
