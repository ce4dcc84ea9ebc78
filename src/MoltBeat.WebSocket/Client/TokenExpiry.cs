using System.Buffers.Text;
using System.Text.Json;

namespace MoltBeat.WebSocket.Client;

/// <summary>
/// Reads a JWT's <c>exp</c> claim without validating the token: the client only needs to know when to refresh
/// it; the server does the validation.
/// </summary>
internal static class TokenExpiry
{
    /// <summary>The token's expiry, or null when it is not a JWT or has no numeric <c>exp</c>.</summary>
    public static DateTimeOffset? FromJwt(string? token)
    {
        if (string.IsNullOrEmpty(token))
            return null;
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[1].Length == 0 || parts[1].Length > 16 * 1024)
            return null;
        try
        {
            var payload = Base64Url.DecodeFromChars(parts[1]);
            using var doc = JsonDocument.Parse(payload);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("exp", out var exp)
                && exp.ValueKind == JsonValueKind.Number
                && exp.TryGetDouble(out var seconds)
                && seconds is > 0 and < 253402300799)
            {
                return DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000));
            }
        }
        catch (FormatException)
        {
        }
        catch (JsonException)
        {
        }
        return null;
    }
}
