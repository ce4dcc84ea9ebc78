using System.Security.Cryptography;
using System.Text;
using MoltBeat.WebSocket.Auth;

namespace MoltBeat.Server;

/// <summary>
/// Who may use POST /api/publish and /api/broadcast: with <c>--api-key</c>, a request carrying
/// <c>X-Api-Key</c>; with <c>--jwt-secret</c>, a request carrying <c>Authorization: Bearer JWT</c>
/// whose token is valid (same checks as WebSocket clients) and grants <c>publish</c> (claim
/// <c>scope</c> or <c>scp</c> holding <c>publish</c>, or <c>"publish": true</c>). With neither
/// configured the API is open (the server warns when it is reachable from other hosts).
/// The operator API (<see cref="CheckOperator"/>) takes the API key only, and is off without one.
/// </summary>
internal sealed class PublishAuth
{
    public const string PublishScope = "publish";

    private readonly byte[]? _apiKeyHash;
    private readonly JwtAuthenticator? _jwt;

    public PublishAuth(ServerSettings settings, ILogger<PublishAuth> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _apiKeyHash = settings.ApiKey is { } key ? SHA256.HashData(Encoding.UTF8.GetBytes(key)) : null;
        _jwt = settings.JwtSecret is null ? null : settings.CreateJwtAuthenticator(logger);
    }

    /// <summary>
    /// The outcome of a check: allowed, or refused with 401 (no or bad credentials) or 403 (no publish right).
    /// <paramref name="Rooms"/>: the rooms an allowed bearer token may publish to (its <c>rooms</c> claim); null for
    /// an API key, an open API, or a token without the claim.
    /// </summary>
    public readonly record struct Outcome(int Status, string? Error, RoomPermissions? Rooms = null)
    {
        public bool Allowed => Error is null;
    }

    /// <summary>Who may publish: the API key, or a valid bearer token granting <c>publish</c> (bounded by its <c>rooms</c> claim).</summary>
    public ValueTask<Outcome> CheckAsync(HttpRequest request, CancellationToken cancellationToken) =>
        CheckCredentialsAsync(request, "JWT with the publish scope", user => GrantsPublish(user)
            ? new(StatusCodes.Status200OK, null, user.Rooms)
            : new(StatusCodes.Status403Forbidden, "The bearer token does not grant 'publish' (scope or scp claim, or \"publish\": true)."), cancellationToken);

    /// <summary>
    /// Who may read a room over HTTP (<c>GET /api/rooms/{room}</c>): the API key, or a valid bearer token allowed to
    /// subscribe to the room (its <c>rooms</c> claim, as for a WebSocket subscribe); open when neither is configured.
    /// </summary>
    public ValueTask<Outcome> CheckReaderAsync(HttpRequest request, string room, CancellationToken cancellationToken) =>
        CheckCredentialsAsync(request, "JWT allowed the room", user => user.Rooms is { } rights && !rights.Allows(room)
            ? new(StatusCodes.Status403Forbidden, $"The bearer token's rooms claim does not allow '{room}'.")
            : new(StatusCodes.Status200OK, null), cancellationToken);

    /// <summary>
    /// The API key when one is given, else a bearer token, whose user <paramref name="grant"/> then judges; open when
    /// neither is configured. <paramref name="tokenKind"/> says, in a refusal, what kind of token would do.
    /// </summary>
    private async ValueTask<Outcome> CheckCredentialsAsync(HttpRequest request, string tokenKind, Func<WSUser, Outcome> grant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_apiKeyHash is null && _jwt is null)
            return new(StatusCodes.Status200OK, null);
        var givenKey = request.Headers["X-Api-Key"].ToString();
        if (givenKey.Length > 0)
            return IsApiKey(givenKey) ? new(StatusCodes.Status200OK, null) : new(StatusCodes.Status401Unauthorized, "Wrong X-Api-Key.");
        var authorization = request.Headers.Authorization.ToString();
        if (_jwt is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var user = await _jwt.AuthenticateAsync(authorization[7..].Trim(), cancellationToken);
            return user is null ? new(StatusCodes.Status401Unauthorized, "The bearer token is invalid or expired.") : grant(user);
        }
        var accepted = (_apiKeyHash, _jwt) switch
        {
            (not null, not null) => $"X-Api-Key or Authorization: Bearer <{tokenKind}>",
            (not null, null) => "X-Api-Key",
            _ => $"Authorization: Bearer <{tokenKind}>",
        };
        return new(StatusCodes.Status401Unauthorized, "Authentication required: " + accepted + ".");
    }

    private bool IsApiKey(string given) =>
        _apiKeyHash is not null && CryptographicOperations.FixedTimeEquals(_apiKeyHash, SHA256.HashData(Encoding.UTF8.GetBytes(given)));

    /// <summary>Whether the operator API (<c>/api/revoke</c>, <c>/api/unsubscribe</c>) can be used at all: only with an API key configured.</summary>
    public bool OperatorApiEnabled => _apiKeyHash is not null;

    /// <summary>
    /// Who may use the operator API: a request carrying the configured <c>X-Api-Key</c>, and nothing else (a bearer token,
    /// even with the publish scope, never). Without <c>--api-key</c> the operator API is off: 503, never open.
    /// </summary>
    public Outcome CheckOperator(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_apiKeyHash is null)
            return new(StatusCodes.Status503ServiceUnavailable, "The operator API (/api/revoke, /api/unsubscribe) is off: start the server with --api-key (MoltBeat__ApiKey) to use it with X-Api-Key.");
        var givenKey = request.Headers["X-Api-Key"].ToString();
        if (givenKey.Length == 0)
            return new(StatusCodes.Status401Unauthorized, "Authentication required: X-Api-Key (the operator API takes no bearer token).");
        return IsApiKey(givenKey) ? new(StatusCodes.Status200OK, null) : new(StatusCodes.Status401Unauthorized, "Wrong X-Api-Key.");
    }

    /// <summary>The schemes a refused client may use, for the WWW-Authenticate header.</summary>
    public string Challenge => _jwt is not null ? "Bearer realm=\"moltbeat\"" : "ApiKey header=\"X-Api-Key\"";

    private static bool GrantsPublish(WSUser user)
    {
        foreach (var claim in (string[])["scope", "scp"])
        {
            if (user.Claims.TryGetValue(claim, out var scopes)
                && scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(PublishScope, StringComparer.Ordinal))
                return true;
        }
        return user.Claims.TryGetValue(PublishScope, out var flag) && string.Equals(flag, "true", StringComparison.OrdinalIgnoreCase);
    }
}
