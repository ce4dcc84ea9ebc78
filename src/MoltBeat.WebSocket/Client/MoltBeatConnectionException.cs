using System.Net;

namespace MoltBeat.WebSocket.Client;

/// <summary>
/// A connection could not be established or was lost: the server refused the handshake (<see cref="StatusCode"/>,
/// e.g. 403 for a refused origin, 503 when full), closed it (<see cref="CloseCode"/>, e.g. 4001 unauthorized),
/// or the host could not be reached (<see cref="Exception.InnerException"/>).
/// </summary>
public sealed class MoltBeatConnectionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MoltBeatConnectionException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public MoltBeatConnectionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public MoltBeatConnectionException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with what the server said.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="closeCode">The WebSocket close code the server sent, if any.</param>
    /// <param name="closeReason">The close reason the server sent, if any.</param>
    /// <param name="statusCode">The HTTP status of a refused handshake, if any.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public MoltBeatConnectionException(string message, int? closeCode, string? closeReason, HttpStatusCode? statusCode, Exception? innerException = null)
        : base(message, innerException)
    {
        CloseCode = closeCode;
        CloseReason = closeReason;
        StatusCode = statusCode;
    }

    /// <summary>The WebSocket close code the server sent (e.g. 4001); null when the connection never opened or broke without one.</summary>
    public int? CloseCode { get; }

    /// <summary>The close reason the server sent (e.g. <c>token_expired</c>).</summary>
    public string? CloseReason { get; }

    /// <summary>The HTTP status of a refused handshake (403 origin not allowed, 503 full or shutting down).</summary>
    public HttpStatusCode? StatusCode { get; }
}

/// <summary>The server answered a request with an <c>error</c> message (protocol.md, "error").</summary>
public sealed class MoltBeatRequestException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MoltBeatRequestException()
    {
        ErrorCode = "";
    }

    /// <summary>Creates the exception with a message.</summary>
    public MoltBeatRequestException(string message)
        : base(message)
    {
        ErrorCode = "";
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public MoltBeatRequestException(string message, Exception? innerException)
        : base(message, innerException)
    {
        ErrorCode = "";
    }

    /// <summary>Creates the exception from the server's <c>error</c> message.</summary>
    /// <param name="errorCode">The <c>code</c> field, one of <see cref="Protocol.ErrorCodes"/>.</param>
    /// <param name="message">The server's <c>message</c> field.</param>
    /// <param name="room">The room of the failed request, if it had one.</param>
    public MoltBeatRequestException(string errorCode, string message, string? room)
        : base($"{errorCode}: {message}")
    {
        ErrorCode = errorCode;
        Room = room;
    }

    /// <summary>The server's error code: <c>forbidden</c>, <c>invalid_room</c>, <c>too_many_subscriptions</c>… (see <see cref="Protocol.ErrorCodes"/>).</summary>
    public string ErrorCode { get; }

    /// <summary>The room of the failed request, if it had one.</summary>
    public string? Room { get; }
}
