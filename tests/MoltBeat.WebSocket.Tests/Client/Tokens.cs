using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>HS256 tokens for the client tests, made with the same library the server validates them with.</summary>
public static class Tokens
{
    public const string Secret = "moltbeat-client-tests-secret-0123456789";

    private static readonly JsonWebTokenHandler Handler = new();

    public static string Create(string userId, TimeSpan lifetime, string[]? rooms = null)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = userId };
        if (rooms is not null)
            claims["rooms"] = rooms;
        return Handler.CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims,
            IssuedAt = now,
            NotBefore = now.AddSeconds(-5),
            Expires = now + lifetime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret)), SecurityAlgorithms.HmacSha256),
        });
    }
}
