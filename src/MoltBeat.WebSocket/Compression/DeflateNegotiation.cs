namespace MoltBeat.WebSocket.Compression;

/// <summary>
/// The server's side of negotiating permessage-deflate (RFC 7692 §5, §7.1) from the client's
/// <c>Sec-WebSocket-Extensions</c> header: the first offer the server can honour is accepted, always with
/// <c>server_no_context_takeover</c> (each message compressed on its own, so one compressed event serves every
/// recipient) and <c>client_no_context_takeover</c> (so the server keeps no inflate window between a client's messages).
/// </summary>
/// <remarks>
/// An offer is declined, not refused: a malformed or unusable one is skipped and the next is tried, and with none
/// acceptable the connection goes on uncompressed (a client that required deflate fails it on its side). An offer
/// that limits <c>server_max_window_bits</c> below 15 is declined too (§7.1.2.1 allows it): the compressor
/// (System.IO.Compression) always uses a 32 KiB window, and a smaller one would break back-references in a big event.
/// </remarks>
internal static class DeflateNegotiation
{
    /// <summary>The extension's name in the header.</summary>
    public const string ExtensionName = "permessage-deflate";

    /// <summary>What the server answers when it accepts an offer.</summary>
    public const string Response = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    /// <summary>Whether <paramref name="header"/> (every <c>Sec-WebSocket-Extensions</c> value, joined by commas) holds an offer the server accepts.</summary>
    public static bool Accepts(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
            return false;
        foreach (var offer in SplitOutsideQuotes(header, ','))
        {
            if (IsAcceptable(offer))
                return true;
        }
        return false;
    }

    private static bool IsAcceptable(string offer)
    {
        var parts = SplitOutsideQuotes(offer, ';');
        if (parts.Count == 0 || !string.Equals(parts[0].Trim(), ExtensionName, StringComparison.OrdinalIgnoreCase))
            return false;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 1; i < parts.Count; i++)
        {
            var parameter = parts[i].Trim();
            var equals = parameter.IndexOf('=', StringComparison.Ordinal);
            var name = (equals < 0 ? parameter : parameter[..equals]).Trim();
            string? value = null;
            if (equals >= 0 && (value = Unquote(parameter[(equals + 1)..].Trim())) is null)
                return false;
            // §7: a parameter given twice, one not defined, or one with a bad value makes the offer unusable.
            if (name.Length == 0 || !seen.Add(name))
                return false;
            switch (name.ToLowerInvariant())
            {
                case "server_no_context_takeover":
                case "client_no_context_takeover":
                    if (value is not null)
                        return false;
                    break;
                case "server_max_window_bits":
                    if (WindowBits(value) is not { } bits || bits < 15)
                        return false;
                    break;
                case "client_max_window_bits":
                    // No value: the client can take a limit; we set none. A value limits the client's own window,
                    // which the server's inflater (15 bits) reads whatever it is.
                    if (value is not null && WindowBits(value) is null)
                        return false;
                    break;
                default:
                    return false;
            }
        }
        return true;
    }

    private static int? WindowBits(string? value) =>
        value is { Length: 1 or 2 } && value[0] != '0' && int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var bits) && bits is >= 8 and <= 15
            ? bits
            : null;

    // §7.1.2.1: a value may be sent as a quoted-string; its contents must still be the token.
    private static string? Unquote(string value)
    {
        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
            value = value[1..^1];
        return value.Length == 0 || value.Contains('"', StringComparison.Ordinal) || value.Contains('\\', StringComparison.Ordinal) ? null : value;
    }

    private static List<string> SplitOutsideQuotes(string text, char separator)
    {
        var parts = new List<string>();
        var start = 0;
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '"')
                quoted = !quoted;
            else if (c == '\\' && quoted)
                i++;
            else if (c == separator && !quoted)
            {
                parts.Add(text[start..i]);
                start = i + 1;
            }
        }
        parts.Add(text[start..]);
        parts.RemoveAll(p => p.Trim().Length == 0 && separator == ',');
        return parts;
    }
}
