using System.Text;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Tests.Specifications;

/// <summary>
/// What every engine must do (the contract on <see cref="IMoltBeatEngine"/>), as one suite each engine runs:
/// derive a test class that says how to create the engine (the in-memory engine in MoltBeat.WebSocket.Tests,
/// the Redis engine on a real <c>redis-server</c> in MoltBeat.WebSocket.Redis.Tests). Offsets, delivery
/// order, recovery, epochs, history bounds, multi-room events, broadcasts, and subscribes that meet
/// concurrent publishes with no gap and no duplicate.
/// </summary>
/// <remarks>Compiled into both test projects (a linked file), so that a new engine gets the whole suite by deriving one class.</remarks>
public abstract class EngineSpecification
{
    /// <summary>Generous for a loaded machine; a passing run takes milliseconds.</summary>
    protected static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    /// <summary>A started engine of the kind under test, keeping <paramref name="history"/>, with its own rooms (no state shared with other tests).</summary>
    protected abstract Task<IMoltBeatEngine> CreateEngineAsync(HistoryOptions history);

    /// <summary>
    /// An engine of the kind under test (not started) whose idempotency window the test can pass, and how to pass it: a
    /// fake clock advanced past <see cref="ProtocolLimits.IdempotencyWindow"/> for an engine in this process, a short
    /// configured window waited out for one that keeps time elsewhere (Redis).
    /// </summary>
    protected abstract Task<(IMoltBeatEngine Engine, Func<Task> PassIdempotencyWindow)> CreateEngineWithPassableIdempotencyWindowAsync();

    private static string UniqueRoom(string parent) => $"{parent}:{Guid.NewGuid():N}";

    private static string UniqueKey() => $"key-{Guid.NewGuid():N}";

    private static PublishRequest Request(string room, int n, string idempotencyKey) => Request(room, n) with { IdempotencyKey = idempotencyKey };

    private static PublishRequest Request(string room, int n)
    {
        var delivery = new List<string>();
        for (var at = room.Length; at > 0; at = room.LastIndexOf(':', at - 1))
            delivery.Add(room[..at]);
        delivery.Add("all");
        return new PublishRequest([room], [.. delivery], "spec", Encoding.UTF8.GetBytes($"{{\"n\":{n}}}"), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    private async Task<(IMoltBeatEngine Engine, RecordingSink Sink)> StartAsync(HistoryOptions? history = null)
    {
        var engine = await CreateEngineAsync(history ?? new HistoryOptions());
        var sink = new RecordingSink();
        await engine.StartAsync(sink, CancellationToken.None).WaitAsync(Limit);
        return (engine, sink);
    }

    private static Task<RecoveryResult> SubscribeAsync(IMoltBeatEngine engine, string room, StreamPosition? since) =>
        SubscribeAsync(engine, room, ReplayRequest.From(since));

    private static async Task<RecoveryResult> SubscribeAsync(IMoltBeatEngine engine, string room, ReplayRequest replay)
    {
        RecoveryResult? result = null;
        await engine.SubscribeAsync(room, replay, r => result = r, CancellationToken.None).AsTask().WaitAsync(Limit);
        return result ?? throw new InvalidOperationException("SubscribeAsync completed without attaching");
    }

    /// <summary>
    /// Publishes and waits until this node's sink has the event: a position read by a subscribe is this node's,
    /// so an engine that delivers through another process (Redis) reports it once the event got here.
    /// </summary>
    private static async Task<PublishedEvent> PublishAsync(IMoltBeatEngine engine, RecordingSink sink, string room, int n)
    {
        var published = await engine.PublishAsync(Request(room, n), CancellationToken.None).AsTask().WaitAsync(Limit);
        await sink.WaitForAsync(published);
        return published;
    }

    private static int N(PublishedEvent e) => System.Text.Json.JsonDocument.Parse(e.Frame).RootElement.GetProperty("data").GetProperty("n").GetInt32();

    [Fact]
    public async Task A_rooms_subscribers_on_this_node_are_counted_as_its_sink_tells_them()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        Assert.Equal(0, await engine.GetSubscribersAsync(room, CancellationToken.None).AsTask().WaitAsync(Limit));

        var first = sink.NewSubscriber(room);
        await engine.SubscribeAsync(room, ReplayRequest.None, first.Attach, CancellationToken.None).AsTask().WaitAsync(Limit);
        var second = sink.NewSubscriber(room);
        await engine.SubscribeAsync(room, ReplayRequest.None, second.Attach, CancellationToken.None).AsTask().WaitAsync(Limit);

        Assert.Equal(2, await engine.GetSubscribersAsync(room, CancellationToken.None).AsTask().WaitAsync(Limit));
        Assert.Equal(0, await engine.GetSubscribersAsync(UniqueRoom("spec"), CancellationToken.None).AsTask().WaitAsync(Limit));
    }

    [Fact]
    public async Task Offsets_count_up_by_one_per_room_from_the_position_a_subscribe_reports()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var start = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;

        var first = await PublishAsync(engine, sink, room, 1);
        var second = await PublishAsync(engine, sink, room, 2);

        Assert.Equal(start.Offset + 1, first.OffsetIn(room));
        Assert.Equal(start.Offset + 2, second.OffsetIn(room));
        Assert.True(second.Sequence > first.Sequence, "all counts every room event");
        Assert.Equal(new StreamPosition(start.Epoch, start.Offset + 2), (await SubscribeAsync(engine, room, ReplayRequest.None)).Position);
    }

