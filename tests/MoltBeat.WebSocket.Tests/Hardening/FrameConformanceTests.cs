using System.Text;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>
/// Frames a broken or hostile client writes by hand, on a raw socket: control frames out of place, reserved
/// bits and opcodes, unmasked frames, UTF-8 broken across fragments, messages that never end. Each gets its
/// close code (protocol.md, "Close codes"), and the server goes on serving.
/// </summary>
public sealed class FrameConformanceTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>Sends the frames on a fresh connection and returns the close code the server answers with.</summary>
    private static async Task<ServerReaction> ReactionToAsync(HardServer server, params RawFrame[] frames)
    {
        using var socket = await RawFrameSocket.ConnectAsync(server.WsUri("batch=0"));
        await socket.TrySendAsync(frames);
        var reaction = await socket.ReadAsync(Timeout);
        Assert.False(reaction.TimedOut, "the server neither answered nor closed");
        Assert.False(reaction.ConnectionDropped, "the connection ended without a close frame");
        return reaction;
    }

    private static async Task AssertClosesWithAsync(int code, params RawFrame[] frames)
    {
        await using var server = await HardServer.StartAsync();
        var disconnected = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Server.Disconnected += (_, e) => disconnected.TrySetResult(e.CloseCode);
        var reaction = await ReactionToAsync(server, frames);
        Assert.Equal(code, reaction.CloseCode);
        // The application's disconnected event says why, too (it said 1000 for the framework's own 1002 and 1007).
        Assert.Equal(code, await disconnected.Task.WaitAsync(Timeout));
        await server.AssertServesANewClientAsync();
        await server.AssertNoConnectionsAsync(TimeSpan.FromSeconds(5));
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public Task Ping_with_a_126_byte_payload_closes_with_1002() =>
        AssertClosesWithAsync(1002, new RawFrame(9, new byte[126]));

    [Fact]
    public Task Ping_with_a_125_byte_payload_is_answered_with_a_pong_of_the_same_payload() =>
        AssertAnsweredAsync(new RawFrame(9, new byte[125]), RawFrame.Text("{\"type\":\"ping\",\"id\":1}"));

    [Fact]
    public Task Fragmented_ping_closes_with_1002() =>
        AssertClosesWithAsync(1002, new RawFrame(9, Utf8("ab"), Fin: false), new RawFrame(0, Utf8("cd")));

    [Fact]
    public Task Continuation_without_a_start_closes_with_1002() =>
        AssertClosesWithAsync(1002, RawFrame.Continuation(Utf8("{\"type\":\"ping\"}"), fin: true));

    [Fact]
    public Task New_text_frame_inside_a_fragmented_message_closes_with_1002() =>
        AssertClosesWithAsync(1002, RawFrame.Text("{\"type\":", fin: false), RawFrame.Text("{\"type\":\"ping\"}"));

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(7)]
    public Task Reserved_bits_set_close_with_1002(int rsv) =>
        AssertClosesWithAsync(1002, new RawFrame(1, Utf8("{\"type\":\"ping\"}"), Rsv: rsv));

    [Fact]
    public Task Unmasked_client_frame_closes_with_1002() =>
        AssertClosesWithAsync(1002, new RawFrame(1, Utf8("{\"type\":\"ping\"}"), Masked: false));

    [Theory]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(15)]
    public Task Unknown_opcode_closes_with_1002(int opcode) =>
        AssertClosesWithAsync(1002, new RawFrame(opcode, Utf8("x")));

    [Fact]
    public Task Close_frame_with_a_one_byte_payload_closes_with_1002() =>
        AssertClosesWithAsync(1002, new RawFrame(8, [0x03]));

    [Theory]
    [InlineData(0)]
    [InlineData(999)]
    [InlineData(1005)]
    [InlineData(1006)]
    [InlineData(5000)]
    public Task Close_frame_with_an_invalid_code_closes_with_1002(int code) =>
        AssertClosesWithAsync(1002, new RawFrame(8, [(byte)(code >> 8), (byte)code]));

    [Fact]
    public Task Close_frame_with_a_valid_code_is_echoed() =>
        AssertClosesWithAsync(4321, new RawFrame(8, [0x10, 0xE1, (byte)'b', (byte)'y', (byte)'e']));

    [Fact]
    public Task Frame_with_a_64_bit_length_whose_top_bit_is_set_closes_with_1002() =>
        AssertClosesWithAsync(1002, new RawFrame(1, [], DeclaredLength: long.MinValue));

    [Fact]
    public Task Binary_frame_split_in_fragments_closes_with_1003() =>
        AssertClosesWithAsync(1003, new RawFrame(2, [1, 2], Fin: false), new RawFrame(0, [3, 4]));

    // "€" is E2 82 AC: valid when split across fragments, invalid when a continuation byte is wrong.
    [Fact]
    public Task Multibyte_character_split_across_fragments_is_reassembled() =>
        AssertAnsweredAsync(
            new RawFrame(1, [.. Utf8("{\"type\":\"ping\",\"id\":1,\"x\":\""), 0xE2], Fin: false),
            new RawFrame(0, [0x82], Fin: false),
            new RawFrame(0, [0xAC, .. Utf8("\"}")]));

    [Theory]
    [InlineData(new byte[] { 0xE2, 0x82 }, new byte[] { 0x41 })] // truncated sequence, next fragment goes on with ASCII
    [InlineData(new byte[] { 0xF0 }, new byte[] { 0x9F, 0x98, 0x28 })] // 4-byte sequence broken in the second fragment
    [InlineData(new byte[] { 0xED, 0xA0 }, new byte[] { 0x80 })] // an encoded surrogate, split
    [InlineData(new byte[] { 0xC0 }, new byte[] { 0x80 })] // an overlong NUL, split
    [InlineData(new byte[] { 0xF4, 0x90 }, new byte[] { 0x80, 0x80 })] // above U+10FFFF, split
    public Task Invalid_utf8_split_across_fragments_closes_with_1007(byte[] first, byte[] second) =>
        AssertClosesWithAsync(1007,
            new RawFrame(1, [.. Utf8("{\"type\":\"ping\",\"x\":\""), .. first], Fin: false),
            new RawFrame(0, [.. second, .. Utf8("\"}")]));

    [Fact]
    public Task Message_ending_inside_a_multibyte_character_closes_with_1007() =>
        AssertClosesWithAsync(1007, new RawFrame(1, [.. Utf8("{\"type\":\"ping\"}"), 0xE2], Fin: false), new RawFrame(0, [0x82]));

    [Fact]
    public Task Ping_between_fragments_is_answered_and_the_message_completes() =>
        AssertAnsweredAsync(
            RawFrame.Text("{\"type\":\"ping\",", fin: false),
            new RawFrame(9, Utf8("hi")),
            RawFrame.Continuation(Utf8("\"id\":1}"), fin: true));

    /// <summary>The frames make one <c>ping</c> with id 1 (plus control frames): the server answers <c>pong</c>.</summary>
    private static async Task AssertAnsweredAsync(params RawFrame[] frames)
    {
        await using var server = await HardServer.StartAsync();
        using var socket = await RawFrameSocket.ConnectAsync(server.WsUri("batch=0"));
        await socket.TrySendAsync(frames);
        var reaction = await socket.ReadAsync(Timeout, t => t.Contains("\"pong\"", StringComparison.Ordinal));
        Assert.Null(reaction.CloseCode);
        Assert.False(reaction.TimedOut);
        Assert.Contains(reaction.Texts, t => t.Contains("\"pong\"", StringComparison.Ordinal) && t.Contains("\"id\":1", StringComparison.Ordinal));
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Continuation_frames_past_the_16_KiB_limit_close_with_1009_before_the_message_ends()
    {
        await using var server = await HardServer.StartAsync();
        using var socket = await RawFrameSocket.ConnectAsync(server.WsUri("batch=0"));
        var kib = new byte[1024];
        Array.Fill(kib, (byte)'x');
        // 17 KiB of a message that never ends: a server that buffered until the end would never answer.
        await socket.TrySendAsync([new RawFrame(1, kib, Fin: false), .. Enumerable.Range(0, 16).Select(_ => RawFrame.Continuation(kib, fin: false))]);
        var reaction = await socket.ReadAsync(Timeout);
        Assert.Equal(1009, reaction.CloseCode);
        await server.AssertServesANewClientAsync();
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Endless_continuation_frames_get_1009_and_the_connection_is_cut_after_the_close_timeout()
    {
        await using var server = await HardServer.StartAsync(o => o.CloseTimeout = TimeSpan.FromSeconds(1));
        using var socket = await RawFrameSocket.ConnectAsync(server.WsUri("batch=0"));
        var chunk = new byte[16 * 1024];
        Array.Fill(chunk, (byte)'y');
        await socket.TrySendAsync(new RawFrame(1, chunk, Fin: false));
        // Keep streaming (about 12 MB/s, at most 8 s) and never answer the close: the server reads and drops,
        // then cuts the connection once its close timeout has passed.
        var frame = RawFrame.Continuation(chunk, fin: false).Encode();
        var sent = 0L;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var cut = false;
        while (clock.Elapsed < TimeSpan.FromSeconds(8))
        {
            try
            {
                for (var i = 0; i < 4; i++)
                    await socket.WriteAsync(frame);
                sent += 4 * frame.Length;
                await Task.Delay(5);
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                cut = true;
                break;
            }
        }
        Assert.True(cut, $"still accepting after {sent / 1024} KiB and {clock.Elapsed}");
        await server.AssertNoConnectionsAsync(TimeSpan.FromSeconds(5));
        await server.AssertServesANewClientAsync();
    }

    [Fact]
    public async Task Frame_declaring_a_1_GiB_payload_closes_with_1009_after_the_first_16_KiB()
    {
        await using var server = await HardServer.StartAsync();
        using var socket = await RawFrameSocket.ConnectAsync(server.WsUri("batch=0"));
        var payload = new byte[20 * 1024];
        Array.Fill(payload, (byte)'z');
        await socket.TrySendAsync(new RawFrame(1, payload, DeclaredLength: 1L << 30));
        var reaction = await socket.ReadAsync(Timeout);
        Assert.Equal(1009, reaction.CloseCode);
        await server.AssertServesANewClientAsync();
    }
}
