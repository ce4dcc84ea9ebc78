using System.Text.Json;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

public sealed class CrossNodeRecoveryTests
{
    private static int N(JsonElement evt) => evt.GetProperty("data").GetProperty("n").GetInt32();

    private static string Since(string epoch, long offset) => $"{{\"epoch\":\"{epoch}\",\"offset\":{offset}}}";

    [Fact]
    public async Task Client_that_saw_events_on_node_A_recovers_events_published_on_node_B_when_it_reconnects_to_node_C()
    {
        const string Room = "analytics:posts";
        await using var cluster = await Cluster.StartAsync(3);
        string epoch;
        long last;
        await using (var onA = await cluster[0].ConnectAsync())
        {
            epoch = (await onA.SubscribeAsync(Room)).GetProperty("epoch").GetString()!;
            for (var n = 1; n <= 3; n++)
                await cluster[0].PublishAsync(Room, n);
            JsonElement evt = default;
            for (var n = 1; n <= 3; n++)
                evt = await onA.ReceiveEventAsync();
            last = evt.GetProperty("offsets").GetProperty(Room).GetInt64();
        }
        for (var n = 4; n <= 7; n++)
            await cluster[1].PublishAsync(Room, n);

        await using var onC = await cluster[2].ConnectAsync();
        var reply = await onC.SubscribeAsync(Room, Since(epoch, last));
        Assert.True(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(epoch, reply.GetProperty("epoch").GetString());
        Assert.Equal(7, reply.GetProperty("offset").GetInt64());
        await cluster[1].PublishAsync(Room, 8);
        for (var n = 4; n <= 8; n++)
        {
            var evt = await onC.ReceiveEventAsync();
            Assert.Equal(n, N(evt));
            Assert.Equal(n, evt.GetProperty("offsets").GetProperty(Room).GetInt64());
        }
        await onC.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Resubscribing_on_other_nodes_while_a_node_publishes_loses_and_repeats_nothing()
    {
        const string Room = "alerts:critical";
        const int Total = 400;
        await using var cluster = await Cluster.StartAsync(3);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // The publisher starts once the first client is subscribed: under a loaded test run, connecting took
        // longer than publishing all 400, and the first subscribe then started after the last event.
        var firstSubscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var publisher = Task.Run(async () =>
        {
            await firstSubscribed.Task.WaitAsync(stop.Token);
            for (var n = 1; n <= Total; n++)
            {
                await cluster[0].PublishAsync(Room, n);
                if (n % 8 == 0)
                    await Task.Delay(1, stop.Token);
            }
        });

        var seen = new List<int>();
        string? epoch = null;
        long offset = 0;
        for (var round = 0; offset < Total && round < 200; round++)
        {
            // Alternate nodes, including the publishing one, and take a few events on each connection.
            await using var client = await cluster[round % 3].ConnectAsync();
            var reply = await client.SubscribeAsync(Room, epoch is null ? null : Since(epoch, offset));
            if (epoch is not null)
                Assert.True(reply.GetProperty("recovered").GetBoolean(), $"round {round}: not recovered");
            else
                offset = reply.GetProperty("offset").GetInt64();
            epoch = reply.GetProperty("epoch").GetString();
            firstSubscribed.TrySetResult();
            var take = Math.Min(1 + round % 40, Total - (int)offset);
            for (var i = 0; i < take; i++)
            {
                var evt = await client.ReceiveEventAsync();
                var at = evt.GetProperty("offsets").GetProperty(Room).GetInt64();
                Assert.Equal(offset + 1, at);
                offset = at;
                seen.Add(N(evt));
            }
        }
        await publisher.WaitAsync(stop.Token);
        Assert.Equal(Total, offset);
        Assert.Equal(Enumerable.Range(seen[0], Total - seen[0] + 1), seen);
    }

    [Fact]
    public async Task History_count_bound_holds_in_Redis()
    {
        const string Room = "bounded";
        await using var cluster = await Cluster.StartAsync(2, history: h => h.MaxEventsPerRoom = 5);
        await using var probe = await cluster[0].ConnectAsync();
        var epoch = (await probe.SubscribeAsync(Room)).GetProperty("epoch").GetString()!;
        for (var n = 1; n <= 20; n++)
            await cluster[0].PublishAsync(Room, n);
        Assert.Equal(5, await RedisProbe.StreamLengthAsync(cluster, Room));

        await using var tooOld = await cluster[1].ConnectAsync();
        var reply = await tooOld.SubscribeAsync(Room, Since(epoch, 14));
        Assert.False(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(20, reply.GetProperty("offset").GetInt64());
        await tooOld.AssertNothingAsync(TimeSpan.FromMilliseconds(200));

        await using var recent = await cluster[1].ConnectAsync();
        Assert.True((await recent.SubscribeAsync(Room, Since(epoch, 15))).GetProperty("recovered").GetBoolean());
        for (var n = 16; n <= 20; n++)
            Assert.Equal(n, N(await recent.ReceiveEventAsync()));
        await recent.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task History_age_bound_holds_in_Redis()
    {
        const string Room = "aging";
        await using var cluster = await Cluster.StartAsync(2, history: h => h.MaxAge = TimeSpan.FromSeconds(1));
        await using var probe = await cluster[0].ConnectAsync();
        var epoch = (await probe.SubscribeAsync(Room)).GetProperty("epoch").GetString()!;
        for (var n = 1; n <= 3; n++)
            await cluster[0].PublishAsync(Room, n);

        await using (var fresh = await cluster[1].ConnectAsync())
            Assert.True((await fresh.SubscribeAsync(Room, Since(epoch, 0))).GetProperty("recovered").GetBoolean());

        await Task.Delay(TimeSpan.FromMilliseconds(1300));
        await using var late = await cluster[1].ConnectAsync();
        var reply = await late.SubscribeAsync(Room, Since(epoch, 0));
        Assert.False(reply.GetProperty("recovered").GetBoolean());
        Assert.Equal(epoch, reply.GetProperty("epoch").GetString()); // aged out, not lost: same epoch
        Assert.Equal(3, reply.GetProperty("offset").GetInt64());
        Assert.Equal(0, await RedisProbe.StreamLengthAsync(cluster, Room));
        // A position at the head needs nothing from history and still recovers.
        await using var current = await cluster[0].ConnectAsync();
        Assert.True((await current.SubscribeAsync(Room, Since(epoch, 3))).GetProperty("recovered").GetBoolean());
    }
}