    [Fact]
    public async Task A_rooms_position_is_offset_0_before_any_event_then_its_last_offset_in_the_epoch_a_subscribe_reports()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var before = await engine.GetPositionAsync(room, CancellationToken.None).AsTask().WaitAsync(Limit);
        Assert.Equal(0, before.Offset);

        await PublishAsync(engine, sink, room, 1);
        var second = await PublishAsync(engine, sink, room, 2);

        var after = await engine.GetPositionAsync(room, CancellationToken.None).AsTask().WaitAsync(Limit);
        Assert.Equal(new StreamPosition(before.Epoch, second.OffsetIn(room)), after);
        Assert.Equal(after, (await SubscribeAsync(engine, room, ReplayRequest.None)).Position);
    }

    [Fact]
    public async Task Every_event_reaches_the_sink_once_in_publish_order()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");

        for (var n = 1; n <= 50; n++)
            await PublishAsync(engine, sink, room, n);

        await sink.WaitForAsync(room, 50);
        Assert.Equal(Enumerable.Range(1, 50), sink.For(room).Select(N));
    }

    /// <summary>A debounce the engine honours as given (the Redis engine raises it to three node heartbeats).</summary>
    protected virtual TimeSpan VacatedDebounce => TimeSpan.FromMilliseconds(300);

    /// <summary>Calls TakeVacated every 50 ms for <paramref name="during"/>; every room it handed out.</summary>
    private static async Task<List<string>> SweepAsync(IMoltBeatEngine engine, TimeSpan during)
    {
        var vacated = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var debounce = TimeSpan.FromMilliseconds(300);
        while (clock.Elapsed < during)
        {
            vacated.AddRange(await engine.TakeVacatedAsync(debounce, CancellationToken.None).AsTask().WaitAsync(Limit));
            await Task.Delay(50);
        }
        return vacated;
    }

    [Fact]
    public async Task A_room_is_marked_occupied_once_and_vacated_once_after_nobody_was_there_for_the_debounce()
    {
        var (engine, _) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");

        Assert.True(await engine.MarkOccupiedAsync(room, CancellationToken.None).AsTask().WaitAsync(Limit));
        Assert.False(await engine.MarkOccupiedAsync(room, CancellationToken.None).AsTask().WaitAsync(Limit));
        var vacated = await SweepAsync(engine, VacatedDebounce * 3);

        Assert.Equal([room], vacated.Where(r => r == room));
        Assert.True(await engine.MarkOccupiedAsync(room, CancellationToken.None).AsTask().WaitAsync(Limit));
    }

    [Fact]
    public async Task A_room_with_a_subscriber_is_not_vacated_and_a_return_within_the_debounce_cancels_the_vacating()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var watched = UniqueRoom("spec");
        var returning = UniqueRoom("spec");
        await engine.SubscribeAsync(watched, ReplayRequest.None, sink.NewSubscriber(watched).Attach, CancellationToken.None).AsTask().WaitAsync(Limit);
        await engine.MarkOccupiedAsync(watched, CancellationToken.None).AsTask().WaitAsync(Limit);
        await engine.MarkOccupiedAsync(returning, CancellationToken.None).AsTask().WaitAsync(Limit);

        // Nobody in `returning` for less than the debounce, then it is marked again (a dashboard reconnecting).
        var first = await SweepAsync(engine, VacatedDebounce / 2);
        Assert.False(await engine.MarkOccupiedAsync(returning, CancellationToken.None).AsTask().WaitAsync(Limit));
        await engine.SubscribeAsync(returning, ReplayRequest.None, sink.NewSubscriber(returning).Attach, CancellationToken.None).AsTask().WaitAsync(Limit);
        var later = await SweepAsync(engine, VacatedDebounce * 3);

        Assert.DoesNotContain(watched, first.Concat(later));
        Assert.DoesNotContain(returning, first.Concat(later));
    }

    [Fact]
    public async Task Presence_counts_every_subscriber_and_lists_users_with_their_connections()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        foreach (var user in new[] { "u1", "u1", "u2", null })
            await engine.SubscribeAsync(room, ReplayRequest.None, sink.NewSubscriber(room, user).Attach, CancellationToken.None).AsTask().WaitAsync(Limit);

        var presence = await engine.GetPresenceAsync(room, 10, CancellationToken.None).AsTask().WaitAsync(Limit);
        var bounded = await engine.GetPresenceAsync(room, 1, CancellationToken.None).AsTask().WaitAsync(Limit);

        Assert.Equal(4, presence.Subscribers);
        Assert.Equal([new UserPresence("u1", 2), new UserPresence("u2", 1)], presence.Users);
        Assert.Equal(4, bounded.Subscribers);
        Assert.Equal([new UserPresence("u1", 2)], bounded.Users);
    }

    [Fact]
    public async Task A_keyed_event_carries_its_key_live_and_in_the_history()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var keyed = await engine.PublishAsync(Request(room, 1) with { Key = "cpu \"main\"" }, CancellationToken.None).AsTask().WaitAsync(Limit);
        await sink.WaitForAsync(keyed);

        var history = await engine.ReadHistoryAsync(room, new ReplayRequest(null, 1), CancellationToken.None).AsTask().WaitAsync(Limit);

        foreach (var frame in new[] { keyed.Frame, history.Replay.Single().Frame })
        {
            var json = System.Text.Json.JsonDocument.Parse(frame).RootElement;
            Assert.Equal("cpu \"main\"", json.GetProperty("key").GetString());
            Assert.Equal(1, json.GetProperty("offsets").GetProperty(room).GetInt64());
        }
    }

    [Fact]
    public async Task An_event_for_a_child_room_is_recorded_in_the_child_its_parents_and_all_each_with_its_own_offset()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var parent = UniqueRoom("spec");
        var child = parent + ":child";
        var parentStart = (await SubscribeAsync(engine, parent, ReplayRequest.None)).Position;
        await PublishAsync(engine, sink, parent, 1);

        var published = await PublishAsync(engine, sink, child, 2);

        Assert.Equal(1, published.OffsetIn(child));
        Assert.Equal(parentStart.Offset + 2, published.OffsetIn(parent));
        Assert.Equal(published.Sequence, published.OffsetIn("all"));
        var parentReplay = await SubscribeAsync(engine, parent, parentStart);
        Assert.Equal([1, 2], parentReplay.Replay.Select(N));
    }

    [Fact]
    public async Task Subscribe_since_a_position_replays_exactly_what_came_after_it_in_order()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        await PublishAsync(engine, sink, room, 1);
        var seen = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;
        for (var n = 2; n <= 6; n++)
            await PublishAsync(engine, sink, room, n);

        var recovery = await SubscribeAsync(engine, room, seen);

        Assert.True(recovery.Recovered);
        Assert.Equal([2, 3, 4, 5, 6], recovery.Replay.Select(N));
        Assert.Equal(new StreamPosition(seen.Epoch, seen.Offset + 5), recovery.Position);
    }

    [Fact]
    public async Task Subscribe_since_the_current_position_recovers_nothing_missed()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        await PublishAsync(engine, sink, room, 1);
        var now = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;

        var recovery = await SubscribeAsync(engine, room, now);

        Assert.True(recovery.Recovered);
        Assert.Empty(recovery.Replay);
    }

    [Fact]
    public async Task Subscribe_since_another_epoch_answers_recovered_false_with_the_current_position_and_replays_nothing()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        await PublishAsync(engine, sink, room, 1);
        var current = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;

        var recovery = await SubscribeAsync(engine, room, new StreamPosition("not-an-epoch", 1));

        Assert.False(recovery.Recovered);
        Assert.Empty(recovery.Replay);
        Assert.Equal(current, recovery.Position);
    }

    [Fact]
    public async Task A_position_older_than_the_history_bound_answers_recovered_false_and_a_newer_one_recovers()
    {
        var (engine, sink) = await StartAsync(new HistoryOptions { MaxEventsPerRoom = 5 });
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var start = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;
        for (var n = 1; n <= 10; n++)
            await PublishAsync(engine, sink, room, n);

        var tooOld = await SubscribeAsync(engine, room, start with { Offset = start.Offset + 1 });
        var withinBound = await SubscribeAsync(engine, room, start with { Offset = start.Offset + 6 });

        Assert.False(tooOld.Recovered);
        Assert.Empty(tooOld.Replay);
        Assert.True(withinBound.Recovered);
        Assert.Equal([7, 8, 9, 10], withinBound.Replay.Select(N));
    }

    [Fact]
    public async Task A_broadcast_to_all_reaches_the_sink_and_is_kept_in_no_history()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var before = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;
        var frame = Encoding.UTF8.GetBytes("{\"type\":\"event\",\"event\":\"spec:all\",\"data\":{\"n\":0}}");

        await engine.BroadcastToAllAsync(new PublishedEvent(frame, null, null), CancellationToken.None);

        await sink.WaitForBroadcastAsync();
        Assert.Equal(before, (await SubscribeAsync(engine, room, ReplayRequest.None)).Position);
    }

    [Fact]
    public async Task A_control_reaches_the_sink_in_order_with_events_and_is_kept_in_no_history()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var user = $"u-{Guid.NewGuid():N}";
        var before = await PublishAsync(engine, sink, room, 1);

        await engine.PublishControlAsync(EngineControl.UnsubscribeUser(user, room, DateTimeOffset.UtcNow), CancellationToken.None).AsTask().WaitAsync(Limit);
        var after = await PublishAsync(engine, sink, room, 2);

        await sink.WaitForControlAsync(user);
        var control = sink.Controls.Single(c => c.Control.UserId == user);
        Assert.Equal(EngineControlKind.UnsubscribeUser, control.Control.Kind);
        Assert.Equal(room, control.Control.Room);
        Assert.Equal(before.Sequence, control.DeliveredBefore);
        // It took no offset and left nothing in the history: the two events follow each other there.
        var position = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;
        Assert.Equal(before.OffsetIn(room) + 1, after.OffsetIn(room));
        Assert.Equal(after.OffsetIn(room), position.Offset);
        var replay = await SubscribeAsync(engine, room, position with { Offset = before.OffsetIn(room) - 1 });
        Assert.Equal([1, 2], replay.Replay.Select(N));
    }

    [Fact]
    public async Task A_revocation_is_delivered_and_kept_with_its_time_and_a_later_one_replaces_it()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var user = $"u-{Guid.NewGuid():N}";
        var at = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.Null(await engine.GetRevocationAsync(user, CancellationToken.None));

        await engine.PublishControlAsync(EngineControl.RevokeUser(user, at), CancellationToken.None).AsTask().WaitAsync(Limit);

        await sink.WaitForControlAsync(user);
        Assert.Equal(EngineControlKind.RevokeUser, sink.Controls.Single(c => c.Control.UserId == user).Control.Kind);
        Assert.Equal(at, await engine.GetRevocationAsync(user, CancellationToken.None));
        await engine.PublishControlAsync(EngineControl.RevokeUser(user, at.AddSeconds(5)), CancellationToken.None).AsTask().WaitAsync(Limit);
        Assert.Equal(at.AddSeconds(5), await engine.GetRevocationAsync(user, CancellationToken.None));
        Assert.Null(await engine.GetRevocationAsync(user + "-other", CancellationToken.None));
    }

    [Fact]
    public async Task Subscribes_that_meet_concurrent_publishes_get_every_event_once_between_replay_and_live()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var start = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;
        const int Events = 300;

        var publishing = Task.Run(async () =>
        {
            for (var n = 1; n <= Events; n++)
                await engine.PublishAsync(Request(room, n), CancellationToken.None);
        });
        // Each subscriber attaches somewhere in the middle of the stream: what it replays and what the sink
        // hands it afterwards (the attach is atomic with delivery) must be exactly 1..Events, each once.
        var subscribers = new List<RecordingSink.Subscriber>();
        for (var i = 0; i < 10; i++)
        {
            var subscriber = sink.NewSubscriber(room);
            subscribers.Add(subscriber);
            await engine.SubscribeAsync(room, new ReplayRequest(start), subscriber.Attach, CancellationToken.None).AsTask().WaitAsync(Limit);
            await Task.Yield();
        }
        await publishing.WaitAsync(Limit);

        await sink.WaitForAsync(room, Events);
        foreach (var subscriber in subscribers)
        {
            await subscriber.WaitForAsync(Events);
            Assert.Equal(Enumerable.Range(1, Events), subscriber.Received.Select(N));
        }
    }

    [Fact]
    public async Task A_publish_repeating_an_idempotency_key_returns_the_first_events_offsets_marked_duplicate_and_publishes_nothing()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var start = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;
        var key = UniqueKey();
        var first = await engine.PublishAsync(Request(room, 1, key), CancellationToken.None).AsTask().WaitAsync(Limit);
        await sink.WaitForAsync(first);

        // The key alone identifies the publish: other data (and another room) still get the first event.
        var repeat = await engine.PublishAsync(Request(room, 2, key), CancellationToken.None).AsTask().WaitAsync(Limit);
        var elsewhere = await engine.PublishAsync(Request(UniqueRoom("other"), 3, key), CancellationToken.None).AsTask().WaitAsync(Limit);
        var marker = await PublishAsync(engine, sink, room, 4);

        Assert.False(first.Duplicate);
        foreach (var duplicate in new[] { repeat, elsewhere })
        {
            Assert.True(duplicate.Duplicate);
            Assert.Equal(first.DeliveryRooms, duplicate.DeliveryRooms);
            Assert.Equal(first.Offsets, duplicate.Offsets);
            Assert.Equal(first.Frame, duplicate.Frame);
        }
        Assert.False(marker.Duplicate);
        // No offset was taken, nothing recorded or delivered: the marker follows the first event everywhere.
        Assert.Equal(first.OffsetIn(room) + 1, marker.OffsetIn(room));
        Assert.Equal(first.Sequence + 1, marker.Sequence);
        Assert.Equal([1, 4], sink.For(room).Select(N));
        Assert.Equal(2, sink.For("all").Count);
        var replay = await SubscribeAsync(engine, room, start);
        Assert.Equal([1, 4], replay.Replay.Select(N));
    }

    [Fact]
    public async Task Different_idempotency_keys_are_different_publishes()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");

        var first = await engine.PublishAsync(Request(room, 1, UniqueKey()), CancellationToken.None).AsTask().WaitAsync(Limit);
        var second = await engine.PublishAsync(Request(room, 2, UniqueKey()), CancellationToken.None).AsTask().WaitAsync(Limit);

        Assert.False(first.Duplicate);
        Assert.False(second.Duplicate);
        Assert.Equal(first.OffsetIn(room) + 1, second.OffsetIn(room));
        await sink.WaitForAsync(room, 2);
        Assert.Equal([1, 2], sink.For(room).Select(N));
    }

    [Fact]
    public async Task The_same_idempotency_key_published_concurrently_is_published_exactly_once()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        var key = UniqueKey();

        var results = await Task.WhenAll(Enumerable.Range(1, 20).Select(n =>
            Task.Run(() => engine.PublishAsync(Request(room, n, key), CancellationToken.None).AsTask())));

        var published = Assert.Single(results, r => !r.Duplicate);
        Assert.All(results, r => Assert.Equal(published.Offsets, r.Offsets));
        Assert.All(results, r => Assert.Equal(published.Frame, r.Frame));
        var marker = await PublishAsync(engine, sink, room, 100);
        Assert.Equal(published.OffsetIn(room) + 1, marker.OffsetIn(room));
        Assert.Equal([N(published), 100], sink.For(room).Select(N));
    }

    [Fact]
    public async Task After_the_idempotency_window_the_same_key_publishes_again()
    {
        var (engine, passWindow) = await CreateEngineWithPassableIdempotencyWindowAsync();
        await using var _engine = engine;
        var sink = new RecordingSink();
        await engine.StartAsync(sink, CancellationToken.None).WaitAsync(Limit);
        var room = UniqueRoom("spec");
        var key = UniqueKey();
        var first = await engine.PublishAsync(Request(room, 1, key), CancellationToken.None).AsTask().WaitAsync(Limit);
        Assert.True((await engine.PublishAsync(Request(room, 2, key), CancellationToken.None).AsTask().WaitAsync(Limit)).Duplicate);

        await passWindow();
        var again = await engine.PublishAsync(Request(room, 3, key), CancellationToken.None).AsTask().WaitAsync(Limit);
        var repeatOfAgain = await engine.PublishAsync(Request(room, 4, key), CancellationToken.None).AsTask().WaitAsync(Limit);

        Assert.False(again.Duplicate);
        Assert.Equal(first.OffsetIn(room) + 1, again.OffsetIn(room));
        Assert.True(repeatOfAgain.Duplicate, "the new publish starts a new window");
        Assert.Equal(again.Offsets, repeatOfAgain.Offsets);
        await sink.WaitForAsync(again);
        Assert.Equal([1, 3], sink.For(room).Select(N));
    }

    [Fact]
    public async Task Subscribe_with_last_replays_the_most_recent_events_oldest_first()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        for (var n = 1; n <= 5; n++)
            await PublishAsync(engine, sink, room, n);

        var three = await SubscribeAsync(engine, room, new ReplayRequest(Last: 3));
        var more = await SubscribeAsync(engine, room, new ReplayRequest(Last: 50));

        Assert.Null(three.Recovered);
        Assert.Equal([3, 4, 5], three.Replay.Select(N));
        Assert.Equal([1, 2, 3, 4, 5], more.Replay.Select(N));
    }

    [Fact]
    public async Task Subscribe_with_last_on_a_room_without_history_replays_nothing()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var never = UniqueRoom("spec");
        var unkept = UniqueRoom("spec");
        var (noHistory, noHistorySink) = await StartAsync(new HistoryOptions { MaxEventsPerRoom = 0 });
        await using var _noHistory = noHistory;
        await PublishAsync(noHistory, noHistorySink, unkept, 1);

        var fresh = await SubscribeAsync(engine, never, new ReplayRequest(Last: 10));
        var notKept = await SubscribeAsync(noHistory, unkept, new ReplayRequest(Last: 10));

        Assert.Empty(fresh.Replay);
        Assert.Equal(0, fresh.Position.Offset);
        Assert.Empty(notKept.Replay);
        Assert.Equal(1, notKept.Position.Offset);
    }

    [Fact]
    public async Task Since_that_recovers_decides_the_replay_and_last_is_ignored()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        for (var n = 1; n <= 4; n++)
            await PublishAsync(engine, sink, room, n);
        var seen = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;
        await PublishAsync(engine, sink, room, 5);

        var recovery = await SubscribeAsync(engine, room, new ReplayRequest(seen, Last: 3));

        Assert.True(recovery.Recovered);
        Assert.Equal([5], recovery.Replay.Select(N));
    }

    [Fact]
    public async Task Since_that_cannot_recover_answers_recovered_false_and_last_still_applies()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        for (var n = 1; n <= 4; n++)
            await PublishAsync(engine, sink, room, n);

        var recovery = await SubscribeAsync(engine, room, new ReplayRequest(new StreamPosition("not-an-epoch", 2), Last: 2));

        Assert.False(recovery.Recovered);
        Assert.Equal([3, 4], recovery.Replay.Select(N));
    }

    [Fact]
    public async Task A_history_read_answers_as_a_subscribe_would_without_attaching()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        for (var n = 1; n <= 4; n++)
            await PublishAsync(engine, sink, room, n);
        var start = (await SubscribeAsync(engine, room, ReplayRequest.None)).Position;

        var last = await engine.ReadHistoryAsync(room, new ReplayRequest(Last: 2), CancellationToken.None).AsTask().WaitAsync(Limit);
        var after = await engine.ReadHistoryAsync(room, new ReplayRequest(start with { Offset = start.Offset - 3 }), CancellationToken.None).AsTask().WaitAsync(Limit);
        var foreign = await engine.ReadHistoryAsync(room, new ReplayRequest(new StreamPosition("not-an-epoch", 1)), CancellationToken.None).AsTask().WaitAsync(Limit);

        Assert.Equal(start, last.Position);
        Assert.Null(last.Recovered);
        Assert.Equal([3, 4], last.Replay.Select(N));
        Assert.True(after.Recovered);
        Assert.Equal([2, 3, 4], after.Replay.Select(N));
        Assert.False(foreign.Recovered);
        Assert.Empty(foreign.Replay);
        Assert.Equal(start, foreign.Position);
    }

    [Fact]
    public async Task Subscribes_with_last_that_meet_concurrent_publishes_continue_the_replay_with_no_gap_and_no_duplicate()
    {
        var (engine, sink) = await StartAsync();
        await using var _engine = engine;
        var room = UniqueRoom("spec");
        const int Events = 300, Last = 5;
        await PublishAsync(engine, sink, room, 1);

        var publishing = Task.Run(async () =>
        {
            for (var n = 2; n <= Events; n++)
                await engine.PublishAsync(Request(room, n), CancellationToken.None);
        });
        var subscribers = new List<RecordingSink.Subscriber>();
        for (var i = 0; i < 10; i++)
        {
            var subscriber = sink.NewSubscriber(room);
            subscribers.Add(subscriber);
            await engine.SubscribeAsync(room, new ReplayRequest(Last: Last), subscriber.Attach, CancellationToken.None).AsTask().WaitAsync(Limit);
            await Task.Yield();
        }
        await publishing.WaitAsync(Limit);

        await sink.WaitForAsync(room, Events);
        foreach (var subscriber in subscribers)
        {
            await subscriber.WaitUntilAsync(r => r.Count > 0 && N(r[^1]) == Events);
            var received = subscriber.Received.Select(N).ToList();
            // The last `Last` events before the attach (fewer only at the very start), then every live one.
            Assert.Equal(Enumerable.Range(received[0], Events - received[0] + 1), received);
            Assert.Equal(Math.Min(Last, received[0] + subscriber.Replayed - 1), subscriber.Replayed);
        }
    }

    /// <summary>The node's side of delivery as the server's hub is: what the engine hands it, and subscribers attached atomically with it.</summary>
    private sealed class RecordingSink : IEventSink
    {
        private readonly object _gate = new();
        private readonly List<PublishedEvent> _delivered = [];
        private readonly List<Subscriber> _subscribers = [];
        private readonly List<(EngineControl, long)> _controls = [];
        private int _broadcasts;

        public void Deliver(PublishedEvent published)
        {
            lock (_gate)
            {
                if (published.IsBroadcastToAll)
                {
                    _broadcasts++;
                    return;
                }
                _delivered.Add(published);
                foreach (var subscriber in _subscribers)
                {
                    if (subscriber.IsAttached && published.OffsetIn(subscriber.Room) > 0)
                        subscriber.Received.Add(published);
                }
            }
        }

        /// <summary>The controls received, each with the sequence of the last room event delivered before it.</summary>
        public List<(EngineControl Control, long DeliveredBefore)> Controls
        {
            get
            {
                lock (_gate)
                    return [.. _controls];
            }
        }

        public void Control(EngineControl control)
        {
            lock (_gate)
                _controls.Add((control, _delivered.Count == 0 ? 0 : _delivered[^1].Sequence));
        }

        public int Connections => 0;

        public int Subscribers(string room)
        {
            lock (_gate)
                return _subscribers.Count(s => s.IsAttached && s.Room == room);
        }

        public (IReadOnlyList<UserPresence> Users, int Anonymous) Presence(string room)
        {
            lock (_gate)
            {
                var here = _subscribers.Where(s => s.IsAttached && s.Room == room).ToList();
                return ([.. here.Where(s => s.UserId is not null).GroupBy(s => s.UserId!).Select(g => new UserPresence(g.Key, g.Count()))], here.Count(s => s.UserId is null));
            }
        }

        // Every room with subscribers, changed or not: a test sink need not track changes.
        public IReadOnlyCollection<string> TakeChangedRooms(bool all)
        {
            lock (_gate)
                return [.. _subscribers.Select(s => s.Room).Distinct()];
        }

        public Task WaitForControlAsync(string userId) => Until(() => Controls.Any(c => c.Control.UserId == userId), $"the control for {userId} at the sink");

        public Subscriber NewSubscriber(string room, string? userId = null)
        {
            var subscriber = new Subscriber(this, room) { UserId = userId };
            lock (_gate)
                _subscribers.Add(subscriber);
            return subscriber;
        }

        public List<PublishedEvent> For(string room)
        {
            lock (_gate)
                return [.. _delivered.Where(e => e.OffsetIn(room) > 0)];
        }

        public Task WaitForAsync(PublishedEvent published) => Until(() =>
        {
            lock (_gate)
                return _delivered.Any(e => e.Sequence == published.Sequence);
        }, $"event {published.Sequence} at the sink");

        public Task WaitForAsync(string room, int count) => Until(() => For(room).Count >= count, $"{count} events of {room} at the sink");

        public Task WaitForBroadcastAsync() => Until(() => Volatile.Read(ref _broadcasts) > 0, "the broadcast at the sink");

        private static async Task Until(Func<bool> condition, string what)
        {
            var deadline = DateTime.UtcNow + Limit;
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException("never got " + what);
                await Task.Delay(10);
            }
        }

        public sealed class Subscriber(RecordingSink sink, string room)
        {
            public string Room { get; } = room;

            public string? UserId { get; init; }

            public bool IsAttached { get; private set; }

            /// <summary>How many of <see cref="Received"/> came with the attach.</summary>
            public int Replayed { get; private set; }

            /// <summary>Replayed events first, then live ones (guarded by the sink's lock).</summary>
            public List<PublishedEvent> Received { get; } = [];

            public void Attach(RecoveryResult result)
            {
                lock (sink._gate)
                {
                    Assert.NotEqual(false, result.Recovered);
                    Replayed = result.Replay.Count;
                    Received.AddRange(result.Replay);
                    IsAttached = true;
                }
            }

            public Task WaitUntilAsync(Func<List<PublishedEvent>, bool> condition) => Until(() =>
            {
                lock (sink._gate)
                    return condition(Received);
            }, "a condition on a subscriber's events");

            public Task WaitForAsync(int count) => Until(() =>
            {
                lock (sink._gate)
                    return Received.Count >= count;
            }, $"{count} events for a subscriber");
        }
    }
}
