namespace MoltBeat.Server;

internal static partial class StartupLog
{
    [LoggerMessage(1, LogLevel.Information, "MoltBeat dashboard: {Url}/  WebSocket: {WebSocketUrl}  demo feed: {Demo}")]
    public static partial void Ready(ILogger logger, string url, string webSocketUrl, string demo);
}
