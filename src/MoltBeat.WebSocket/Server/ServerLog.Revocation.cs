using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Server;

/// <summary>The server's log messages about revocation (ids 30+).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(30, LogLevel.Information, "User {UserId} revoked: {Count} of its connections on this node closed with 4003")]
    public static partial void UserRevoked(this ILogger logger, string userId, int count);

    [LoggerMessage(31, LogLevel.Information, "User {UserId} unsubscribed by an operator from {Room} and the rooms below it on {Count} connections of this node")]
    public static partial void UserUnsubscribed(this ILogger logger, string userId, string room, int count);

    [LoggerMessage(32, LogLevel.Warning, "Client {ClientId}: the engine's revocations could not be read; only those this node knows of were checked")]
    public static partial void RevocationCheckFailed(this ILogger logger, Exception exception, string clientId);
}
