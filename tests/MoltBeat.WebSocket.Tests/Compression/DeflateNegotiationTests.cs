using MoltBeat.WebSocket.Compression;

namespace MoltBeat.WebSocket.Tests.Compression;

/// <summary>Which <c>Sec-WebSocket-Extensions</c> offers the server accepts (RFC 7692 §5, §7.1): every form the RFC allows, none it forbids.</summary>
public sealed class DeflateNegotiationTests
{
    [Theory]
    [InlineData("permessage-deflate")]
    [InlineData("permessage-deflate; client_max_window_bits")] // what Chromium and Node ws send
    [InlineData("PerMessage-Deflate ;  Client_Max_Window_Bits")]
    [InlineData("permessage-deflate; client_max_window_bits=10")]
    [InlineData("permessage-deflate; client_max_window_bits=\"12\"")]
    [InlineData("permessage-deflate; server_no_context_takeover; client_no_context_takeover")] // what the .NET client sends
    [InlineData("permessage-deflate; server_max_window_bits=15")]
    [InlineData("x-webkit-deflate-frame, permessage-deflate")]
    [InlineData("permessage-deflate; server_max_window_bits=10, permessage-deflate")] // the first is declined, the fallback taken
    [InlineData("permessage-deflate; client_max_window_bits=\"1,5\", permessage-deflate")]
    [InlineData("foo; bar=\"a;b,c\", permessage-deflate; client_max_window_bits")]
    public void An_offer_the_rfc_allows_is_accepted(string header) => Assert.True(DeflateNegotiation.Accepts(header));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("x-webkit-deflate-frame")]
    [InlineData("permessage-deflate; server_max_window_bits=10")] // the compressor's window is 15 bits: declined (§7.1.2.1)
    [InlineData("permessage-deflate; server_max_window_bits")] // needs a value
    [InlineData("permessage-deflate; client_max_window_bits=7")]
    [InlineData("permessage-deflate; client_max_window_bits=16")]
    [InlineData("permessage-deflate; client_max_window_bits=010")]
    [InlineData("permessage-deflate; server_no_context_takeover=1")]
    [InlineData("permessage-deflate; server_no_context_takeover; server_no_context_takeover")]
    [InlineData("permessage-deflate; unknown_parameter")]
    [InlineData("permessage-deflatex")]
    public void An_offer_the_server_cannot_honour_is_declined(string? header) => Assert.False(DeflateNegotiation.Accepts(header));
}
