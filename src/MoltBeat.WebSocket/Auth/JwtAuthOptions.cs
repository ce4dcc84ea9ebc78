namespace MoltBeat.WebSocket.Auth;

/// <summary>
/// How <see cref="JwtAuthenticator"/> checks tokens. Give one key source: <see cref="Secret"/> (HS256),
/// <see cref="PublicKeyPem"/> (RS256) or <see cref="JwksJson"/> (a JWKS document with RS256 keys).
/// </summary>
public sealed class JwtAuthOptions
{
    /// <summary>Shared secret for HS256, at least 32 bytes of UTF-8.</summary>
    public string? Secret { get; set; }

    /// <summary>RSA public key in PEM (<c>-----BEGIN PUBLIC KEY-----</c>) for RS256.</summary>
    public string? PublicKeyPem { get; set; }

    /// <summary>A JWKS document (<c>{"keys":[...]}</c>) whose RSA keys may sign tokens (RS256).</summary>
    public string? JwksJson { get; set; }

    /// <summary>Required <c>iss</c>; not checked when null.</summary>
    public string? Issuer { get; set; }

    /// <summary>Required <c>aud</c>; not checked when null.</summary>
    public string? Audience { get; set; }

    /// <summary>The claim that holds the user id. Default <c>sub</c>.</summary>
    public string UserIdClaim { get; set; } = "sub";

    /// <summary>
    /// The claim that holds the rooms a token allows (<see cref="RoomPermissions"/>): an array of patterns. A token
    /// whose claim is not an array of strings, each <c>*</c> or a room name, is refused. Default <c>rooms</c>.
    /// </summary>
    public string RoomsClaim { get; set; } = "rooms";

    /// <summary>Tolerance for clock differences on <c>exp</c> and <c>nbf</c>. Default 0: a token is refused from its expiry on.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.Zero;
}
