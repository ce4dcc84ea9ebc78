using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace MoltBeat.Server.Tests.Infrastructure;

/// <summary>HS256 tokens made by hand, as any issuer would.</summary>
public static class Jwt
{
    public static string Create(string secret, IDictionary<string, object> claims)
    {
        static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var header = Encode(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "HS256", ["typ"] = "JWT" }));
        var payload = Encode(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(header + "." + payload));
        return header + "." + payload + "." + Encode(signature);
    }

    public static string Create(string secret, string subject, string? scope = null)
    {
        var claims = new Dictionary<string, object> { ["sub"] = subject, ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds() };
        if (scope is not null)
            claims["scope"] = scope;
        return Create(secret, claims);
    }
}
