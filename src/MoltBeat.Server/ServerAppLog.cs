namespace MoltBeat.Server;

/// <summary>
/// The server application's own log messages (startup and shutdown 1-5, demo feed 100+, publish API 200+, operator API 300+, occupancy webhook 400+), with
/// stable event ids in its own categories; the library's are in <c>ServerLog</c>. Keys and tokens are never logged.
/// </summary>
internal static partial class ServerAppLog
{
    [LoggerMessage(1, LogLevel.Information, "MoltBeat dashboard: {Url}/  WebSocket: {WebSocketUrl}  demo feed: {Demo}")]
    public static partial void Ready(this ILogger logger, string url, string webSocketUrl, string demo);

    [LoggerMessage(2, LogLevel.Warning, "POST /api/publish and /api/broadcast are open to anyone who can reach this server: set --api-key or --jwt-secret")]
    public static partial void OpenPublishApi(this ILogger logger);

    [LoggerMessage(3, LogLevel.Information, "Shutting down: closing clients with 1001")]
    public static partial void Stopping(this ILogger logger);

    [LoggerMessage(4, LogLevel.Information, "Stopped")]
    public static partial void Stopped(this ILogger logger);

    [LoggerMessage(5, LogLevel.Critical, "The server could not start: {Reason}")]
    public static partial void StartFailed(this ILogger logger, string reason);

    [LoggerMessage(100, LogLevel.Information, "Demo feed started: {Rate} events/s")]
    public static partial void DemoFeedStarted(this ILogger logger, double rate);

    [LoggerMessage(101, LogLevel.Warning, "Demo feed could not publish")]
    public static partial void DemoFeedFailed(this ILogger logger, Exception exception);

    [LoggerMessage(200, LogLevel.Warning, "Publish API refused a request from {Remote}: {Status} {Reason}")]
    public static partial void PublishRefused(this ILogger logger, string? remote, int status, string reason);

    [LoggerMessage(400, LogLevel.Information, "Occupancy webhook: room.occupied and room.vacated notices are POSTed to {Target} (queue {Capacity}, {Attempts} attempts each)")]
    public static partial void WebhookStarted(this ILogger logger, string target, int capacity, int attempts);

    [LoggerMessage(401, LogLevel.Warning, "Occupancy webhook {Target} is failing: {Reason} ({Attempts} failed attempts and {GivenUp} notices given up since the last warning)")]
    public static partial void WebhookFailing(this ILogger logger, string target, string reason, int attempts, int givenUp);

    [LoggerMessage(402, LogLevel.Information, "Occupancy webhook {Target} accepts notices again")]
    public static partial void WebhookRecovered(this ILogger logger, string target);

    [LoggerMessage(403, LogLevel.Warning, "Occupancy webhook {Target}: the queue of {Capacity} notices is full; {Dropped} notices dropped since the last warning")]
    public static partial void WebhookQueueFull(this ILogger logger, string target, int capacity, long dropped);

    [LoggerMessage(404, LogLevel.Warning, "Occupancy webhook {Target} stopped with {Count} notices undelivered")]
    public static partial void WebhookStoppedUndelivered(this ILogger logger, string target, int count);

    [LoggerMessage(405, LogLevel.Error, "Occupancy webhook {Target}: the sender stopped unexpectedly; notices are no longer sent")]
    public static partial void WebhookSenderFailed(this ILogger logger, string target, Exception exception);
}
