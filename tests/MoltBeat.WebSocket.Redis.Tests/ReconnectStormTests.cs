using System.Text.Json;
using MoltBeat.WebSocket.Redis.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>Many clients coming back to one node at once (from the same position, or asking the same last events), while events keep flowing.</summary>
public sealed class ReconnectStormTests
{
    [Fact]
    public Task Clients_resubscribing_from_one_position_while_events_flow_each_get_every_event_once_from_few_Redis_reads() =>
        StormAsync(start => $"\"since\":{{\"epoch\":\"{start.Epoch}\",\"offset\":{start.Offset}}}", (start, reply) =>
        {
            Assert.True(reply.GetProperty("recovered").GetBoolean(), "not recovered");
            return start.Offset + 1;
        });

    [Fact]
    public Task Dashboards_opening_with_last_while_events_flow_each_get_the_latest_then_every_live_event_from_few_Redis_reads() =>
        StormAsync(_ => "\"last\":1", (_, reply) =>
        {
            // The one replayed event is the room's latest at the attach, the one the reply's offset names.
            Assert.Equal(1, reply.GetProperty("replay").GetInt32());
            return reply.GetProperty("offset").GetInt64();
        });

    /// <summary>
    /// 150 clients subscribe to one node with the same options, staggered over a live stream published on another
    /// node: each gets the events from the first one <paramref name="check"/> names to the last, once, in order,
    /// and the subscribes together cost Redis few reads (some share a read in flight, some a finished read that the
    /// node brings forward from the events it delivered since).
    /// </summary>
    private static async Task StormAsync(Func<(string Epoch, long Offset), string> options, Func<(string Epoch, long Offset), JsonElement, long> check)
    {
        const string Room = "storm:room";
        const int Clients = 150;
        const int Missed = 20;
        const int Live = 100;
        await using var redis = await RedisServer.StartAsync(); // its own, so that the script calls counted are this test's
        await using var cluster = await Cluster.StartAsync(2, redis);
        (string Epoch, long Offset) start;
        await using (var probe = await cluster[1].ConnectAsync())
        {
            var reply = await probe.SubscribeAsync(Room);
            start = (reply.GetProperty("epoch").GetString()!, reply.GetProperty("offset").GetInt64());
        }
        for (var n = 1; n <= Missed; n++)
            await cluster[0].PublishAsync(Room, n);

        var scriptsBefore = await RedisProbe.ScriptCallsAsync(redis);
        var publisher = Task.Run(async () =>
        {
            for (var n = Missed + 1; n <= Missed + Live; n++)
            {
                await cluster[0].PublishAsync(Room, n);
                await Task.Delay(3);
            }
        });
        var clients = Enumerable.Range(0, Clients).Select(async i =>
        {
            await Task.Delay(i * 2);
            await using var client = await cluster[1].ConnectAsync();
            var reply = await client.RequestAsync("subscribe", $"\"room\":\"{Room}\"," + options(start));
            for (var expected = check(start, reply); expected <= start.Offset + Missed + Live; expected++)
            {
                var evt = await client.ReceiveEventAsync();
                Assert.Equal(expected, evt.GetProperty("offsets").GetProperty(Room).GetInt64());
                Assert.Equal(expected - start.Offset, evt.GetProperty("data").GetProperty("n").GetInt64());
            }
            await client.AssertNothingAsync(TimeSpan.FromMilliseconds(50));
        });
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));
        await publisher;

        // Each publish is one script call; subscribes add few, not one history read each.
        var subscribeScripts = await RedisProbe.ScriptCallsAsync(redis) - scriptsBefore - Live;
        Assert.True(subscribeScripts < Clients / 3, $"{subscribeScripts} script calls for {Clients} subscribes");
    }
}
