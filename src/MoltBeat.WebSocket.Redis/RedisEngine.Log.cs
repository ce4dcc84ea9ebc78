using System.Net;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

public sealed partial class RedisEngine
{
    /// <summary>The engine's log messages, with stable event ids.</summary>
    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Redis engine connected to {Endpoints}, channel {Channel}")]
        public static partial void Started(ILogger logger, string endpoints, string channel);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Redis connection lost ({ConnectionType} to {Endpoint}, {FailureType}): publishes fail until it returns")]
        public static partial void ConnectionFailed(ILogger logger, Exception? exception, ConnectionType connectionType, EndPoint? endpoint, ConnectionFailureType failureType);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Redis connection restored ({ConnectionType} to {Endpoint})")]
        public static partial void ConnectionRestored(ILogger logger, ConnectionType connectionType, EndPoint? endpoint);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Subscribing to {Channel} failed; retrying in the background")]
        public static partial void SubscribeFailed(ILogger logger, Exception exception, string channel);

        [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Events {From}..{To} of epoch {Epoch} never reached this node (Redis connection lost meanwhile); its clients recover them from history")]
        public static partial void EventsLost(ILogger logger, long from, long to, string epoch);

        [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Redis lost the history (epoch {Old} is now {New}): clients that held positions are told recovered:false")]
        public static partial void EpochChanged(ILogger logger, string? old, string @new);

        [LoggerMessage(EventId = 3007, Level = LogLevel.Error, Message = "A message on the Redis channel could not be handled")]
        public static partial void MessageFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 3008, Level = LogLevel.Debug, Message = "Sync marker request failed")]
        public static partial void SyncFailed(ILogger logger, Exception exception);
    }
}
