using System.Net;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>The Redis engine's log messages, with stable event ids (3001+; the server uses 1-999, the client 2001+).</summary>
internal static partial class RedisEngineLog
{
    [LoggerMessage(3001, LogLevel.Information, "Redis engine connected to {Endpoints}, channel {Channel}")]
    public static partial void Started(this ILogger logger, string endpoints, string channel);

    [LoggerMessage(3002, LogLevel.Warning, "Redis connection lost ({ConnectionType} to {Endpoint}, {FailureType}): publishes fail until it returns")]
    public static partial void ConnectionFailed(this ILogger logger, Exception? exception, ConnectionType connectionType, EndPoint? endpoint, ConnectionFailureType failureType);

    [LoggerMessage(3003, LogLevel.Information, "Redis connection restored ({ConnectionType} to {Endpoint})")]
    public static partial void ConnectionRestored(this ILogger logger, ConnectionType connectionType, EndPoint? endpoint);

    [LoggerMessage(3004, LogLevel.Warning, "Subscribing to {Channel} failed; retrying in the background")]
    public static partial void SubscribeFailed(this ILogger logger, Exception exception, string channel);

    [LoggerMessage(3005, LogLevel.Warning, "Events {From}..{To} of epoch {Epoch} never reached this node (Redis connection lost meanwhile) and the history of all no longer holds them: its clients recover them on their next subscribe with since, while their rooms' history holds them")]
    public static partial void EventsLost(this ILogger logger, long from, long to, string epoch);

    [LoggerMessage(3006, LogLevel.Warning, "Redis lost the history (epoch {Old} is now {New}): clients that held positions are told recovered:false")]
    public static partial void EpochChanged(this ILogger logger, string? old, string @new);

    [LoggerMessage(3007, LogLevel.Error, "A message on the Redis channel could not be handled")]
    public static partial void MessageFailed(this ILogger logger, Exception exception);

    [LoggerMessage(3008, LogLevel.Debug, "Sync marker request failed")]
    public static partial void SyncFailed(this ILogger logger, Exception exception);

    [LoggerMessage(3009, LogLevel.Warning, "Node heartbeat failed (this node's subscriber counts are shared again at the next one)")]
    public static partial void HeartbeatFailed(this ILogger logger, Exception exception);

    [LoggerMessage(3010, LogLevel.Information, "{Count} of events {From}..{To} of epoch {Epoch} had not reached this node (its Redis subscription was down): delivered them late, in order, from the history")]
    public static partial void EventsCaughtUp(this ILogger logger, int count, long from, long to, string epoch);

    [LoggerMessage(3011, LogLevel.Warning, "Could not read events {From}..{To} of epoch {Epoch}, which had not reached this node, from the history")]
    public static partial void CatchUpFailed(this ILogger logger, Exception exception, long from, long to, string epoch);
}
