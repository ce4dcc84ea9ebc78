using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace MoltBeat.WebSocket.Auth;

/// <summary>
/// A ready <see cref="Server.WSServerOptions.AuthenticateClient"/> for JWTs, on
/// Microsoft.IdentityModel.JsonWebTokens: checks the signature (HS256 or RS256 only, so <c>alg: none</c>
/// and algorithm confusion are refused), <c>exp</c>, <c>nbf</c>, and the issuer and audience when configured,
/// and reads the <c>rooms</c> claim into <see cref="WSUser.Rooms"/> (a malformed one refuses the token).
/// </summary>
public sealed class JwtAuthenticator
{
    private static readonly string[] AllowedAlgorithms = [SecurityAlgorithms.HmacSha256, SecurityAlgorithms.RsaSha256];

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly TokenValidationParameters _parameters;
    private readonly string _userIdClaim;
    private readonly string _roomsClaim;
    private readonly ILogger _logger;

    /// <summary>Creates the authenticator.</summary>
    /// <param name="options">Keys and checks.</param>
    /// <param name="timeProvider">The clock for <c>exp</c> and <c>nbf</c>; the system's when null.</param>
    /// <param name="logger">Where a refused token's reason goes when it is not the signature or the lifetime (a malformed claim).</param>
    /// <exception cref="ArgumentException">No key, more than one key source, or a key that cannot be read.</exception>
    public JwtAuthenticator(JwtAuthOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var keys = ReadKeys(options);
        var time = timeProvider ?? TimeProvider.System;
        _userIdClaim = options.UserIdClaim;
        _roomsClaim = options.RoomsClaim;
        _logger = logger ?? NullLogger.Instance;
        _parameters = new TokenValidationParameters
        {
            IssuerSigningKeys = keys,
            ValidAlgorithms = AllowedAlgorithms,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = options.ClockSkew,
            ValidateIssuer = options.Issuer is not null,
            ValidIssuer = options.Issuer,
            ValidateAudience = options.Audience is not null,
            ValidAudience = options.Audience,
            // Validate against the injected clock so tests can move time.
            LifetimeValidator = (notBefore, expires, _, p) =>
            {
                var now = time.GetUtcNow().UtcDateTime;
                return (notBefore is not { } nbf || nbf - p.ClockSkew <= now) && expires is { } exp && now < exp + p.ClockSkew;
            },
        };
    }

    /// <summary>Turns a token into its user, or null when it is not valid.</summary>
    public async ValueTask<WSUser?> AuthenticateAsync(string token, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 16 * 1024)
            return null;
        var result = await _handler.ValidateTokenAsync(token, _parameters).ConfigureAwait(false);
        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
            return null;
        if (!jwt.TryGetPayloadValue<object>(_userIdClaim, out var userId) || userId?.ToString() is not { Length: > 0 } id)
            return null;
        if (!TryReadRooms(jwt, out var rooms))
            return null;
        var claims = new Dictionary<string, string>(StringComparer.Ordinal);
        // A claim that is a JSON array ("scope": ["read", "publish"]) comes as several claims: keep them all, space-separated.
        foreach (var claim in jwt.Claims)
            claims[claim.Type] = claims.TryGetValue(claim.Type, out var earlier) ? earlier + " " + claim.Value : claim.Value;
        // IssuedAt is DateTime.MinValue when the token has no iat.
        DateTimeOffset? issuedAt = jwt.IssuedAt == DateTime.MinValue ? null : new DateTimeOffset(jwt.IssuedAt, TimeSpan.Zero);
        return new WSUser(id) { ExpiresAt = new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero), IssuedAt = issuedAt, Rooms = rooms, Claims = claims };
    }

    /// <summary>Reads the rooms claim from the payload as JSON (the claim API would turn <c>[1]</c> into <c>"1"</c>).</summary>
    private bool TryReadRooms(JsonWebToken jwt, out RoomPermissions? rooms)
    {
        rooms = null;
        using var payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
        if (payload.RootElement.ValueKind != JsonValueKind.Object || !payload.RootElement.TryGetProperty(_roomsClaim, out var claim))
            return true;
        if (RoomPermissions.TryParse(claim, out rooms, out var error))
            return true;
        _logger.TokenClaimRefused(_roomsClaim, error!);
        return false;
    }

    /// <summary>This authenticator as the delegate <see cref="Server.WSServerOptions.AuthenticateClient"/> takes.</summary>
    public Func<string, CancellationToken, ValueTask<WSUser?>> AsDelegate() => AuthenticateAsync;

    private static List<SecurityKey> ReadKeys(JwtAuthOptions options)
    {
        var sources = (options.Secret is null ? 0 : 1) + (options.PublicKeyPem is null ? 0 : 1) + (options.JwksJson is null ? 0 : 1);
        if (sources != 1)
            throw new ArgumentException("Give exactly one of Secret (HS256), PublicKeyPem (RS256) or JwksJson.", nameof(options));
        if (options.Secret is { } secret)
        {
            var bytes = Encoding.UTF8.GetBytes(secret);
            if (bytes.Length < 32)
                throw new ArgumentException("The HS256 secret must be at least 32 bytes.", nameof(options));
            return [new SymmetricSecurityKey(bytes)];
        }
        if (options.PublicKeyPem is { } pem)
        {
            var rsa = RSA.Create();
            try
            {
                rsa.ImportFromPem(pem);
            }
            catch (ArgumentException ex)
            {
                rsa.Dispose();
                throw new ArgumentException("PublicKeyPem is not a PEM RSA public key.", nameof(options), ex);
            }
            return [new RsaSecurityKey(rsa)];
        }
        var keys = new JsonWebKeySet(options.JwksJson).GetSigningKeys();
        if (keys.Count == 0)
            throw new ArgumentException("JwksJson holds no signing key.", nameof(options));
        return [.. keys];
    }
}
