using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace MoltBeat.WebSocket.Hosting;

/// <summary>
/// The RFC 6455 opening handshake over Kestrel's HTTP/1.1 upgrade. We do it ourselves (rather than
/// <c>UseWebSockets</c>) so that the WebSocket runs over our <see cref="Server.Outgoing.ConnectionStream"/>,
/// which the connection's fan-out worker writes to as well.
/// </summary>
internal static class WebSocketHandshake
{
    private const string Rfc6455Guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>Checks the version and key; returns an error text when the handshake is malformed.</summary>
    public static string? Validate(string? version, string? key)
    {
        if (version != "13")
            return "Sec-WebSocket-Version must be 13";
        Span<byte> decoded = stackalloc byte[32];
        if (!Convert.TryFromBase64String(key ?? "", decoded, out var length) || length != 16)
            return "Sec-WebSocket-Key must be 16 bytes in base64";
        return null;
    }

    /// <summary>The Sec-WebSocket-Accept value for a client's key.</summary>
    public static string AcceptKey(string key)
    {
#pragma warning disable CA5350 // RFC 6455 defines the accept key with SHA-1; it is not used for security.
        return Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + Rfc6455Guid)));
#pragma warning restore CA5350
    }

    /// <summary>Answers 101 Switching Protocols (accepting permessage-deflate when <paramref name="deflate"/>) and returns the raw duplex stream.</summary>
    public static Task<Stream> AcceptAsync(HttpContext context, bool deflate)
    {
        if (deflate)
            context.Response.Headers.SecWebSocketExtensions = Compression.DeflateNegotiation.Response;
        var accept = AcceptKey(context.Request.Headers.SecWebSocketKey.ToString());
        context.Response.Headers.Connection = "Upgrade";
        context.Response.Headers.Upgrade = "websocket";
        context.Response.Headers.SecWebSocketAccept = accept;
        return context.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync();
    }
}
