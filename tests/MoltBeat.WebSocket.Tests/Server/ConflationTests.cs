using System.Diagnostics;
using System.Text.Json;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>
/// Conflation (protocol 1.1): events published with a <c>key</c>; a subscription's <c>maxRate</c> receives the newest event of
/// each room, event name and key at most that often, marked with how many it replaced; unkeyed events are never dropped.
/// </summary>
public sealed class ConflationTests
{
    private static string Room() => $"conf:{Guid.NewGuid():N}";

    private static int N(JsonElement evt) => evt.GetProperty("data").GetProperty("n").GetInt32();

    private static string? Key(JsonElement evt) => evt.TryGetProperty("key", out var k) ? k.GetString() : null;

    private static int Conflated(JsonElement evt) => evt.TryGetProperty("conflated", out var c) ? c.GetInt32() : 0;

    private static long Offset(JsonElement evt, string room) => evt.GetProperty("offsets").GetProperty(room).GetInt64();

    private static Task<JsonElement> SubscribeAsync(RawClient client, string room, string options) =>
        client.RequestAsync("subscribe", $"\"room\":\"{room}\",{options}");

    private static Task<MoltBeat.WebSocket.Engine.PublishedEvent> PublishAsync(TestServer server, string room, int n, string? key, string name = "metrics:updated") =>
        server.Server.PublishAsync(new EventToPublish(room, name, new { n }) { Key = key });

