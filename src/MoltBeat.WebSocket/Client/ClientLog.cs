using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Client;

/// <summary>The client's log messages, with stable event ids (2001+; the server uses 1-999). Tokens are never logged.</summary>
internal static partial class ClientLog
{
    [LoggerMessage(2001, LogLevel.Information, "Connected to {Url} as client {ClientId}")]
    public static partial void Connected(this ILogger logger, string url, string clientId);

    [LoggerMessage(2002, LogLevel.Information, "Connection lost ({CloseCode} {CloseReason}); reconnecting: {WillReconnect}")]
    public static partial void ConnectionLost(this ILogger logger, Exception? exception, int? closeCode, string? closeReason, bool willReconnect);

    [LoggerMessage(2003, LogLevel.Debug, "Reconnect attempt {Attempt} in {Delay}")]
    public static partial void ReconnectScheduled(this ILogger logger, int attempt, TimeSpan delay);

    [LoggerMessage(2004, LogLevel.Information, "Reconnect attempt {Attempt} failed")]
    public static partial void ReconnectAttemptFailed(this ILogger logger, Exception exception, int attempt);

    [LoggerMessage(2005, LogLevel.Warning, "Gave up reconnecting after {Attempts} attempts")]
    public static partial void ReconnectGaveUp(this ILogger logger, Exception? exception, int attempts);

    [LoggerMessage(2006, LogLevel.Warning, "No message within the heartbeat interval {Interval}: the connection is dead, aborting it")]
    public static partial void HeartbeatTimeout(this ILogger logger, TimeSpan interval);

    [LoggerMessage(2007, LogLevel.Warning, "Room {Room} could not be recovered (asked from {SinceEpoch}/{SinceOffset}, now {Epoch}/{Offset})")]
    public static partial void RecoveryFailed(this ILogger logger, string room, string? sinceEpoch, long? sinceOffset, string epoch, long offset);

    [LoggerMessage(2008, LogLevel.Debug, "Dropped duplicate event {EventId}")]
    public static partial void DuplicateDropped(this ILogger logger, long eventId);

    [LoggerMessage(2009, LogLevel.Debug, "Token refreshed; it now expires at {ExpiresAt}")]
    public static partial void TokenRefreshed(this ILogger logger, DateTimeOffset? expiresAt);

    [LoggerMessage(2010, LogLevel.Warning, "Token refresh failed")]
    public static partial void TokenRefreshFailed(this ILogger logger, Exception exception);

    [LoggerMessage(2011, LogLevel.Error, "An Error event handler threw")]
    public static partial void ErrorHandlerFailed(this ILogger logger, Exception exception);

    [LoggerMessage(2012, LogLevel.Warning, "The server sent a message the client cannot read")]
    public static partial void MalformedMessage(this ILogger logger, Exception exception);

    [LoggerMessage(2013, LogLevel.Information, "Not reconnecting after close {CloseCode} {CloseReason}")]
    public static partial void NotReconnecting(this ILogger logger, int? closeCode, string? closeReason);

    [LoggerMessage(2014, LogLevel.Information, "Room {Room} has a new epoch {Epoch}: replaying it from its start, holding events meanwhile")]
    public static partial void CatchupStarted(this ILogger logger, string room, string epoch);

    [LoggerMessage(2015, LogLevel.Warning, "A new epoch's replay took longer than {Timeout}: delivering the held events as they are")]
    public static partial void CatchupTimedOut(this ILogger logger, TimeSpan timeout);

    [LoggerMessage(2016, LogLevel.Warning, "The server removed the subscription to {Room} ({Reason}); it is not resubscribed")]
    public static partial void RemovedByServer(this ILogger logger, string room, string reason);
}
