namespace MoltBeat.WebSocket.Protocol;

/// <summary>The <c>code</c> values of protocol v1 <c>error</c> messages.</summary>
public static class ErrorCodes
{
    /// <summary>Malformed JSON, or a missing or ill-typed field.</summary>
    public const string BadRequest = "bad_request";

    /// <summary>A message whose <c>type</c> the server does not know.</summary>
    public const string UnknownType = "unknown_type";

    /// <summary>A room name outside 1–128 characters of <c>A–Z a–z 0–9 _ - . :</c>.</summary>
    public const string InvalidRoom = "invalid_room";

    /// <summary>The authorization hook refused the subscription.</summary>
    public const string Forbidden = "forbidden";

    /// <summary>The connection already holds the maximum number of subscriptions.</summary>
    public const string TooManySubscriptions = "too_many_subscriptions";

    /// <summary>The connection sends faster than its rate limit allows.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>Not authenticated yet, or the token was refused.</summary>
    public const string Unauthorized = "unauthorized";

    /// <summary>The server failed while handling the request.</summary>
    public const string Internal = "internal";
}
