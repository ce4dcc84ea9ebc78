using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Server;

/// <summary>The server's log messages about occupancy: counts, occupied and vacated rooms (ids 40+).</summary>
internal static partial class ServerLog
{
    // Debug: while the engine is down this would repeat every second for every watched room; the engine logs the outage itself.
    [LoggerMessage(40, LogLevel.Debug, "Reading the subscriber count of {Room} failed; occupancy messages resume when the engine is back")]
    public static partial void OccupancyReadFailed(ILogger logger, Exception exception, string room);
}
