using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace MoltBeat.WebSocket.Hosting;

/// <summary>
/// The HTTP/1.1 side of the standalone transport: reads one request head from a raw connection and
/// writes the 101 (or a refusal) back. Only what a WebSocket handshake needs; anything else is refused.
/// </summary>
internal static class RawHandshake
{
    /// <summary>The largest request head accepted (request line and headers).</summary>
    public const int MaxHeadBytes = 8 * 1024;

    private static readonly byte[] EndOfHead = "\r\n\r\n"u8.ToArray();

    /// <summary>A parsed request head: method, path, query string and headers (case-insensitive).</summary>
    public sealed record Head(string Method, string Path, string Query, Dictionary<string, string> Headers)
    {
        public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

        public HandshakeRequest ToHandshake(string? remoteAddress)
        {
            var query = QueryHelpers.ParseQuery(Query);
            return new HandshakeRequest(
                Method,
                Header("Upgrade"),
                Header("Sec-WebSocket-Version"),
                Header("Sec-WebSocket-Key"),
                Header("Origin"),
                HandshakeRequest.TokenFrom(query.TryGetValue("token", out var t) ? t.ToString() : null, Header("Authorization")),
                query.TryGetValue("batch", out var b) && b == "1",
                remoteAddress,
                Header("Sec-WebSocket-Extensions"));
        }
    }

    /// <summary>Reads the request head; null when it is malformed, too big, or the peer gave up.</summary>
    public static async Task<Head?> ReadHeadAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (TryReadHead(buffer, out var parsed, out var end))
            {
                // Bytes after the head (a first frame sent eagerly) stay in the pipe for the WebSocket.
                input.AdvanceTo(end);
                return parsed;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
            if (buffer.Length > MaxHeadBytes || result.IsCompleted)
                return null;
        }
    }

    /// <summary>
    /// Takes the request head if all of it has arrived already (true, with <paramref name="head"/> null when it is
    /// malformed); false, with nothing consumed, when it has not: then <see cref="ReadHeadAsync"/> waits for it.
    /// </summary>
    public static bool TryReadHead(PipeReader input, out Head? head)
    {
        head = null;
        if (!input.TryRead(out var result))
            return false;
        if (TryReadHead(result.Buffer, out head, out var end))
        {
            input.AdvanceTo(end);
            return true;
        }
        input.AdvanceTo(result.Buffer.Start);
        return false;
    }

    /// <summary>
    /// <see cref="ReadUpgradeHeadAsync"/> without waiting: true when a whole head has arrived already, with
    /// <paramref name="head"/> null (and nothing consumed) when it is not a WebSocket upgrade to <paramref name="path"/>;
    /// false, with nothing consumed, when it has not all arrived.
    /// </summary>
    public static bool TryReadUpgradeHead(PipeReader input, string path, out Head? head)
    {
        head = null;
        if (!input.TryRead(out var result))
            return false;
        var buffer = result.Buffer;
        if (!TryReadHead(buffer, out var parsed, out var end))
        {
            input.AdvanceTo(buffer.Start);
            return false;
        }
        var ours = IsUpgradeTo(parsed, path);
        input.AdvanceTo(ours ? end : buffer.Start);
        head = ours ? parsed : null;
        return true;
    }

    /// <summary>
    /// Reads the head of a WebSocket upgrade to <paramref name="path"/> if that is what the connection starts
    /// with; anything else (another request, HTTP/2, TLS, a head cut short or too slow) is left unread for
    /// the HTTP server, and null is returned. An endpoint that serves both takes its WebSocket clients raw.
    /// </summary>
    public static async Task<Head?> ReadUpgradeHeadAsync(PipeReader input, string path, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (TryReadHead(buffer, out var head, out var end))
                {
                    var ours = IsUpgradeTo(head, path);
                    input.AdvanceTo(ours ? end : buffer.Start);
                    return ours ? head : null;
                }
                if (buffer.Length > MaxHeadBytes || result.IsCompleted || !StartsLikeGet(buffer))
                {
                    input.AdvanceTo(buffer.Start);
                    return null;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException)
        {
            return null; // too slow for us: the HTTP server applies its own header timeout
        }
    }

    private static bool IsUpgradeTo(Head? head, string path) =>
        head is { Method: "GET" } && string.Equals(head.Path, path, StringComparison.Ordinal)
        && string.Equals(head.Header("Upgrade"), "websocket", StringComparison.OrdinalIgnoreCase);

    // "GET " or as much of it as has arrived: anything else is not a WebSocket handshake.
    private static bool StartsLikeGet(ReadOnlySequence<byte> buffer)
    {
        Span<byte> start = stackalloc byte[4];
        var length = (int)Math.Min(4, buffer.Length);
        buffer.Slice(0, length).CopyTo(start);
        return "GET "u8[..length].SequenceEqual(start[..length]);
    }

    private static bool TryReadHead(ReadOnlySequence<byte> buffer, out Head? head, out SequencePosition end)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (reader.TryReadTo(out ReadOnlySequence<byte> text, EndOfHead, advancePastDelimiter: true))
        {
            head = Parse(Encoding.Latin1.GetString(text));
            end = reader.Position;
            return true;
        }
        head = null;
        end = buffer.Start;
        return false;
    }

    /// <summary>Writes a complete response and nothing after it; for refusals the connection is closed next.</summary>
    public static async Task WriteResponseAsync(PipeWriter output, int status, string reason, string? body, IEnumerable<(string Name, string Value)>? headers = null) =>
        await output.WriteAsync(Response(status, reason, body, headers)).ConfigureAwait(false);

    /// <summary>The bytes of a complete response: status line, <paramref name="headers"/>, and a plain-text <paramref name="body"/> if any.</summary>
    public static byte[] Response(int status, string reason, string? body, IEnumerable<(string Name, string Value)>? headers = null)
    {
        var text = new StringBuilder();
        text.Append("HTTP/1.1 ").Append(status).Append(' ').Append(reason).Append("\r\n");
        foreach (var (name, value) in headers ?? [])
            text.Append(name).Append(": ").Append(value).Append("\r\n");
        if (body is not null)
        {
            text.Append("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ")
                .Append(Encoding.UTF8.GetByteCount(body)).Append("\r\n\r\n").Append(body);
        }
        else
        {
            text.Append("\r\n");
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static Head? Parse(string head)
    {
        var lines = head.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || !requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
            return null;
        var target = requestLine[1];
        var q = target.IndexOf('?', StringComparison.Ordinal);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
                return null;
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var previous) ? previous + ", " + value : value;
        }
        return new Head(requestLine[0], q < 0 ? target : target[..q], q < 0 ? "" : target[q..], headers);
    }
}
