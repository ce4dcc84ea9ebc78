using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Auth;

/// <summary>The authentication's log messages (event ids 4000–4099).</summary>
internal static partial class AuthLog
{
    [LoggerMessage(4000, LogLevel.Warning, "Token refused: its '{Claim}' claim is malformed ({Problem})")]
    public static partial void TokenClaimRefused(this ILogger logger, string claim, string problem);
}
