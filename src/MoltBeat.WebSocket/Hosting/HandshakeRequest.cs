using Microsoft.AspNetCore.Http;

namespace MoltBeat.WebSocket.Hosting;

/// <summary>
/// The parts of a WebSocket opening handshake the server decides on, whichever transport read it:
/// Kestrel's HTTP pipeline (hosted in an app) or the raw connection handler (standalone).
/// </summary>
internal sealed record HandshakeRequest(
    string Method,
    string? Upgrade,
    string? Version,
    string? Key,
    string? Origin,
    string? Token,
    bool Batch,
    string? RemoteAddress,
    string? Extensions)
{
    /// <summary>Reads the handshake from an ASP.NET Core request.</summary>
    public static HandshakeRequest From(HttpContext context)
    {
        var request = context.Request;
        return new HandshakeRequest(
            request.Method,
            request.Headers.Upgrade.ToString(),
            request.Headers.SecWebSocketVersion.ToString(),
            request.Headers.SecWebSocketKey.ToString(),
            request.Headers.Origin.ToString(),
            TokenFrom(request.Query["token"].ToString(), request.Headers.Authorization.ToString()),
            request.Query["batch"] == "1",
            context.Connection.RemoteIpAddress?.ToString(),
            request.Headers.SecWebSocketExtensions.ToString());
    }

    /// <summary>The token from the query string, else from <c>Authorization: Bearer</c>.</summary>
    public static string? TokenFrom(string? query, string? authorization)
    {
        if (!string.IsNullOrEmpty(query))
            return query;
        return authorization is { Length: > 7 } header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? header[7..].Trim()
            : null;
    }
}
