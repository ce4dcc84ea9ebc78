using MoltBeat.WebSocket.Engine;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// The history figures of <see cref="GetStats"/>, counted in Redis: the history streams of the deployment (every node
/// reports the same figures), the entries they hold and the memory Redis reports for them.
/// </summary>
/// <remarks>
/// Counting costs Redis a <c>SCAN</c> of the keyspace and an <c>XLEN</c> and <c>MEMORY USAGE</c> per room, so it is not
/// done per call: <see cref="GetStats"/> answers the last count, and starts a new one in the background when that is
/// older than <see cref="RedisEngineOptions.HistoryStatsMaxAge"/> (the first call answers zeros). Metrics exporters read the stats every few seconds; this keeps them from scanning Redis each time.
/// </remarks>
public sealed partial class RedisEngine
{
    private const int HistoryScanPage = 512;

    private HistoryFigures? _historyFigures;
    private int _countingHistory;

    /// <inheritdoc />
    /// <remarks>
    /// History figures are the whole deployment's, counted in Redis at most <see cref="RedisEngineOptions.HistoryStatsMaxAge"/> ago
    /// (bytes: Redis's memory for the history streams); zeros until the first count is in.
    /// </remarks>
    public EngineStats GetStats()
    {
        var figures = Volatile.Read(ref _historyFigures);
        if (figures is null || TimeProvider.System.GetElapsedTime(figures.CountedAt) > _options.HistoryStatsMaxAge)
            StartCountingHistory();
        return new("redis", IsHealthy(), figures?.Rooms ?? 0, figures?.Events ?? 0, figures?.Bytes ?? 0);
    }

    private void StartCountingHistory()
    {
        if (_redis is null || Interlocked.Exchange(ref _countingHistory, 1) != 0)
            return;
        _ = Task.Run(async () =>
        {
            try
            {
                Volatile.Write(ref _historyFigures, await CountHistoryAsync().ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is EngineUnavailableException or RedisException or InvalidOperationException or ObjectDisposedException)
            {
                // Redis away or the engine stopping: the last figures stay, and the next GetStats tries again.
            }
            finally
            {
                Volatile.Write(ref _countingHistory, 0);
            }
        });
    }

    private async Task<HistoryFigures> CountHistoryAsync()
    {
        var db = ConnectedRedis("history count").GetDatabase();
        var pattern = EscapeGlob(_keys.History("").ToString()) + "*";
        int rooms = 0;
        long events = 0, bytes = 0;
        var cursor = "0";
        do
        {
            var page = (RedisResult[])(await db.ExecuteAsync("SCAN", cursor, "MATCH", pattern, "COUNT", HistoryScanPage).ConfigureAwait(false))!;
            cursor = (string)page[0]!;
            var keys = Array.ConvertAll((RedisResult[])page[1]!, k => (RedisKey)(string)k!);
            if (keys.Length == 0)
                continue;
            var sums = (RedisResult[])(await EvaluateAsync(RedisScripts.HistoryFigures, keys, [], "history count").ConfigureAwait(false))!;
            rooms += (int)sums[0];
            events += (long)sums[1];
            bytes += (long)sums[2];
        }
        while (cursor != "0");
        return new HistoryFigures(rooms, events, bytes, TimeProvider.System.GetTimestamp());
    }

    // The prefix is the operator's: a '*' or '[' in it must match itself.
    private static string EscapeGlob(string literal) =>
        literal.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("*", "\\*", StringComparison.Ordinal)
            .Replace("?", "\\?", StringComparison.Ordinal).Replace("[", "\\[", StringComparison.Ordinal).Replace("]", "\\]", StringComparison.Ordinal);

    private sealed record HistoryFigures(int Rooms, long Events, long Bytes, long CountedAt);
}
