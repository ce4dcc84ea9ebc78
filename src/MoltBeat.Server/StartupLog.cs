namespace MoltBeat.Server;

internal static partial class StartupLog
{
    [LoggerMessage(1, LogLevel.Information, "MoltBeat dashboard: {Url}/  WebSocket: {WebSocketUrl}  demo feed: {Demo}")]
    public static partial void Ready(ILogger logger, string url, string webSocketUrl, string demo);

    [LoggerMessage(2, LogLevel.Warning, "POST /api/publish and /api/broadcast are open to anyone who can reach this server: set --api-key or --jwt-secret")]
    public static partial void OpenPublishApi(ILogger logger);

    [LoggerMessage(3, LogLevel.Information, "Shutting down: closing clients with 1001")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(4, LogLevel.Information, "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(5, LogLevel.Critical, "The server could not start: {Reason}")]
    public static partial void StartFailed(ILogger logger, string reason);
}
