using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Hardening;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Compression;

/// <summary>
/// permessage-deflate over real loopback sockets: negotiated only when the server enables it and the client offers it;
/// events at or above the threshold go compressed (RSV1) and inflate to the event's exact JSON, the same bytes to every
/// compressing recipient; smaller ones, and clients that did not negotiate, are unchanged; compressed client messages are
/// read, and a corrupt one closes only its own connection.
/// </summary>
public sealed class CompressionTests
{
    private const string Offer = "permessage-deflate; client_max_window_bits";
    private const string Accepted = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    private const int Threshold = 512;

    private static Task<HardServer> StartAsync(bool compression = true) => HardServer.StartAsync(o =>
    {
        o.Compression = compression;
        o.CompressionThreshold = Threshold;
    });

    // A metrics payload of about 2 KB, as compressible as real ones (repeated names, varying numbers).
    private static object BigPayload(int seed) => new
    {
        series = Enumerable.Range(0, 40).Select(i => new { name = $"agent.latency.p{i % 5}0", host = $"node-{i % 7}", value = (seed * 31 + i * 17) % 1000 / 10.0 }).ToArray(),
    };

    private static async Task SubscribeAsync(DeflateFrameSocket socket, string room, bool compressed = false)
    {
        await socket.ReadUntilAsync(t => t.Contains("\"connected\"", StringComparison.Ordinal));
        var request = $"{{\"type\":\"subscribe\",\"id\":1,\"room\":\"{room}\"}}";
        await socket.SendAsync(compressed ? new RawFrame(1, DeflateWire.Deflate(request), Rsv: 4) : RawFrame.Text(request));
        var reply = await socket.ReadUntilAsync(t => t.Contains("\"id\":1", StringComparison.Ordinal));
        Assert.Contains("\"subscribed\"", reply.Text, StringComparison.Ordinal);
    }

    private static string UniqueRoom() => $"deflate:{Guid.NewGuid():N}";

    private static string Json(byte[] frame) => System.Text.Encoding.UTF8.GetString(frame);

