using System.Globalization;
using MoltBeat.WebSocket.Engine;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// Which Redis failures mean "the engine cannot do this now" (<see cref="EngineUnavailableException"/>, HTTP 503), and what
/// the caller is told about each: whether the command may still take effect is what a publisher needs to know to retry.
/// </summary>
public sealed partial class RedisEngine
{
    private static bool IsUnavailable(Exception ex) =>
        ex is RedisConnectionException or RedisTimeoutException or ObjectDisposedException
        || (ex is RedisServerException server && RefusalOf(server) is not null);

    /// <summary>
    /// What Redis refused a command for, when it refused it whole (nothing of it was carried out) for a state it can leave:
    /// null for any other error.
    /// </summary>
    /// <remarks>
    /// <c>LOADING</c> and <c>BUSY</c> refuse the command before it runs. <c>OOM</c> and <c>READONLY</c> stop a script at its
    /// first write, so it changed nothing: Redis checks memory only there and lets a script that wrote once finish
    /// (atomicity), and a read-only replica refuses every write.
    /// </remarks>
    private static string? RefusalOf(RedisServerException server)
    {
        var message = server.Message;
        if (message.StartsWith("OOM", StringComparison.Ordinal))
            return "is out of memory (maxmemory reached, with a policy that evicts nothing)";
        if (message.StartsWith("READONLY", StringComparison.Ordinal))
            return "answered as a read-only replica (a failover under way?)";
        if (message.StartsWith("MASTERDOWN", StringComparison.Ordinal))
            return "is a replica that lost its primary";
        if (message.StartsWith("LOADING", StringComparison.Ordinal))
            return "is loading its data";
        if (message.StartsWith("BUSY", StringComparison.Ordinal))
            return "is busy with a long script";
        return null;
    }

    private EngineUnavailableException Unavailable(string what, Exception? inner)
    {
        var message = inner switch
        {
            // Redis may have the command queued (a pause, a slow script): it can still run it after this answer.
            RedisTimeoutException => string.Create(CultureInfo.InvariantCulture,
                $"Redis ({_endpoints}) did not answer the {what} within {_options.OperationTimeout.TotalMilliseconds:0} ms, so it failed here, but Redis may still carry it out (a publish may yet be recorded and delivered): retry a publish with the same idempotency key, which publishes it only if it was not. This node keeps serving its clients."),
            RedisServerException server when RefusalOf(server) is { } refusal => string.Create(CultureInfo.InvariantCulture,
                $"Redis ({_endpoints}) {refusal}, so it refused the {what}: nothing was recorded or sent. This node keeps serving its clients; try again once Redis accepts writes."),
            _ => string.Create(CultureInfo.InvariantCulture,
                $"Redis ({_endpoints}) is unreachable, so the {what} failed and nothing was sent. This node keeps serving its clients and reconnects by itself."),
        };
        return inner is null ? new EngineUnavailableException(message) : new EngineUnavailableException(message, inner);
    }
}
