using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Server;

/// <summary>The server's log messages, with stable event ids. Tokens are never logged.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(1, LogLevel.Debug, "Client {ClientId} connected from {RemoteAddress} as {UserId}")]
    public static partial void ClientConnected(this ILogger logger, string clientId, string? remoteAddress, string? userId);

    [LoggerMessage(2, LogLevel.Debug, "Client {ClientId} disconnected ({CloseCode} {CloseReason})")]
    public static partial void ClientDisconnected(this ILogger logger, string clientId, int? closeCode, string? closeReason);

    [LoggerMessage(3, LogLevel.Information, "Closing client {ClientId} with {CloseCode} {CloseReason}")]
    public static partial void ClosingClient(this ILogger logger, string clientId, int closeCode, string closeReason);

    [LoggerMessage(4, LogLevel.Warning, "Client {ClientId} is a slow consumer ({QueuedBytes} bytes, {QueuedMessages} messages queued): closing with 4009")]
    public static partial void SlowConsumer(this ILogger logger, string clientId, long queuedBytes, long queuedMessages);

    [LoggerMessage(5, LogLevel.Information, "Refused handshake from {RemoteAddress}: {Status} {Reason}")]
    public static partial void HandshakeRefused(this ILogger logger, string? remoteAddress, int status, string reason);

    [LoggerMessage(6, LogLevel.Information, "Client {ClientId} failed authentication: {Reason}")]
    public static partial void AuthenticationFailed(this ILogger logger, string clientId, string reason);

    [LoggerMessage(7, LogLevel.Error, "Client {ClientId}: handling a '{Type}' message failed")]
    public static partial void HandlerFailed(this ILogger logger, Exception exception, string clientId, string type);

    [LoggerMessage(8, LogLevel.Debug, "Client {ClientId} connection ended with an error")]
    public static partial void ConnectionFault(this ILogger logger, Exception exception, string clientId);

    [LoggerMessage(9, LogLevel.Error, "Publishing '{EventName}' failed")]
    public static partial void PublishFailed(this ILogger logger, Exception exception, string eventName);

    [LoggerMessage(10, LogLevel.Information, "MoltBeat WebSocket server listening on {Url}")]
    public static partial void Listening(this ILogger logger, string url);

    [LoggerMessage(11, LogLevel.Information, "Shutting down: closing {Count} clients with 1001")]
    public static partial void ShuttingDown(this ILogger logger, int count);

    [LoggerMessage(13, LogLevel.Error, "Client {ClientId}: the authenticator threw; closing with 1011")]
    public static partial void AuthenticatorFailed(this ILogger logger, Exception exception, string clientId);

    [LoggerMessage(12, LogLevel.Error, "An event handler of the server threw")]
    public static partial void EventHandlerFailed(this ILogger logger, Exception exception);

    [LoggerMessage(14, LogLevel.Error, "A fan-out worker failed on one item; it goes on with the next")]
    public static partial void FanoutFailed(this ILogger logger, Exception exception);

    [LoggerMessage(15, LogLevel.Information, "Client {ClientId} refreshed its token: {Count} subscription(s) it no longer allows were removed")]
    public static partial void SubscriptionsRevokedOnRefresh(this ILogger logger, string clientId, int count);
}