    [Theory]
    [InlineData(true, true, true)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(false, false, false)]
    public async Task Deflate_is_negotiated_only_when_the_server_enables_it_and_the_client_offers_it(bool enabled, bool offered, bool negotiated)
    {
        await using var server = await StartAsync(enabled);
        using var socket = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), offered ? Offer : null);
        Assert.Equal(negotiated ? Accepted : null, socket.AcceptedExtensions);
        await server.AssertServesANewClientAsync();
    }

    [Fact]
    public async Task An_app_hosted_endpoint_negotiates_deflate_and_sends_big_events_compressed()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMoltBeatWebSocket(o =>
        {
            o.Compression = true;
            o.CompressionThreshold = Threshold;
        });
        await using var app = builder.Build();
        app.MapMoltBeatWebSocket("/ws");
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        var server = app.Services.GetRequiredService<MoltBeatWSServer>();
        var room = UniqueRoom();

        using var socket = await DeflateFrameSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), Offer);
        Assert.Equal(Accepted, socket.AcceptedExtensions);
        using var plain = await DeflateFrameSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), null);
        Assert.Null(plain.AcceptedExtensions);
        await SubscribeAsync(socket, room);
        var published = await server.PublishAsync([room], "metrics:updated", BigPayload(1));

        var frame = await socket.ReadUntilAsync(t => t.Contains("\"event\"", StringComparison.Ordinal));
        Assert.True(frame.Compressed);
        Assert.Equal(Json(published.Frame), frame.Text);
        await app.StopAsync();
    }

    [Fact]
    public async Task Events_at_or_above_the_threshold_arrive_compressed_and_inflate_to_the_exact_json_and_smaller_ones_arrive_plain()
    {
        await using var server = await StartAsync();
        var room = UniqueRoom();
        using var socket = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), Offer);
        await SubscribeAsync(socket, room);

        var small = await server.Server.PublishAsync([room], "tick", new { n = 1 });
        var big = await server.Server.PublishAsync([room], "metrics:updated", BigPayload(2));
        Assert.True(small.Frame.Length < Threshold && big.Frame.Length >= Threshold, $"sizes {small.Frame.Length}, {big.Frame.Length}");

        var first = await socket.ReadUntilAsync(t => t.Contains("\"event\"", StringComparison.Ordinal));
        Assert.False(first.Compressed, "an event below the threshold went compressed");
        Assert.Equal(small.Frame, first.Payload);
        var second = await socket.ReadUntilAsync(t => t.Contains("\"event\"", StringComparison.Ordinal));
        Assert.True(second.Compressed, "an event above the threshold went uncompressed");
        Assert.Equal(big.Frame, DeflateWire.Inflate(second.Payload));
        Assert.True(second.Payload.Length < big.Frame.Length / 2, $"{big.Frame.Length} bytes compressed to {second.Payload.Length}");
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Every_compressing_recipient_gets_byte_identical_frames_and_a_client_without_deflate_gets_the_json_plain()
    {
        await using var server = await StartAsync();
        var room = UniqueRoom();
        using var one = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), Offer);
        using var two = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        using var plain = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), null);
        foreach (var socket in new[] { one, two, plain })
            await SubscribeAsync(socket, room);

        for (var seed = 0; seed < 5; seed++)
        {
            var published = await server.Server.PublishAsync([room], "metrics:updated", BigPayload(seed));
            var a = await one.ReadUntilAsync(t => t.Contains("\"event\"", StringComparison.Ordinal));
            var b = await two.ReadUntilAsync(t => t.Contains("\"event\"", StringComparison.Ordinal));
            var c = await plain.ReadUntilAsync(t => t.Contains("\"event\"", StringComparison.Ordinal));
            Assert.True(a.Compressed && b.Compressed);
            Assert.Equal(a.First, b.First);
            Assert.Equal(a.Payload, b.Payload);
            Assert.False(c.Compressed);
            Assert.Equal(published.Frame, c.Payload);
            Assert.Equal(published.Frame, DeflateWire.Inflate(a.Payload));
        }
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task A_batching_client_gets_each_big_event_compressed_in_a_frame_of_its_own()
    {
        await using var server = await StartAsync();
        var room = UniqueRoom();
        using var socket = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=1"), Offer);
        await SubscribeAsync(socket, room);

        var published = new List<byte[]>();
        for (var seed = 0; seed < 6; seed++)
        {
            server.Server.Broadcast(room, "tick", new { n = seed });
            published.Add((await server.Server.PublishAsync([room], "metrics:updated", BigPayload(seed))).Frame);
        }

        var bigOnes = new List<byte[]>();
        var ticks = 0;
        while (bigOnes.Count < published.Count)
        {
            var frame = await socket.ReadFrameAsync() ?? throw new InvalidOperationException("closed");
            var lines = frame.Text.Split('\n');
            if (frame.Compressed)
            {
                Assert.Single(lines);
                bigOnes.Add(DeflateWire.Inflate(frame.Payload));
            }
            else
            {
                Assert.All(lines, l => Assert.Contains("\"tick\"", l, StringComparison.Ordinal));
                ticks += lines.Length;
            }
        }
        Assert.Equal(published, bigOnes);
        Assert.Equal(published.Count, ticks);
    }

    [Fact]
    public async Task A_compressed_subscribe_from_the_client_is_inflated_and_answered()
    {
        await using var server = await StartAsync();
        var room = UniqueRoom();
        using var socket = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), Offer);
        await SubscribeAsync(socket, room, compressed: true);
        // Twice more: no context is taken over between the client's messages either.
        var ping = "{\"type\":\"ping\",\"id\":7}";
        await socket.SendAsync(new RawFrame(1, DeflateWire.Deflate(ping), Rsv: 4));
        await socket.ReadUntilAsync(t => t.Contains("\"pong\"", StringComparison.Ordinal));
        await socket.SendAsync(new RawFrame(1, DeflateWire.Deflate(ping), Rsv: 4));
        await socket.ReadUntilAsync(t => t.Contains("\"pong\"", StringComparison.Ordinal));

        var published = await server.Server.PublishAsync([room], "metrics:updated", BigPayload(3));
        var frame = await socket.ReadUntilAsync(t => t.Contains("\"event\"", StringComparison.Ordinal));
        Assert.Equal(published.Frame, DeflateWire.Inflate(frame.Payload));
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task A_compressed_frame_without_negotiation_closes_with_1002()
    {
        await using var server = await StartAsync(compression: false);
        using var socket = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), Offer);
        Assert.Null(socket.AcceptedExtensions);
        await socket.SendAsync(new RawFrame(1, DeflateWire.Deflate("{\"type\":\"ping\",\"id\":1}"), Rsv: 4));
        Assert.Equal(1002, await CloseCodeAsync(socket));
        await server.AssertServesANewClientAsync();
    }

    [Fact]
    public async Task A_corrupt_compressed_frame_closes_that_client_with_1002_and_the_server_goes_on_serving_others()
    {
        await using var server = await StartAsync();
        var room = UniqueRoom();
        using var bystander = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), Offer);
        await SubscribeAsync(bystander, room);
        using var socket = await DeflateFrameSocket.ConnectAsync(server.WsUri("batch=0"), Offer);
        await socket.ReadUntilAsync(t => t.Contains("\"connected\"", StringComparison.Ordinal));

        // BTYPE 11 is reserved in DEFLATE (RFC 1951 §3.2.3): no inflater accepts it.
        await socket.SendAsync(new RawFrame(1, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF], Rsv: 4));
        Assert.Equal(1002, await CloseCodeAsync(socket));

        var published = await server.Server.PublishAsync([room], "metrics:updated", BigPayload(4));
        var frame = await bystander.ReadUntilAsync(t => t.Contains("\"event\"", StringComparison.Ordinal));
        Assert.Equal(published.Frame, DeflateWire.Inflate(frame.Payload));
        await server.AssertServesANewClientAsync();
    }

    [Fact]
    public async Task The_dotnet_client_offers_deflate_by_default_and_receives_compressed_events_intact()
    {
        await using var server = await StartAsync();
        var room = UniqueRoom();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));
        var received = new System.Collections.Concurrent.ConcurrentQueue<JsonElement>();
        client.On("metrics:updated", e => received.Enqueue(e.Data.Clone()));
        await client.ConnectAsync().WaitAsync(Limit);
        await client.SubscribeAsync(room).WaitAsync(Limit);
        Assert.All(server.Server.Hub.All.Keys, c => Assert.True(c.Deflate, "the .NET client did not negotiate deflate"));

        var payload = BigPayload(5);
        await server.Server.PublishAsync([room], "metrics:updated", payload);
        await Eventually(() => !received.IsEmpty, "the compressed event");
        Assert.Equal(JsonSerializer.Serialize(payload, server.Server.Options.JsonSerializerOptions), received.Single().GetRawText());
    }

    [Fact]
    public async Task The_dotnet_client_without_compression_connects_plain_to_a_compressing_server()
    {
        await using var server = await StartAsync();
        var options = FastOptions(server.WsUri());
        options.Compression = false;
        await using var client = new MoltBeatWSClient(options);
        await client.ConnectAsync().WaitAsync(Limit);
        Assert.All(server.Server.Hub.All.Keys, c => Assert.False(c.Deflate));
    }

    private static async Task<int?> CloseCodeAsync(DeflateFrameSocket socket)
    {
        while (await socket.ReadFrameAsync() is { } frame)
        {
            if (frame.Opcode == 0x8)
                return frame.Payload.Length >= 2 ? frame.Payload[0] << 8 | frame.Payload[1] : 1005;
        }
        return null;
    }
}
