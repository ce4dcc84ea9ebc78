using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using CsCheck;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>
/// Random messages and random frames against a real server over real loopback sockets: every one gets a
/// valid JSON reply or a protocol close (1002/1003/1007/1008/1009), never a crash or a hang, and the server
/// keeps serving a bystander client throughout.
/// </summary>
public sealed class SocketFuzzTests
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Random_text_messages_each_get_the_reply_the_parser_predicts_or_a_1008_close()
    {
        await using var server = await HardServer.StartAsync();
        await using var bystander = await server.ConnectAsync();
        await bystander.SubscribeAsync("analytics");

        await JsonGen.AnyMessage.Array[1, 14].SampleAsync(async messages =>
        {
            await using var client = await server.ConnectAsync();
            var badInARow = 0;
            foreach (var message in messages)
            {
                var bytes = Encoding.UTF8.GetBytes(message);
                if (bytes.Length > server.Server.Options.MaxMessageSize)
                    continue;
                await client.SendRawAsync(bytes, WebSocketMessageType.Text);
                var expected = ClientRequestParser.Parse(bytes);
                badInARow = expected.Request is null ? badInARow + 1 : 0;
                var reply = ServerReplies.AssertValid((await client.ReceiveAsync(ReplyTimeout)).GetRawText()).Single();
                AssertReplyMatches(expected, reply);
                if (badInARow == server.Server.Options.MaxConsecutiveBadRequests)
                {
                    var (status, _, _) = await client.ReceiveCloseAsync(ReplyTimeout);
                    Assert.Equal(1008, (int?)status);
                    return;
                }
            }
            Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
        }, iter: Fuzz.Iter(120), time: Fuzz.Time, threads: 2, print: m => string.Join("\n", m));

        server.Server.Broadcast("analytics:agents", "agent:created", new { id = "1" });
        Assert.Equal("agent:created", (await bystander.ReceiveEventAsync()).GetProperty("event").GetString());
        await bystander.DisposeAsync();
        await server.AssertNoConnectionsAsync(TimeSpan.FromSeconds(10));
        server.AssertNoErrorsLogged();
    }

    /// <summary>The dispatcher's contract: a parse error is bad_request with the id read; a request gets its own reply.</summary>
    private static void AssertReplyMatches(ClientRequestParser.Result expected, JsonElement reply)
    {
        var type = reply.GetProperty("type").GetString();
        var id = reply.TryGetProperty("id", out var i) ? i.GetInt64() : (long?)null;
        Assert.Equal(expected.Id, id);
        if (expected.Request is not { } request)
        {
            Assert.Equal("error", type);
            Assert.Equal("bad_request", reply.GetProperty("code").GetString());
            return;
        }
        var code = type == "error" ? reply.GetProperty("code").GetString() : null;
        switch (request.Type)
        {
            case "ping":
                Assert.Equal("pong", type);
                break;
            case "subscribe":
                Assert.True(type == "subscribed" || code is "bad_request" or "invalid_room", $"{type} {code}");
                break;
            case "unsubscribe":
                Assert.True(type == "unsubscribed" || code is "bad_request" or "invalid_room", $"{type} {code}");
                break;
            case "auth":
                Assert.True(type == "authenticated" || code == "bad_request", $"{type} {code}");
                break;
            default:
                Assert.Equal("unknown_type", code);
                break;
        }
    }

    private static readonly Gen<byte[]> TextPayload = Gen.Frequency(
        (6, JsonGen.AnyMessage.Select(Encoding.UTF8.GetBytes)),
        (1, Gen.Byte.Array[0, 64]),
        // A valid message cut at any byte, so that multi-byte characters split across fragments.
        (2, Gen.Select(JsonGen.Text, Gen.Int[0, 100]).Select((s, cut) =>
        {
            var b = Encoding.UTF8.GetBytes("{\"type\":\"ping\",\"x\":" + s + "}");
            return b[..Math.Min(cut, b.Length)];
        })));

    private static readonly Gen<RawFrame> Frame = Gen.Frequency(
        (8, Gen.Select(TextPayload, Gen.Frequency((5, true), (1, false))).Select((p, fin) => new RawFrame(1, p, fin))),
        (4, Gen.Select(TextPayload, Gen.Bool).Select((p, fin) => new RawFrame(0, p, fin))),
        (1, Gen.Byte.Array[0, 20].Select(p => new RawFrame(2, p))),
        (3, Gen.Select(Gen.Int[0, 140], Gen.Frequency((6, true), (1, false))).Select((n, fin) => new RawFrame(9, new byte[n], fin))),
        (2, Gen.Int[0, 140].Select(n => new RawFrame(10, new byte[n]))),
        (1, Gen.Select(Gen.Int[0, 5000], Gen.Byte.Array[0, 8]).Select((code, reason) =>
            new RawFrame(8, [(byte)(code >> 8), (byte)code, .. reason]))),
        (1, Gen.Byte.Array[0, 1].Select(p => new RawFrame(8, p))),
        (1, Gen.Select(Gen.Int[3, 15].Where(o => o is not (8 or 9 or 10)), Gen.Byte.Array[0, 10]).Select((op, p) => new RawFrame(op, p))),
        (1, Gen.Select(Gen.Int[1, 7], JsonGen.AnyMessage).Select((rsv, m) => new RawFrame(1, Encoding.UTF8.GetBytes(m), Rsv: rsv))),
        (1, JsonGen.AnyMessage.Select(m => new RawFrame(1, Encoding.UTF8.GetBytes(m), Masked: false))));

    [Fact]
    public async Task Random_frames_get_json_replies_or_a_protocol_close_and_never_hang()
    {
        await using var server = await HardServer.StartAsync();
        await using var bystander = await server.ConnectAsync();
        await bystander.SubscribeAsync("analytics");

        await Frame.Array[1, 6].SampleAsync(async frames =>
        {
            using var socket = await RawFrameSocket.ConnectAsync(server.WsUri("batch=0"));
            // A probe after the random frames: a server still in step answers it; one that closed says why.
            var probe = RawFrame.Text("{\"type\":\"ping\",\"id\":424242}");
            await socket.TrySendAsync([.. frames, probe]);
            var reaction = await socket.ReadAsync(ReplyTimeout, text => text.Contains("424242", StringComparison.Ordinal));
            Assert.False(reaction.TimedOut, "no reply and no close: the server hangs");
            foreach (var text in reaction.Texts)
                ServerReplies.AssertValid(text);
            if (reaction.CloseCode is { } code)
            {
                var sentClose = frames.Any(f => f.Opcode == 8);
                Assert.True(ServerReplies.ProtocolCloses.Contains(code) || sentClose, $"close {code}");
            }
            else
            {
                Assert.False(reaction.ConnectionDropped, "the connection ended without a close frame");
            }
        }, iter: Fuzz.Iter(250), time: Fuzz.Time, threads: 2, print: f => string.Join("\n", f.Select(x => x.ToString())));

        Assert.Equal("pong", (await bystander.RequestAsync("ping")).GetProperty("type").GetString());
        await bystander.DisposeAsync();
        await server.AssertNoConnectionsAsync(TimeSpan.FromSeconds(10));
        server.AssertNoErrorsLogged();
    }

    [Theory]
    [InlineData("{\"id\":5,\"type\":\"\\ud800\"}")]
    [InlineData("{\"id\":5,\"type\":\"subscribe\",\"room\":\"\\udc00\"}")]
    [InlineData("{\"id\":5,\"type\":\"auth\",\"token\":\"\\ud83d\"}")]
    public async Task Lone_surrogate_escape_gets_bad_request_and_the_connection_stays_open(string message)
    {
        await using var server = await HardServer.StartAsync();
        await using var client = await server.ConnectAsync();
        await client.SendAsync(message);
        var error = await client.ReceiveAsync(ReplyTimeout);
        Assert.Equal("bad_request", error.GetProperty("code").GetString());
        Assert.Equal(5, error.GetProperty("id").GetInt32());
        Assert.Equal("pong", (await client.RequestAsync("ping")).GetProperty("type").GetString());
        server.AssertNoErrorsLogged();
    }
}