    /// <summary>Receives events until <paramref name="done"/> holds for what came; fails after 10 s.</summary>
    private static async Task<List<JsonElement>> ReceiveEventsUntilAsync(RawClient client, Func<List<JsonElement>, bool> done)
    {
        var events = new List<JsonElement>();
        var deadline = Stopwatch.StartNew();
        while (!done(events))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), $"only {events.Count} events came: {string.Join(" ", events.Select(e => $"{Key(e)}={N(e)}"))}");
            events.Add(await client.ReceiveEventAsync());
        }
        return events;
    }

    [Fact]
    public async Task An_event_published_with_a_key_carries_it_and_one_without_has_none()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var client = await server.ConnectAsync();
        await client.SubscribeAsync(room);

        await PublishAsync(server, room, 1, "cpu");
        await PublishAsync(server, room, 2, null);

        var keyed = await client.ReceiveEventAsync();
        var unkeyed = await client.ReceiveEventAsync();
        Assert.Equal("cpu", Key(keyed));
        Assert.Null(Key(unkeyed));
        Assert.False(keyed.TryGetProperty("conflated", out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("k12345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678")]
    public async Task A_key_that_is_empty_or_too_long_is_refused_and_nothing_is_published(string key)
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var client = await server.ConnectAsync();
        await client.SubscribeAsync(room);

        var refused = await Assert.ThrowsAsync<ArgumentException>(() => PublishAsync(server, room, 1, key));

        Assert.Contains("conflation key", refused.Message, StringComparison.Ordinal);
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_maxRate_subscriber_gets_the_newest_value_of_every_key_and_every_unkeyed_event_while_others_get_everything()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var limited = await server.ConnectAsync();
        await using var full = await server.ConnectAsync();
        await SubscribeAsync(limited, room, "\"maxRate\":2");
        await full.SubscribeAsync(room);

        // 5 keys, 20 values each, and an unkeyed event every 10th: far faster than 2 a second.
        const int count = 110;
        var newest = new Dictionary<string, int>();
        for (var n = 1; n <= count; n++)
        {
            var key = n % 10 == 0 ? null : $"k{n % 5}";
            await PublishAsync(server, room, n, key);
            if (key is not null)
                newest[key] = n;
        }

        var all = await ReceiveEventsUntilAsync(full, e => e.Count == count);
        Assert.Equal(Enumerable.Range(1, count), all.Select(N));
        Assert.All(all, e => Assert.Equal(0, Conflated(e)));
        var got = await ReceiveEventsUntilAsync(limited, e => newest.All(k => e.Any(x => Key(x) == k.Key && N(x) == k.Value)) && e.Count(x => Key(x) is null) == 11);
        // Offsets only increase, and the offsets skipped are exactly the events conflated away.
        var offsets = got.Select(e => Offset(e, room)).ToList();
        Assert.Equal(offsets.Order(), offsets);
        Assert.Equal(count, got.Sum(e => 1 + Conflated(e)));
        Assert.True(got.Count < count / 2, $"{got.Count} of {count} events reached the maxRate subscriber");
        Assert.Contains(got, e => Conflated(e) > 0);
        await limited.AssertNothingAsync(TimeSpan.FromMilliseconds(700));
    }

    [Fact]
    public async Task A_maxRate_subscriber_receives_each_key_at_most_that_often()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var client = await server.ConnectAsync();
        await SubscribeAsync(client, room, "\"maxRate\":4");

        // One key, a value every few ms for 1.5 s.
        var publishing = Stopwatch.StartNew();
        var last = 0;
        while (publishing.Elapsed < TimeSpan.FromSeconds(1.5))
        {
            await PublishAsync(server, room, ++last, "cpu");
            await Task.Delay(2);
        }
        var published = publishing.Elapsed;
        var got = await ReceiveEventsUntilAsync(client, e => e.Any(x => N(x) == last));

        // At 4 a second: the first at once, then one per 250 ms (the last may follow the publishing by up to 250 ms).
        var most = 2 + (int)(published.TotalSeconds * 4);
        Assert.InRange(got.Count, 2, most);
        Assert.Equal(last, got.Sum(e => 1 + Conflated(e)));
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(400));
    }

    [Fact]
    public async Task An_event_reaching_a_connection_through_a_throttled_and_an_unthrottled_room_goes_at_once_and_once()
    {
        await using var server = await TestServer.StartAsync();
        var parent = Room();
        var child = parent + ":child";
        await using var client = await server.ConnectAsync();
        await SubscribeAsync(client, parent, "\"maxRate\":0.5");
        await client.SubscribeAsync(child);

        await PublishAsync(server, parent, 1, "k");  // the throttle's first release: at once
        await PublishAsync(server, parent, 2, "k");  // waits two seconds
        await PublishAsync(server, child, 3, "k");   // reaches the connection through both rooms

        Assert.Equal(1, N(await client.ReceiveEventAsync()));
        var second = await client.ReceiveEventAsync(TimeSpan.FromMilliseconds(1000));
        Assert.Equal(3, N(second));
        // Event 2 still comes with the parent's release; event 3 is not sent again.
        var third = await client.ReceiveEventAsync(TimeSpan.FromSeconds(4));
        Assert.Equal(2, N(third));
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(2500));
    }

    [Fact]
    public async Task A_replay_on_a_maxRate_subscription_is_conflated_and_the_reply_counts_what_follows()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        for (var n = 1; n <= 10; n++)
            await PublishAsync(server, room, n, n % 2 == 0 ? "even" : "odd");
        await PublishAsync(server, room, 11, null);
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, room, "\"last\":11,\"maxRate\":1");

        Assert.Equal(3, reply.GetProperty("replay").GetInt32());
        var replayed = new[] { await client.ReceiveEventAsync(), await client.ReceiveEventAsync(), await client.ReceiveEventAsync() };
        Assert.Equal(new[] { 9, 10, 11 }, replayed.Select(N));
        Assert.Equal(new[] { 4, 4, 0 }, replayed.Select(Conflated));
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Unsubscribing_from_a_throttled_room_sends_what_waited_before_the_reply_and_nothing_after()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var client = await server.ConnectAsync();
        await SubscribeAsync(client, room, "\"maxRate\":0.2");
        await PublishAsync(server, room, 1, "k");
        await PublishAsync(server, room, 2, "k");
        Assert.Equal(1, N(await client.ReceiveEventAsync()));

        await client.SendAsync($"{{\"type\":\"unsubscribe\",\"room\":\"{room}\",\"id\":99}}");

        var waited = await client.ReceiveAsync();
        Assert.Equal(2, N(waited));
        Assert.Equal("unsubscribed", (await client.ReceiveAsync()).GetProperty("type").GetString());
        await PublishAsync(server, room, 3, "k");
        await client.AssertNothingAsync(TimeSpan.FromMilliseconds(300));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("1001")]
    [InlineData("1e400")]
    [InlineData("\"10\"")]
    [InlineData("null")]
    [InlineData("true")]
    public async Task A_maxRate_that_is_not_a_positive_number_up_to_1000_is_a_bad_request_and_the_connection_stays(string maxRate)
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, room, $"\"maxRate\":{maxRate}");

        Assert.Equal("error", reply.GetProperty("type").GetString());
        Assert.Equal("bad_request", reply.GetProperty("code").GetString());
        Assert.Contains("maxRate", reply.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("subscribed", (await SubscribeAsync(client, room, "\"maxRate\":10")).GetProperty("type").GetString());
    }

    [Fact]
    public async Task Conflated_events_are_counted_in_the_stats()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var client = await server.ConnectAsync();
        await SubscribeAsync(client, room, "\"maxRate\":1");
        for (var n = 1; n <= 5; n++)
            await PublishAsync(server, room, n, "k");

        var got = await ReceiveEventsUntilAsync(client, e => e.Any(x => N(x) == 5));

        Assert.Equal(5 - got.Count, server.Server.GetStats().Recovery.ConflatedEvents);
    }

    [Fact]
    public async Task A_reader_that_lags_on_keyed_events_is_not_cut_off_and_gets_the_newest_of_each_key()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            // As in the slow-consumer test: unkeyed, this much traffic to a stalled client ends in 4009.
            o.MaxQueuedBytes = 1024 * 1024;
            o.MaxQueuedMessages = 10_000;
        });
        var room = Room();
        using var stalled = await StalledSocket.ConnectAsync(server.WsUri());
        await stalled.SendTextAsync($"{{\"type\":\"subscribe\",\"room\":\"{room}\"}}");
        await stalled.ReadMessagesAsync(2, TimeSpan.FromSeconds(10)); // connected, subscribed

        // About 8 MB over 20 keys while the client reads nothing: more than the kernel buffers and the bound.
        const int total = 8000;
        var pad = new string('x', 1000);
        for (var n = 1; n <= total; n++)
        {
            await server.Server.PublishAsync(new EventToPublish(room, "metrics:updated", new { n, pad }) { Key = $"m{n % 20}" });
            if (n % 200 == 0)
                await Task.Delay(5);
        }
        var newest = Enumerable.Range(total - 19, 20).Select(n => $"\"n\":{n},").ToList();

        var messages = await stalled.ReadMessagesUntilAsync(m => newest.All(n => m.Any(x => x.Contains(n, StringComparison.Ordinal))), TimeSpan.FromSeconds(30));

        Assert.Equal(0, server.Server.GetStats().Recovery.SlowConsumerDisconnects);
        Assert.True(server.Server.GetStats().Recovery.ConflatedEvents > 0);
        var events = messages.Select(m => JsonDocument.Parse(m).RootElement).ToList();
        var offsets = events.Select(e => Offset(e, room)).ToList();
        Assert.Equal(offsets.Order(), offsets);
        Assert.Equal(total, events.Sum(e => 1 + Conflated(e)));
    }

    [Fact]
    public async Task A_subscription_with_occupancy_gets_the_count_after_subscribed_then_each_change_and_none_after_it_leaves()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var watcher = await server.ConnectAsync();
        var reply = await SubscribeAsync(watcher, room, "\"occupancy\":true");
        Assert.Equal("subscribed", reply.GetProperty("type").GetString());

        var first = await watcher.ReceiveAsync();
        Assert.Equal("occupancy", first.GetProperty("type").GetString());
        Assert.Equal(room, first.GetProperty("room").GetString());
        Assert.Equal(1, first.GetProperty("subscribers").GetInt64());
        await using var other = await server.ConnectAsync();
        await other.SubscribeAsync(room);
        var second = await watcher.ReceiveAsync(TimeSpan.FromSeconds(3));
        Assert.Equal(2, second.GetProperty("subscribers").GetInt64());

        Assert.Equal("unsubscribed", (await watcher.RequestAsync("unsubscribe", $"\"room\":\"{room}\"")).GetProperty("type").GetString());
        await other.DisposeAsync();
        await watcher.AssertNothingAsync(TimeSpan.FromMilliseconds(2200));
    }

    [Fact]
    public async Task Subscribers_coming_and_going_quickly_send_at_most_one_occupancy_message_a_second()
    {
        await using var server = await TestServer.StartAsync();
        var room = Room();
        await using var watcher = await server.ConnectAsync();
        await SubscribeAsync(watcher, room, "\"occupancy\":true");
        await using var flapper = await server.ConnectAsync();
        var flapping = Stopwatch.StartNew();
        for (var i = 0; i < 40; i++)
        {
            await flapper.SubscribeAsync(room);
            Assert.Equal("unsubscribed", (await flapper.RequestAsync("unsubscribe", $"\"room\":\"{room}\"")).GetProperty("type").GetString());
            await Task.Delay(50);
        }
        await flapper.SubscribeAsync(room); // ends with two subscribers
        var flapped = flapping.Elapsed;

        // Every message until the watcher has heard nothing for 1.5 s (the throttle sends the last change within a
        // second). A sample taken while the flapper was subscribed says 2 too, so the first 2 is not the end.
        var counts = new List<long>();
        for (var listening = Stopwatch.StartNew(); listening.Elapsed < TimeSpan.FromSeconds(30);)
        {
            try
            {
                counts.Add((await watcher.ReceiveAsync(TimeSpan.FromMilliseconds(1500))).GetProperty("subscribers").GetInt64());
            }
            catch (TimeoutException)
            {
                break;
            }
        }

        // The first right after subscribed, then at most one per second of flapping (and one after it), ending at 2.
        Assert.Equal(2, counts[^1]);
        Assert.InRange(counts.Count, 2, 2 + (int)Math.Ceiling(flapped.TotalSeconds));
    }

    [Theory]
    [InlineData("\"yes\"")]
    [InlineData("1")]
    [InlineData("null")]
    public async Task An_occupancy_that_is_not_a_boolean_is_a_bad_request(string occupancy)
    {
        await using var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync();

        var reply = await SubscribeAsync(client, Room(), $"\"occupancy\":{occupancy}");

        Assert.Equal("bad_request", reply.GetProperty("code").GetString());
        Assert.Contains("occupancy", reply.GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
